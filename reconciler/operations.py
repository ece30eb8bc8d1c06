"""Operations: what each command does, as functions a Python user or a test calls without typer.

Layer: orchestration, between the command line and the core. It reads the desired-state file, the
saved plan and the seed (through ``files``), opens providers, takes the catalog lock and strings
``spec`` → ``plan`` → ``apply`` together; the rules it applies on the way (a saved plan is still
the plan, what ``import`` may adopt, what ``export`` writes, where ``catalog init`` seeds) live
here and only here. It never prints, prompts, reads ``os.environ`` or exits, and imports no
typer: the process environment arrives as an ``Environment``, progress goes to the hooks and
callbacks passed in, failures are ``ReconcilerError`` subclasses, and outcomes are returned as
data for the caller (``reconciler.cli``) to render.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .apply import ApplyHooks, apply_plan
from .errors import Diagnostic, PlanFileError, ReconcilerError, SpecError
from .model import (
    Action,
    ApplyResult,
    Capabilities,
    CatalogConfig,
    Category,
    Change,
    DesiredState,
    Image,
    Plan,
    Snapshot,
)
from .providers import LockHandle, LockInfo, Provider, open_provider, registry
from .providers.registry import Seeding

log = logging.getLogger("reconciler")

#: The desired-state file the commands read when none is named.
DEFAULT_FILE = "images.yaml"

# --------------------------------------------------------------------------------------------------
# The environment, as data


@dataclass(frozen=True)
class Environment:
    """The process environment as the operations see it: a mapping handed in, never ``os.environ``.

    ``variables`` is what the shell read (``reconciler.cli.env``); ``Environment()`` is an empty
    environment (no defaults, no trusted hosts, no credentials). The meaning of each variable is
    here, so that every command reads it the same way; the values are read when an operation
    needs them, so a malformed one fails only the commands that use it.
    """

    variables: Mapping[str, str] = field(default_factory=dict)

    def catalog_defaults(self) -> dict[str, Any]:
        """Catalog settings from the providers' own variables (each package's ``ENVIRONMENT``, for
        example azure's ``AZURE_SUBSCRIPTION_ID``) and ``RECONCILER_<SETTING>``, which wins.

        The settings are those the schema's ``catalog`` section names (but ``name``, which must be
        reviewed in the file, and ``provider``). A setting written in the file wins; these only fill
        the gaps, and only the settings the file's provider knows (``spec.check_spec``).
        """
        from .spec import load_schema

        schema = load_schema()
        catalog = schema["properties"]["catalog"]
        if "$ref" in catalog:  # "#/$defs/catalog"
            catalog = schema["$defs"][catalog["$ref"].rsplit("/", 1)[-1]]
        known = set(catalog.get("properties", {})) - {"name", "provider"}
        out: dict[str, Any] = {}
        for variable, setting in registry.environment_defaults():
            if self.variables.get(variable):
                out[setting] = self.variables[variable]
        for name in sorted(known):
            value = self.variables.get(f"RECONCILER_{name.upper()}")
            if value:
                out[name] = value
        return out

    def trusted_hosts(self) -> tuple[str, ...]:
        """``RECONCILER_TRUSTED_ENDPOINTS``: hosts besides the cloud's and loopback that may receive a
        credential. Only the environment (the CI's configuration) can name them, never the file."""
        from .providers.clouds import TRUSTED_ENV, parse_trusted_hosts

        return parse_trusted_hosts(self.variables.get(TRUSTED_ENV))

    @property
    def run_id(self) -> str:
        """The CI run that holds a lock (``GITHUB_RUN_ID``), shown to whoever finds it held."""
        return self.variables.get("GITHUB_RUN_ID", "")


# --------------------------------------------------------------------------------------------------
# The desired-state file, the provider, the lock


def check_desired(data: bytes, filename: str, env: Environment) -> tuple[DesiredState | None, list[Diagnostic]]:
    """Every problem of a desired-state file (``validate``): the state when there is no error."""
    from .spec import check_spec

    return check_spec(data, filename, defaults=env.catalog_defaults(), trusted_hosts=env.trusted_hosts())


def parse_desired(data: bytes, filename: str, env: Environment) -> DesiredState:
    """The desired state of bytes already read; ``SpecError`` carries every problem."""
    from .spec import parse_spec

    return parse_spec(data, filename, defaults=env.catalog_defaults(), trusted_hosts=env.trusted_hosts())


def load_desired(path: Path, env: Environment, *, with_defaults: bool = True) -> DesiredState:
    """Read and parse the desired-state file at ``path``.

    ``with_defaults=False``: the catalog settings exactly as the file writes them (``export``).
    """
    from .spec import load_spec

    defaults = env.catalog_defaults() if with_defaults else {}
    return load_spec(path, defaults=defaults, trusted_hosts=env.trusted_hosts())


def open_catalog(desired: DesiredState, env: Environment) -> Provider:
    """The provider of ``desired``'s catalog; the environment supplies its credentials only."""
    return open_provider(desired.catalog, env=env.variables)


def unlock_command(lock_id: str, file: Path) -> str:
    """The command that clears a lock left behind (quoted in every message about one)."""
    return f"reconciler force-unlock {lock_id} --file {file}"


#: The warning of ``--no-lock`` (``catalog_lock(lock=False)``).
NO_LOCK_WARNING = "--no-lock: running without the catalog lock; another apply may run at the same time"


@dataclass
class NoLock:
    """The handle of a run that took no lock (``--no-lock``): nothing to release, never lost."""

    info: LockInfo

    def release(self) -> None:
        return None

    def check(self) -> None:
        return None


@contextmanager
def catalog_lock(
    provider: Provider,
    command: str,
    timeout: float,
    *,
    file: Path,
    env: Environment,
    warn: Callable[[Diagnostic], None],
    lock: bool = True,
) -> Iterator[LockHandle]:
    """Hold the catalog lock for ``command``; ``file`` is the desired-state file (for force-unlock).

    ``lock=False`` (``--no-lock``, Terraform's ``-lock=false``): take no lock at all; the body gets
    a ``NoLock`` handle, and ``warn`` gets the warning that another apply may run at the same time.

    When the body fails, the lock is released and a release failure goes to ``warn``: it never
    hides the error that got us there. When the body succeeds, a release failure is an error
    naming the exact ``force-unlock`` command, raised after whatever the body reported.
    """
    info = LockInfo.new(command, run_id=env.run_id)
    if not lock:
        warn(Diagnostic.warning(NO_LOCK_WARNING))
        yield NoLock(info)
        return
    handle = provider.acquire_lock(info, timeout)
    log.debug("lock %s taken", info.id)
    try:
        yield handle
    except BaseException:
        try:
            handle.release()
        except ReconcilerError as e:
            warn(Diagnostic.warning(f"could not release the catalog lock {info.id}: {e}",
                                    f"if the lock is still held, clear it with: {unlock_command(info.id, file)}"))
        raise
    try:
        handle.release()
    except ReconcilerError as e:
        raise ReconcilerError(
            f"{command} finished, but the catalog lock {info.id} could not be released: {e.message}",
            f"{e.hint + '; ' if e.hint else ''}if the next apply still "
            f"finds it held, clear it with: {unlock_command(info.id, file)}",
        ) from e


# --------------------------------------------------------------------------------------------------
# plan, saved plans, apply


def make_plan(desired: DesiredState, provider: Provider, *, prune: bool | None = None,
              targets: Sequence[str] = (), replace: Sequence[str] = ()) -> Plan:
    """A fresh plan of ``desired`` against the live catalog (read once, now); ``replace``: the
    ``--replace`` names, recaptured even when nothing differs."""
    from .plan import make_plan as plan_changes

    return plan_changes(desired, provider.snapshot(), provider.capabilities, prune=prune, targets=targets,
                        replace=replace)


def read_plan(path: Path, data: bytes | None = None) -> Plan:
    """The saved plan at ``path`` (or in ``data``, its bytes already read), checked and sealed."""
    from .files import read_input
    from .planfile import load_plan

    if data is None:
        data = read_input(path, "plan file", "pass the file written by `reconciler plan --out`")
    return load_plan(data, str(path))


def verify_saved_plan(saved: Plan, desired: DesiredState, snapshot: Snapshot, capabilities: Capabilities,
                      filename: str) -> None:
    """A saved plan runs only if it is still the plan (docs/plan-format.md, "What applying a saved
    plan guarantees"): made for this catalog, not stale (the fast first answer), and equal to a
    fresh plan of the same desired-state file and live ``snapshot`` with its own prune/targets.

    Pure: ``snapshot`` and ``capabilities`` are the provider's, read under the lock by the caller.
    """
    from .plan import make_plan as plan_changes
    from .planfile import ensure_fresh, ensure_same_plan

    if saved.errored:
        raise ReconcilerError("the saved plan has errors and cannot be applied", "fix them and run plan again")
    if saved.catalog != desired.catalog.name or saved.provider != desired.catalog.provider:
        raise PlanFileError(
            f"{filename} was made for catalog '{saved.catalog}' ({saved.provider}), "
            f"not '{desired.catalog.name}' ({desired.catalog.provider})",
            "apply it with the desired-state file it was made from (--file)",
        )
    ensure_fresh(saved, snapshot, desired.digest)
    fresh = plan_changes(desired, snapshot, capabilities, prune=_replay_prune(saved), targets=saved.targets,
                        replace=saved.replace)
    ensure_same_plan(saved, fresh, filename)


def _replay_prune(saved: Plan) -> bool | None:
    """The ``prune`` that plans ``saved`` again. ``--no-prune`` removes nothing at all (retention
    included), so a saved plan that removes nothing (and kept nothing protected back) is replayed with
    removals off; one that does was planned with removals on: ``True`` when pruning, else the file's
    policy (retention only)."""
    if saved.prune:
        return True
    removes = any(c.action is Action.REMOVE for c in saved.changes) or any(
        w.code == "protected" for w in saved.warnings)
    return None if removes else False


@dataclass(frozen=True)
class ApplyRequest:
    """What ``apply ARG`` was given, told apart by content: a saved plan or a desired-state file.

    ``saved`` is the saved plan (None: plan ``desired`` afresh, with ``prune`` and ``targets``).
    ``desired_file`` is the desired-state file either way (the one ``force-unlock`` hints name).
    """

    desired: DesiredState
    desired_file: Path
    saved: Plan | None = None
    saved_file: Path | None = None
    prune: bool | None = None
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()


def read_apply_request(
    arg: Path,
    data: bytes,
    *,
    spec_file: Path,
    env: Environment,
    targets: Sequence[str] = (),
    prune: bool | None = None,
    replace: Sequence[str] = (),
) -> ApplyRequest:
    """Read ``apply``'s argument (``data``, the bytes of ``arg``) as a saved plan or a desired-state file.

    A plan is told by its content (a ``plan_file`` envelope), not its name: ``images.json`` is a
    desired-state file (JSON is YAML). A saved plan comes with ``spec_file``, the desired-state
    file it was made from, and refuses ``targets``, ``prune`` and ``replace``: it already decided those.
    """
    from .planfile import is_plan_document

    if not is_plan_document(data):
        return ApplyRequest(parse_desired(data, str(arg), env), arg, prune=prune, targets=tuple(targets),
                            replace=tuple(replace))
    if targets or prune is not None or replace:
        raise ReconcilerError(
            "--target, --replace and --prune cannot be used with a saved plan",
            "the saved plan already decided what to change: make a new plan with those options",
        )
    saved = read_plan(arg, data)
    return ApplyRequest(load_desired(spec_file, env), spec_file, saved=saved, saved_file=arg)


def plan_to_apply(request: ApplyRequest, provider: Provider) -> Plan:
    """The plan ``apply`` runs: the saved plan once verified under the lock, else a fresh one."""
    if request.saved is None:
        return make_plan(request.desired, provider, prune=request.prune, targets=request.targets,
                         replace=request.replace)
    verify_saved_plan(request.saved, request.desired, provider.snapshot(), provider.capabilities,
                      str(request.saved_file))
    return request.saved


def apply_changes(
    plan: Plan,
    provider: Provider,
    lock: LockHandle,
    *,
    hooks: ApplyHooks | None = None,
    parallelism: int = 10,
    continue_on_error: bool = False,
    stop_grace: float | None = None,
    on_stop: Callable[[list[Change]], None] | None = None,
    on_stopped: Callable[[], None] | None = None,
) -> ApplyResult:
    """Run ``plan`` under the held ``lock``: a lost lock fails the next change (``apply.apply_plan``)."""
    return apply_plan(
        plan,
        provider,
        hooks=hooks,
        parallelism=parallelism,
        continue_on_error=continue_on_error,
        still_locked=lock.check,
        stop_grace=stop_grace,
        on_stop=on_stop,
        on_stopped=on_stopped,
    )


def apply_saved(saved: Plan, desired: DesiredState, provider: Provider, lock: LockHandle, *, filename: str,
                hooks: ApplyHooks | None = None, parallelism: int = 10,
                continue_on_error: bool = False) -> ApplyResult:
    """Verify a saved plan against ``desired`` and the live catalog, then run exactly it."""
    verify_saved_plan(saved, desired, provider.snapshot(), provider.capabilities, filename)
    return apply_changes(saved, provider, lock, hooks=hooks, parallelism=parallelism,
                         continue_on_error=continue_on_error)


# --------------------------------------------------------------------------------------------------
# import


@dataclass(frozen=True)
class Adoption:
    """What ``import NAME...`` finds: the images to adopt, those already ours, the refusals.

    ``problems`` (unknown names, public images, images of another catalog) refuse the whole
    import: nothing is adopted while there is one. ``undeclared`` are the images to adopt that
    the desired-state file does not declare; with ``prune`` on, the next apply removes them.
    """

    owner: str
    todo: tuple[Image, ...] = ()
    already_owned: tuple[Image, ...] = ()
    problems: tuple[Diagnostic, ...] = ()
    undeclared: tuple[Image, ...] = ()
    prune: bool = False


def check_adoption(desired: DesiredState, snapshot: Snapshot, names: Sequence[str]) -> Adoption:
    """Which of ``names`` may be adopted into ``desired``'s catalog (pure: refusals are data)."""
    from .rules import adopt_refusal

    owner = desired.catalog.name
    live = snapshot.image_index()
    todo: list[Image] = []
    owned: list[Image] = []
    problems: list[Diagnostic] = []
    for name in names:
        image = live.get(name.casefold())
        refusal = adopt_refusal(image, owner) if image is not None else None
        if image is None:
            problems.append(Diagnostic.error(f"no image named '{name}' in the catalog", "check the name"))
        elif refusal is not None:
            problems.append(Diagnostic.error(refusal.summary, refusal.hint))
        elif image.owner == owner:
            owned.append(image)
        else:
            todo.append(image)
    declared = {s.key for s in desired.images}
    return Adoption(
        owner,
        tuple(todo),
        tuple(owned),
        tuple(problems),
        undeclared=tuple(i for i in todo if i.key not in declared),
        prune=desired.policy.prune,
    )


def adopt(provider: Provider, adoption: Adoption, *, on_adopted: Callable[[Image], None] | None = None) -> None:
    """Mark ``adoption.todo`` as owned, one by one (``on_adopted`` after each); refuse on any problem."""
    if adoption.problems:
        raise SpecError(list(adoption.problems))
    for image in adoption.todo:
        provider.adopt(image)
        if on_adopted is not None:
            on_adopted(image)


# --------------------------------------------------------------------------------------------------
# export


def owned_images(snapshot: Snapshot, owner: str, family: str | None = None) -> list[Image]:
    """The user images ``owner`` owns (of ``family`` only, when given), in key order."""
    owned = [
        i
        for i in snapshot.images
        if i.owner == owner and i.category is Category.USER and (family is None or (i.family or "") == family)
    ]
    return sorted(owned, key=lambda i: i.key)


@dataclass(frozen=True)
class Export:
    """A desired-state document for the owned live images. ``prune_dropped``: a one-family export
    whose ``policy.prune`` was turned off, so that applying it cannot prune every other family."""

    text: str
    images: tuple[Image, ...]
    prune_dropped: bool = False


def export_spec(desired: DesiredState, snapshot: Snapshot, *, as_written: CatalogConfig | None = None,
                family: str | None = None) -> Export:
    """The desired-state file of ``desired``'s owned images in ``snapshot`` (``export``).

    ``as_written``: the catalog section as the file writes it (``load_desired(..., with_defaults=
    False)``), so that values from the environment (subscription, ...) stay in the environment.
    """
    from .model import spec_from_image
    from .spec import dump_spec

    owned = owned_images(snapshot, desired.catalog.name, family)
    policy = desired.policy
    dropped = family is not None and policy.prune
    if dropped:
        policy = replace(policy, prune=False)
    text = dump_spec(as_written or desired.catalog, policy, [spec_from_image(i) for i in owned])
    return Export(text, tuple(owned), dropped)


# --------------------------------------------------------------------------------------------------
# catalog init


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
    from .files import read_input
    from .seed import parse_seed

    env = env or Environment()
    snapshot = parse_seed(read_input(seed, "seed file", "pass a seed JSON file with --from"), str(seed))
    if path is None:
        seeding, path = _seed_target(file, env)
    else:
        seeding = _seedable(registry.DEFAULT_PROVIDER)
    seeding.create(path, snapshot, force=force, lock=LockInfo.new("catalog init", run_id=env.run_id),
                   lock_timeout=lock_timeout)
    return InitResult(path, snapshot)


# --------------------------------------------------------------------------------------------------
# Many catalogs: plan DIR, catalogs DIR

#: The file names a directory argument is searched for (docs/github-actions.md, "Many catalogs").
CATALOG_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class CatalogFile:
    """A desired-state file found by ``find_catalogs``: its catalog's name and provider, read from
    the file as written (``name`` is None when the file cannot even be read as YAML)."""

    file: Path
    name: str | None
    provider: str


def _catalog_section(data: bytes) -> tuple[bool, dict[str, Any] | None]:
    """Is ``data`` a desired-state file (a top-level ``catalog`` key, not a saved plan), and its
    ``catalog`` mapping when it parses. Text that is not YAML counts when a line opens ``catalog:``,
    so that its errors are reported instead of the file being skipped."""
    import re

    import yaml

    from .planfile import is_plan_document

    if is_plan_document(data):
        return False, None
    try:
        doc = yaml.safe_load(data.decode("utf-8-sig", errors="replace"))
    except yaml.YAMLError:
        return re.search(rb"^catalog\s*:", data, re.MULTILINE) is not None, None
    if not isinstance(doc, dict) or "catalog" not in doc:
        return False, None
    return True, doc["catalog"] if isinstance(doc["catalog"], dict) else {}


def _candidates(directory: Path) -> list[Path]:
    """Files under ``directory`` with a catalog suffix, in path order; hidden entries are skipped."""
    out = []
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).parts
        if any(part.startswith(".") for part in rel) or "node_modules" in rel:
            continue
        if p.suffix.lower() in CATALOG_SUFFIXES and p.is_file():
            out.append(p)
    return out


