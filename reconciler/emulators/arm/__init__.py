"""The ARM emulator (see ``server.py``): ``ArmEmulator``, its ``Faults`` and ``serve`` for the CLI.

Layout: ``server.py`` (HTTP glue on the shared loopback base), ``backend.py`` (routing, auth,
api-version, pagination, long-running operations), ``crud.py`` (the table-driven list/get/delete of
every resource type), ``images.py``, ``vms.py``, ``gallery.py`` (the types with real behaviour),
``model.py`` (types and helpers), ``schema.py`` with ``spec/`` (the published specs as validators).
"""

from .model import API_VERSIONS
from .server import ArmEmulator, Faults, Recorded, serve

__all__ = ["API_VERSIONS", "ArmEmulator", "Faults", "Recorded", "serve"]
