"""The operations layer called directly, without typer: a Python user's view of every command.

Each test seeds a real local catalog (a SQLite file under ``tmp_path``) from the demo seed, with one
more image owned by another catalog, and passes the environment in as an ``Environment``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler import operations
from reconciler.errors import Diagnostic, PlanFileError, ProviderError, ReconcilerError, SpecError, StalePlanError
from reconciler.model import Action, Category, Outcome
from reconciler.operations import Environment
from reconciler.planfile import dump_plan
from reconciler.providers import LockInfo, Provider

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """images.yaml (the example) beside a seed of the demo catalog plus ``shared-tools`` of 'other'."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "images.yaml.example", tmp_path / "images.yaml")
    seed = json.loads((ROOT / "examples" / "demo-catalog.json").read_text())
    legacy = next(i for i in seed["images"] if i["name"] == "legacy-tools")
    seed["images"].append({**legacy, "name": "shared-tools", "owner": "other"})
    (tmp_path / "seed.json").write_text(json.dumps(seed))
    result = operations.init_catalog(tmp_path / "seed.json", file=tmp_path / "images.yaml")
    # A relative catalog.path is beside the desired-state file (named here by its absolute path).
    assert result.path == tmp_path / ".reconciler" / "catalog.db" and len(result.snapshot.images) == len(seed["images"])
    return tmp_path


@pytest.fixture
def desired(workdir: Path):
    return operations.load_desired(workdir / "images.yaml", Environment())


@pytest.fixture
def provider(desired) -> Iterator[Provider]:
    p = operations.open_catalog(desired, Environment())
    try:
        yield p
    finally:
        p.close()


# --------------------------------------------------------------------------------------------------
# The environment


def test_the_environment_fills_catalog_settings_the_schema_names_but_never_the_name() -> None:
    env = Environment({"RECONCILER_PATH": "other.db", "RECONCILER_NAME": "evil", "AZURE_SUBSCRIPTION_ID": "sub",
                       "RECONCILER_NOT_A_SETTING": "x", "GITHUB_RUN_ID": "42"})
    defaults = env.catalog_defaults()
    assert defaults["path"] == "other.db" and defaults["subscription"] == "sub"
    assert "name" not in defaults and "not_a_setting" not in defaults
    assert env.run_id == "42" and Environment().run_id == "" and Environment().catalog_defaults() == {}


def test_trusted_hosts_come_from_the_environment_and_a_malformed_list_is_an_error() -> None:
    assert Environment({"RECONCILER_TRUSTED_ENDPOINTS": "arm.corp.example"}).trusted_hosts() == ("arm.corp.example",)
    assert Environment().trusted_hosts() == ()
    with pytest.raises(ReconcilerError, match="RECONCILER_TRUSTED_ENDPOINTS"):
        Environment({"RECONCILER_TRUSTED_ENDPOINTS": "https://arm.corp.example/some/path"}).trusted_hosts()


def test_an_environment_default_fills_a_gap_and_the_file_wins(workdir: Path) -> None:
    env = Environment({"RECONCILER_PATH": "elsewhere.db"})
    assert operations.load_desired(workdir / "images.yaml", env).catalog.settings["path"] == ".reconciler/catalog.db"
    text = (workdir / "images.yaml").read_text().replace("  path: .reconciler/catalog.db", "")
    state, diags = operations.check_desired(text.encode(), "images.yaml", env)
    assert state is not None and state.catalog.settings["path"] == "elsewhere.db", diags


# --------------------------------------------------------------------------------------------------
# catalog init


def test_catalog_init_seeds_the_path_of_the_file_or_the_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert operations.local_catalog_path(tmp_path / "missing.yaml", Environment()) == Path(".reconciler/catalog.db")
    (tmp_path / "images.yaml").write_text("version: 1\ncatalog: {name: c, provider: local, path: x/c.db}\nimages: []\n")
    assert operations.local_catalog_path(tmp_path / "images.yaml", Environment()) == tmp_path / "x" / "c.db"
    assert operations.local_catalog_path(Path("images.yaml"), Environment()) == Path("x/c.db")
    result = operations.init_catalog(ROOT / "examples" / "demo-catalog.json", file=tmp_path / "images.yaml")
    assert result.path == tmp_path / "x" / "c.db" and (tmp_path / "x" / "c.db").is_file()
    with pytest.raises(ProviderError, match="already exists"):
        operations.init_catalog(ROOT / "examples" / "demo-catalog.json", file=tmp_path / "images.yaml")


def test_catalog_init_refuses_a_file_of_another_provider(tmp_path: Path) -> None:
    f = tmp_path / "images.yaml"
    f.write_text("version: 1\ncatalog: {name: c, provider: azure-classic, subscription: "
                 "00000000-0000-4000-8000-000000000001}\nimages: []\n")
    with pytest.raises(ReconcilerError, match="seeds only the local provider") as e:
        operations.local_catalog_path(f, Environment())
    assert e.value.hint == "pass --path to create a local catalog file"