def find_catalogs(paths: Sequence[Path]) -> list[CatalogFile]:
    """The desired-state files ``paths`` name: a file as given, a directory searched recursively for
    ``*.yaml``/``*.yml``/``*.json`` files with a top-level ``catalog`` key (saved plans and hidden
    directories excluded). Refuses a directory with none, and two files of the same catalog name
    (each would prune the other's images, and their PR comments would share a marker)."""
    from .files import read_input

    found: list[CatalogFile] = []
    seen: set[Path] = set()
    for arg in paths:
        if arg.is_dir():
            files = _candidates(arg)
            explicit = False
        else:
            files, explicit = [arg], True
        hits = 0
        for f in files:
            key = f.resolve()
            if key in seen:  # named twice (a file and its directory): planned once
                hits += 1
                continue
            data = read_input(f, "desired-state file")
            is_catalog, section = _catalog_section(data)
            if not is_catalog and not explicit:
                continue
            seen.add(key)
            hits += 1
            section = section or {}
            name = section.get("name") if isinstance(section.get("name"), str) else None
            provider = section.get("provider")
            found.append(CatalogFile(f, name, provider if isinstance(provider, str) else registry.DEFAULT_PROVIDER))
        if arg.is_dir() and not hits:
            raise ReconcilerError(
                f"{arg}: no desired-state file in this directory",
                f"a desired-state file is a {'/'.join('*' + s for s in CATALOG_SUFFIXES)} file with a top-level "
                "`catalog:` section; or pass the files themselves",
            )
    by_name: dict[str, list[Path]] = {}
    for c in found:
        if c.name is not None:
            by_name.setdefault(c.name, []).append(c.file)
    dupes = {n: fs for n, fs in by_name.items() if len(fs) > 1}
    if dupes:
        name, files = sorted(dupes.items())[0]
        raise ReconcilerError(
            f"catalog '{name}' is declared by {len(files)} files ({', '.join(map(str, files))})",
            "give every catalog its own name: the name marks the images it owns, so two files with one "
            "name would remove each other's images",
        )
    return found


