"""What Azure says about a source VM beyond the provider-neutral ``VM`` fields (issue 10 §1).

Layer: edge (provider), pure. ``VmFacts`` travels in ``VM.facts``; the planner never reads it, the
azure provider's plan-time checks (managed images refuse Trusted Launch; a gallery definition must
match its source) and the family inference (a definition created from its first source) do.

Values are Azure's wire spellings: ``hyper_v_generation`` ``V1`` | ``V2`` (None: Azure did not
say), ``security_type`` ``Standard`` | ``TrustedLaunch`` | ``ConfidentialVM``, ``architecture``
``x64`` | ``Arm64``, ``disk_controller`` ``SCSI`` | ``NVMe``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VmFacts:
    hyper_v_generation: str | None = None
    security_type: str = "Standard"
    architecture: str = "x64"
    disk_controller: str = "SCSI"
    data_disk_luns: tuple[int, ...] = ()

    def document_fields(self) -> Mapping[str, Any]:
        return {}


__all__ = ["VmFacts"]