# --------------------------------------------------------------------------------------------------
# plan, saved plans, apply


def test_make_plan_reads_the_live_catalog(desired, provider) -> None:
    plan = operations.make_plan(desired, provider)
    assert {c.name: c.action for c in plan.pending} == {
        "web-base-2026-11": Action.CAPTURE, "db-base-2026-10": Action.UPDATE, "web-base-2026-08": Action.REMOVE,
    }
    limited = operations.make_plan(desired, provider, prune=False, targets=["db-base-2026-10"])
    assert [c.name for c in limited.pending] == ["db-base-2026-10"] and limited.targets == ("db-base-2026-10",)


def test_a_saved_plan_passes_verification_while_it_is_still_the_plan(desired, provider) -> None:
    saved = operations.make_plan(desired, provider)
    operations.verify_saved_plan(saved, desired, provider.snapshot(), provider.capabilities, "p.json")


def test_a_saved_plan_for_another_catalog_is_refused(desired, provider) -> None:
    saved = replace(operations.make_plan(desired, provider), catalog="elsewhere")
    with pytest.raises(PlanFileError, match="was made for catalog 'elsewhere'"):
        operations.verify_saved_plan(saved, desired, provider.snapshot(), provider.capabilities, "p.json")


def test_a_saved_plan_is_stale_once_the_live_catalog_changed(desired, provider) -> None:
    saved = operations.make_plan(desired, provider)
    provider.remove(provider.snapshot().image_index()["web-base-2026-08"])  # by hand, after the plan
    with pytest.raises(StalePlanError, match="Saved plan is stale: image 'web-base-2026-08' was deleted"):
        operations.verify_saved_plan(saved, desired, provider.snapshot(), provider.capabilities, "p.json")


def test_a_saved_plan_that_is_not_what_a_fresh_plan_gives_is_refused(desired, provider) -> None:
    saved = operations.make_plan(desired, provider)
    dropped = replace(saved, changes=tuple(c for c in saved.changes if c.name != "web-base-2026-08"))
    with pytest.raises(PlanFileError, match="is not the plan the desired-state file and the live catalog give now"):
        operations.verify_saved_plan(dropped, desired, provider.snapshot(), provider.capabilities, "p.json")


def test_apply_tells_a_saved_plan_from_a_file_by_content(workdir: Path, desired, provider) -> None:
    env = Environment()
    data = (workdir / "images.yaml").read_bytes()
    fresh = operations.read_apply_request(workdir / "images.yaml", data, spec_file=Path("unused"), env=env,
                                          targets=["db-base-2026-10"], prune=False)
    assert fresh.saved is None and fresh.desired_file == workdir / "images.yaml" and fresh.prune is False
    assert fresh.targets == ("db-base-2026-10",)

    plan_bytes = dump_plan(operations.make_plan(desired, provider), created="2026-11-02T09:30:15Z")
    (workdir / "images.json").write_bytes(plan_bytes)  # the name says nothing: the content does
    saved = operations.read_apply_request(workdir / "images.json", plan_bytes, spec_file=workdir / "images.yaml",
                                          env=env)
    assert saved.saved is not None and saved.desired_file == workdir / "images.yaml"
    assert saved.saved_file == workdir / "images.json"
    with pytest.raises(ReconcilerError, match="--target, --replace and --prune cannot be used with a saved plan"):
        operations.read_apply_request(workdir / "images.json", plan_bytes, spec_file=workdir / "images.yaml",
                                      env=env, prune=True)


def test_apply_saved_runs_exactly_the_saved_plan_under_the_lock(workdir: Path, desired, provider) -> None:
    saved = operations.make_plan(desired, provider)
    with operations.catalog_lock(provider, "apply", 0, file=workdir / "images.yaml", env=Environment(),
                                 warn=pytest.fail) as lock:
        result = operations.apply_saved(saved, desired, provider, lock, filename="p.json")
    assert result.ok and {r.name for r in result.of(Outcome.DONE)} == {c.name for c in saved.pending}
    assert not operations.make_plan(desired, provider).has_changes
    # The lock was released: another command takes it at once.
    provider.acquire_lock(LockInfo.new("next"), 0).release()


def test_plan_to_apply_verifies_a_saved_plan_and_plans_a_file_afresh(workdir: Path, desired, provider) -> None:
    saved = operations.make_plan(desired, provider)
    request = operations.ApplyRequest(desired, workdir / "images.yaml", saved=saved, saved_file=Path("p.json"))
    assert operations.plan_to_apply(request, provider) is saved
    fresh = operations.plan_to_apply(operations.ApplyRequest(desired, workdir / "images.yaml", prune=False), provider)
    assert fresh.prune is False and "web-base-2026-08" not in {c.name for c in fresh.pending}


# --------------------------------------------------------------------------------------------------
# The lock


class _Unreleasable:
    """A lock whose release fails (a lost lease): the one thing a real backend cannot be made to do."""

    def __init__(self, info: LockInfo) -> None:
        self.info = info

    def release(self) -> None:
        raise ProviderError("the lease was lost", code="LeaseLost")