@dataclass(frozen=True)
class CatalogPlan:
    """One catalog of ``plan_catalogs``: its plan, or the errors that kept it from being planned."""

    file: Path
    plan: Plan | None = None
    errors: tuple[Diagnostic, ...] = ()

    @property
    def errored(self) -> bool:
        return bool(self.errors) or (self.plan is not None and self.plan.errored)

    @property
    def has_changes(self) -> bool:
        return self.plan is not None and self.plan.has_changes


@dataclass(frozen=True)
class MultiPlan:
    """The plans of several catalogs (``plan DIR``), in the order the files were found."""

    catalogs: tuple[CatalogPlan, ...]

    @property
    def errored(self) -> bool:
        return any(c.errored for c in self.catalogs)

    @property
    def has_changes(self) -> bool:
        return any(c.has_changes for c in self.catalogs)

    def exit_code(self, detailed: bool) -> int:
        """The worst of the catalogs: 1 (an error) over 2 (changes, with ``detailed``) over 0."""
        if self.errored:
            return 1
        return 2 if detailed and self.has_changes else 0


def plan_catalogs(
    files: Sequence[CatalogFile],
    env: Environment,
    *,
    open_provider: Callable[[DesiredState], Provider] | None = None,
    prune: bool | None = None,
) -> MultiPlan:
    """Plan every file of ``files`` on its own; one that cannot be read, parsed or reached records its
    errors and the others are still planned. ``open_provider`` defaults to ``open_catalog``."""
    opener = open_provider or (lambda d: open_catalog(d, env))
    out: list[CatalogPlan] = []
    for c in files:
        try:
            desired = load_desired(c.file, env)
            provider = opener(desired)
            try:
                out.append(CatalogPlan(c.file, make_plan(desired, provider, prune=prune)))
            finally:
                provider.close()
        except ReconcilerError as e:
            out.append(CatalogPlan(c.file, errors=tuple(e.diagnostics())))
    return MultiPlan(tuple(out))


__all__ = [
    "CATALOG_SUFFIXES",
    "Adoption",
    "ApplyRequest",
    "CatalogFile",
    "CatalogPlan",
    "MultiPlan",
    "DEFAULT_FILE",
    "Environment",
    "Export",
    "InitResult",
    "NO_LOCK_WARNING",
    "NoLock",
    "adopt",
    "apply_changes",
    "apply_saved",
    "catalog_lock",
    "check_adoption",
    "check_desired",
    "export_spec",
    "find_catalogs",
    "init_catalog",
    "load_desired",
    "local_catalog_path",
    "make_plan",
    "open_catalog",
    "owned_images",
    "parse_desired",
    "plan_catalogs",
    "plan_to_apply",
    "read_apply_request",
    "read_plan",
    "unlock_command",
    "verify_saved_plan",
]
