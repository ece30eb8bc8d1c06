"""``catalog init``: where it seeds (``local_catalog_path``) and creating the catalog (``init_catalog``).

Layer: orchestration (``reconciler.operations``). The provider creates it through its ``SEEDING``
hook (``registry.Seeding``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ReconcilerError
from ..model import Snapshot
from ..providers import LockInfo, registry
from ..providers.registry import Seeding
from .environment import Environment
from .loading import DEFAULT_FILE, load_desired


def local_catalog_path(file: Path, env: Environment) -> Path:
    """Where ``catalog init`` seeds without ``--path``: the catalog ``file`` names, when it exists."""
    return _seed_target(file, env)[1]


def _seedable(provider: str) -> Seeding:
    """How ``catalog init`` creates a catalog of ``provider`` (the registry's ``Seeding``)."""
    seeding = registry.seeding(provider)
    if seeding is None:
        raise ReconcilerError(f"provider '{provider}' has no catalog that catalog init can create")
    return seeding


def _seed_target(file: Path, env: Environment) -> tuple[Seeding, Path]:
    """The seeding and target of ``catalog init`` without ``--path``: the default provider's default
    when ``file`` does not exist, else the setting ``file`` gives its (seedable) provider."""
    if not file.exists():
        seeding = _seedable(registry.DEFAULT_PROVIDER)
        return seeding, Path(seeding.default)
    desired = load_desired(file, env)
    found = registry.seeding(desired.catalog.provider)
    if found is None:
        seedable = [name for name in registry.names() if registry.seeding(name) is not None]
        raise ReconcilerError(
            f"catalog init seeds only the {' or '.join(seedable)} provider; {file} uses '{desired.catalog.provider}'",
            f"pass --path to create a {registry.DEFAULT_PROVIDER} catalog file",
        )
    settings = desired.catalog.effective_settings  # a relative path in the file: beside the file
    return found, Path(str(settings.get(found.setting, found.default)))


@dataclass(frozen=True)
class InitResult:
    """The catalog ``init_catalog`` created, and what it holds."""

    path: Path
    snapshot: Snapshot


def init_catalog(seed: Path, *, path: Path | None = None, file: Path = Path(DEFAULT_FILE),
                 env: Environment | None = None, force: bool = False, lock_timeout: float = 0.0) -> InitResult:
    """Create (``force``: recreate, under its lock) the embedded catalog from the seed file ``seed``.

    ``path`` defaults to ``local_catalog_path(file, env)``; an explicit one is a catalog of the
    default provider. The provider creates it through its ``SEEDING`` hook (``registry.Seeding``).
    """
    from ..files import read_input
    from ..seed import parse_seed

    env = env or Environment()
    snapshot = parse_seed(read_input(seed, "seed file", "pass a seed JSON file with --from"), str(seed))
    if path is None:
        seeding, path = _seed_target(file, env)
    else:
        seeding = _seedable(registry.DEFAULT_PROVIDER)
    seeding.create(path, snapshot, force=force, lock=LockInfo.new("catalog init", run_id=env.run_id),
                   lock_timeout=lock_timeout)
    return InitResult(path, snapshot)
