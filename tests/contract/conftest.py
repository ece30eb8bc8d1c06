"""Provider contract suite: discovers ``harness_*.py`` here and runs every contract test against each.

A harness module exports ``NAME: str``, ``make(tmp_path, seed) -> AbstractContextManager[Provider]``
(a fresh catalog seeded with ``seed``, opened as catalog "platform") and optionally
``SKIP_REASON: str | None`` (for example: the emulator it needs is missing).

A provider that lives elsewhere (its own distribution, registered through the ``reconciler.providers``
entry point) runs this suite with its harness importable and named in ``RECONCILER_CONTRACT_HARNESSES``
(comma-separated modules): ``RECONCILER_CONTRACT_HARNESSES=harness_acme pytest tests/contract``
(docs/providers.md; tests/unit/test_provider_recipe.py does it for a toy provider).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reconciler.providers import Provider

from .seed import SEED

ProviderFactory = Callable[..., Provider]


def _load_harnesses() -> tuple[list[ModuleType], dict[str, str]]:
    """Every harness module, plus (name -> reason) for those that cannot even be imported.

    A harness whose optional dependency is not installed (``pip install '.[azure]'``) is skipped
    with the import error as the reason, so the other providers' contract still runs.
    """
    here = Path(__file__).parent
    modules, broken = [], {}
    for file in sorted(here.glob("harness_*.py")):
        try:
            modules.append(importlib.import_module(f"{__package__}.{file.stem}"))
        except ImportError as e:
            broken[file.stem.removeprefix("harness_")] = f"cannot import {file.name}: {e}"
    for name in filter(None, os.environ.get("RECONCILER_CONTRACT_HARNESSES", "").split(",")):
        modules.append(importlib.import_module(name.strip()))  # named on purpose: failing to import is an error
    return modules, broken


HARNESSES, BROKEN_HARNESSES = _load_harnesses()


def _params() -> list[Any]:
    out = []
    for h in HARNESSES:
        reason = getattr(h, "SKIP_REASON", None)
        marks = [pytest.mark.skip(reason=f"{h.NAME}: {reason}")] if reason else []
        out.append(pytest.param(h, id=h.NAME, marks=marks))
    for name, reason in BROKEN_HARNESSES.items():
        out.append(pytest.param(None, id=name, marks=[pytest.mark.skip(reason=reason)]))
    return out


@pytest.fixture(params=_params())
def provider_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProviderFactory]:
    """``factory(seed=SEED) -> Provider``: a fresh, seeded catalog of the harness under test.

    Each call makes a new catalog in its own folder; all are closed when the test ends.
    """
    harness = request.param
    made = 0

    with contextlib.ExitStack() as stack:

        def factory(seed: dict[str, Any] | None = None) -> Provider:
            nonlocal made
            made += 1
            folder = tmp_path / f"{harness.NAME}-{made}"
            folder.mkdir()
            seed_copy = copy.deepcopy(SEED if seed is None else seed)
            provider: Provider = stack.enter_context(harness.make(folder, seed_copy))
            return provider

        factory.harness = harness  # type: ignore[attr-defined]
        yield factory


@pytest.fixture
def public_images(provider_factory: ProviderFactory) -> None:
    """Skip, with the harness's reason, a test that needs public images the provider cannot list.

    A harness declares ``HAS_PUBLIC_IMAGES = False`` and ``NO_PUBLIC_REASON`` when its catalog has
    none (every harness here has some: azure's are community gallery images of the emulator).
    """
    harness = provider_factory.harness  # type: ignore[attr-defined]
    if not getattr(harness, "HAS_PUBLIC_IMAGES", True):
        pytest.skip(f"{harness.NAME}: {getattr(harness, 'NO_PUBLIC_REASON', 'no public images')}")


@pytest.fixture
def provider(provider_factory: ProviderFactory) -> Provider:
    """A provider on a fresh catalog seeded with ``tests/contract/seed.py``."""
    return provider_factory()
