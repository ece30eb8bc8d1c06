"""The commands, one module per group; importing them registers them on ``app`` (``--help`` order).

``plan`` (validate, plan, show, apply) comes before ``state`` (drift, import, export, force-unlock);
``catalogs`` and ``fmt`` come after them; ``images``, ``catalog`` and ``emulator`` register on their own
sub-apps.
"""

from __future__ import annotations

from . import catalog, emulator, images, plan, state

# isort: split
# after state: `catalogs` comes last in --help
from . import catalogs

# isort: split
# after catalogs: `fmt`
from . import fmt

# isort: split
# after fmt: `consumers` (issue 11)
from . import consumers

__all__ = ["catalog", "catalogs", "consumers", "emulator", "fmt", "images", "plan", "state"]
