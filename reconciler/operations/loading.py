"""The desired-state file and its provider: check, parse and load it, open its catalog.

Layer: orchestration (``reconciler.operations``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import Diagnostic
from ..model import DesiredState
from ..providers import Provider, open_provider
from .environment import Environment

#: The desired-state file the commands read when none is named.
DEFAULT_FILE = "images.yaml"


@contextmanager
def read_path() -> Iterator[None]:
    """Python's cyclic GC paused while the read path builds long-lived, acyclic data (the desired
    state, the snapshot, the plan, its document), and what was built frozen afterwards.

    With the collector on, each collection rescans every container built so far: at 50,000 images
    that costs 1.2-1.4x per image (issue 13). Nothing the read path builds is cyclic, and what it
    builds lives until the command ends, so ``gc.freeze()`` moves it out of every later collection
    (an apply's). Nests; restores the previous state.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def check_desired(data: bytes, filename: str, env: Environment) -> tuple[DesiredState | None, list[Diagnostic]]:
    """Every problem of a desired-state file (``validate``): the state when there is no error."""
    from ..spec import check_spec

    with read_path():
        return check_spec(data, filename, defaults=env.catalog_defaults(), trusted_hosts=env.trusted_hosts())


def validate_desired(data: bytes | list[bytes], filename: str, env: Environment) -> tuple[int | None, list[Diagnostic]]:
    """``check_desired`` without building the state (``validate``): the number of images when
    there is no error (``spec.count_images``). ``data``: the bytes, or a list holding them, handed
    over (``spec.check_spec``)."""
    from ..spec import count_images

    with read_path():
        return count_images(data, filename, defaults=env.catalog_defaults(), trusted_hosts=env.trusted_hosts())


def parse_desired(data: bytes, filename: str, env: Environment) -> DesiredState:
    """The desired state of bytes already read; ``SpecError`` carries every problem."""
    from ..spec import parse_spec

    with read_path():
        return parse_spec(data, filename, defaults=env.catalog_defaults(), trusted_hosts=env.trusted_hosts())


def load_desired(path: Path, env: Environment, *, with_defaults: bool = True) -> DesiredState:
    """Read and parse the desired-state file at ``path``.

    ``with_defaults=False``: the catalog settings exactly as the file writes them (``export``).
    """
    from ..spec import load_spec

    defaults = env.catalog_defaults() if with_defaults else {}
    with read_path():
        return load_spec(path, defaults=defaults, trusted_hosts=env.trusted_hosts())


def open_catalog(desired: DesiredState, env: Environment) -> Provider:
    """The provider of ``desired``'s catalog; the environment supplies its credentials only."""
    return open_provider(desired.catalog, env=env.variables)
