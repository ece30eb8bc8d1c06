"""The classic Service Management emulator (see ``server.py``): ``ClassicEmulator`` and ``serve``.

Layout: ``server.py`` (HTTP glue on the shared loopback base: auth, versions, routing, TLS set-up),
``state.py`` (the state and its changes), ``operations.py`` (asynchronous operations and captures),
``faults.py`` (queued faults and the shared rates), ``wire.py`` (the XML), ``tls.py`` (certificates).
"""

from .faults import Faults
from .server import ClassicEmulator, RecordedRequest, serve, serve_forever
from .state import iter_roles, load_state
from .tls import TLSFiles

__all__ = [
    "ClassicEmulator", "Faults", "RecordedRequest", "TLSFiles", "iter_roles", "load_state", "serve", "serve_forever",
]