class _Backend:
    def __init__(self) -> None:
        self.infos: list[LockInfo] = []

    def acquire_lock(self, info: LockInfo, timeout: float) -> _Unreleasable:
        self.infos.append(info)
        return _Unreleasable(info)


def test_a_release_failure_after_success_is_an_error_naming_force_unlock() -> None:
    backend = _Backend()
    with pytest.raises(ReconcilerError) as e:
        with operations.catalog_lock(backend, "import", 0, file=Path("f.yaml"),  # type: ignore[arg-type]
                                     env=Environment({"GITHUB_RUN_ID": "7"}), warn=pytest.fail):
            pass
    lock_id = backend.infos[0].id
    assert backend.infos[0].run_id == "7" and backend.infos[0].command == "import"
    assert e.value.message == (
        f"import finished, but the catalog lock {lock_id} could not be released: the lease was lost"
    )
    assert e.value.hint.endswith(f"clear it with: reconciler force-unlock {lock_id} --file f.yaml")


def test_a_release_failure_after_an_error_is_a_warning_and_the_error_stays() -> None:
    backend = _Backend()
    warnings: list[Diagnostic] = []
    with pytest.raises(KeyError):
        with operations.catalog_lock(backend, "apply", 0, file=Path("f.yaml"),  # type: ignore[arg-type]
                                     env=Environment(), warn=warnings.append):
            raise KeyError("the body's own error")
    (w,) = warnings
    assert w.summary == f"could not release the catalog lock {backend.infos[0].id}: LeaseLost: the lease was lost"
    assert "reconciler force-unlock" in w.hint


# --------------------------------------------------------------------------------------------------
# import


def test_adoption_refusals_are_data_and_refuse_the_whole_import(desired, provider) -> None:
    names = ["legacy-tools", "Ubuntu-24_04-LTS", "shared-tools", "nope", "db-base-2026-10"]
    adoption = operations.check_adoption(desired, provider.snapshot(), names)
    assert [i.name for i in adoption.todo] == ["legacy-tools"]
    assert [i.name for i in adoption.already_owned] == ["db-base-2026-10"]
    assert [d.summary for d in adoption.problems] == [
        "'Ubuntu-24_04-LTS' is a public image",
        "'shared-tools' is owned by catalog 'other'",
        "no image named 'nope' in the catalog",
    ]
    assert [i.name for i in adoption.undeclared] == ["legacy-tools"] and adoption.prune
    with pytest.raises(SpecError) as e:
        operations.adopt(provider, adoption, on_adopted=pytest.fail)
    assert len(e.value.diagnostics()) == 3
    assert provider.snapshot().image_index()["legacy-tools"].owner is None  # nothing was adopted


def test_adopt_marks_the_images_owned_one_by_one(desired, provider) -> None:
    adoption = operations.check_adoption(desired, provider.snapshot(), ["LEGACY-TOOLS"])  # names: any case
    adopted: list[str] = []
    operations.adopt(provider, adoption, on_adopted=lambda i: adopted.append(i.name))
    assert adopted == ["legacy-tools"]
    assert provider.snapshot().image_index()["legacy-tools"].owner == "platform"
    again = operations.check_adoption(desired, provider.snapshot(), ["legacy-tools"])
    assert again.todo == () and [i.name for i in again.already_owned] == ["legacy-tools"]


# --------------------------------------------------------------------------------------------------
# export


def test_export_writes_the_owned_user_images_and_plans_empty(workdir: Path, desired, provider) -> None:
    snapshot = provider.snapshot()
    owned = operations.owned_images(snapshot, "platform")
    assert [i.name for i in owned] == ["db-base-2026-10", "web-base-2026-08", "win-base-2026-09"]
    assert all(i.category is Category.USER for i in owned)
    export = operations.export_spec(desired, snapshot)
    assert export.images == tuple(owned) and not export.prune_dropped
    exported = operations.parse_desired(export.text.encode(), "exported.yaml", Environment())
    assert exported.policy.prune and not operations.make_plan(exported, provider).has_changes


def test_a_one_family_export_is_written_without_prune(desired, provider) -> None:
    export = operations.export_spec(desired, provider.snapshot(), family="web-base")
    assert [i.name for i in export.images] == ["web-base-2026-08"] and export.prune_dropped
    assert "prune: false" in export.text


def test_export_keeps_environment_settings_in_the_environment(workdir: Path, provider) -> None:
    text = (workdir / "images.yaml").read_text().replace("  path: .reconciler/catalog.db", "")
    (workdir / "images.yaml").write_text(text)
    env = Environment({"RECONCILER_PATH": ".reconciler/catalog.db"})
    desired = operations.load_desired(workdir / "images.yaml", env)
    assert desired.catalog.settings["path"] == ".reconciler/catalog.db"
    as_written = operations.load_desired(workdir / "images.yaml", env, with_defaults=False).catalog
    export = operations.export_spec(desired, provider.snapshot(), as_written=as_written)
    assert "path:" not in export.text
