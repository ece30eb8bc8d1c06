"""The commands, one module per group; importing them registers them on ``app`` (``--help`` order).

``plan`` (validate, plan, show, apply) comes before ``state`` (drift, import, export, force-unlock);
``images``, ``catalog`` and ``emulator`` register on their own sub-apps.
"""

from __future__ import annotations

from . import catalog, emulator, images, plan, state

__all__ = ["catalog", "emulator", "images", "plan", "state"]
