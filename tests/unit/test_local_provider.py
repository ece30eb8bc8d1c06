"""Unit tests of the local provider beyond the shared contract: the file, transactions, threads, lock.

Every test uses a real SQLite file under ``tmp_path``; processes are real child processes.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.errors import LockError, NotFound, ProviderError
from reconciler.model import (
    VM,
    CatalogConfig,
    Category,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    PowerState,
    Snapshot,
    Source,
)
from reconciler.providers import LockInfo, Provider, capabilities_for, open_provider
from reconciler.providers.local import (
    DEFAULT_PATH,
    SCHEMA_VERSION,
    LocalProvider,
    capabilities,
    init_catalog,
)

FIXED_NOW = datetime(2026, 11, 2, 9, 30, 15, tzinfo=UTC)


def _vm(name: str, power: PowerState = PowerState.STOPPED, state: OSState = OSState.GENERALIZED, disks: int = 0) -> VM:
    return VM(name, "linux", power, state, f"{name}-os", tuple(f"{name}-d{i}" for i in range(disks)))


def _spec(
    name: str, vm: str, *, type_: ImageType = ImageType.VM, state: OSState = OSState.GENERALIZED, **kw: object
) -> ImageSpec:
    source = kw.pop("source", Source(vm=vm))
    return ImageSpec(name=name, type=type_, os="linux", os_state=state, source=source, **kw)  # type: ignore[arg-type]


def _provider(tmp_path: Path, snap: Snapshot, **kw: object) -> LocalProvider:
    path = tmp_path / "catalog.db"
    init_catalog(path, snap)
    return LocalProvider(path, "platform", now=lambda: FIXED_NOW, **kw)  # type: ignore[arg-type]


@contextlib.contextmanager
def _db(path: Path):  # type: ignore[no-untyped-def]
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn


# --------------------------------------------------------------------------------------------------
# Capabilities and opening


def test_capabilities_describe_the_local_catalog() -> None:
    caps = capabilities({})
    assert caps == capabilities_for("local", {"path": "x.db"})
    assert caps.provider == "local"
    assert caps.mutable_fields == {"family", "label", "description", "recommended_vm_size", "tags", "protect",
                                   "extra.exclude_from_latest", "extra.end_of_life_date"}
    assert caps.specialized_types == {ImageType.VM}
    assert caps.capture_power_states == {PowerState.STOPPED, PowerState.DEALLOCATED}
    assert caps.generalize is True and caps.vhd_source is False
    assert set(caps.settings) == {"path"}
    assert caps.consumes_vm == "deletes the source VM"


def test_open_provider_uses_catalog_path_and_name(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    init_catalog(path, Snapshot())
    p = open_provider(CatalogConfig("platform", "local", {"path": str(path)}), env={"AZURE_ACCESS_TOKEN": "x"})
    assert isinstance(p, LocalProvider) and isinstance(p, Provider)
    assert (p.owner, p.name, p.path) == ("platform", "local", path)
    assert p.snapshot() == Snapshot()


def test_open_provider_defaults_to_the_documented_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProviderError) as e:
        open_provider(CatalogConfig("platform", "local"), env={})
    assert DEFAULT_PATH in str(e.value)


def test_a_missing_catalog_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "catalog.db"
    with pytest.raises(ProviderError) as e:
        LocalProvider(path, "platform")
    assert e.value.code == "CatalogNotFound"
    assert "catalog init" in e.value.hint
    assert not path.exists()


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    path.write_text("images:\n  - web\n" * 100)
    with pytest.raises(ProviderError) as e:
        LocalProvider(path, "platform")
    assert e.value.code == "CorruptCatalog"
    assert isinstance(e.value.__cause__, sqlite3.DatabaseError)


def test_a_foreign_sqlite_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with _db(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    before = path.read_bytes()
    with pytest.raises(ProviderError) as e:
        LocalProvider(path, "platform")
    assert e.value.code == "ForeignCatalog"
    assert path.read_bytes() == before


def test_another_application_in_the_version_table_is_refused(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot())
    with _db(p.path) as conn:
        conn.execute("UPDATE schema_version SET application = 'something-else'")
    with pytest.raises(ProviderError) as e:
        LocalProvider(p.path, "platform")
    assert e.value.code == "ForeignCatalog"


def test_a_catalog_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot())
    with _db(p.path) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(ProviderError) as e:
        LocalProvider(p.path, "platform")
    assert e.value.code == "UnsupportedCatalogVersion"
    assert f"format {SCHEMA_VERSION + 1}" in e.value.message
    assert "upgrade" in e.value.hint


# --------------------------------------------------------------------------------------------------
# init


def test_init_writes_a_wal_catalog_holding_the_snapshot(tmp_path: Path) -> None:
    snap = Snapshot(
        images=(Image("img", ImageType.OS, "linux", OSState.GENERALIZED, tags={"b": "2", "a": "1"}),),
        vms=(_vm("vm-1", disks=2),),
    )
    p = _provider(tmp_path, snap)
    with _db(p.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    live = p.snapshot()
    assert [i.name for i in live.images] == ["img"]
    assert dict(live.images[0].tags) == {"a": "1", "b": "2"}
    assert live.vms[0].data_disks == ("vm-1-d0", "vm-1-d1")
    assert live.images[0].fingerprint and live.vms[0].fingerprint
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == [], "no temp file left"


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot(vms=(_vm("old"),)))
    with pytest.raises(ProviderError) as e:
        init_catalog(p.path, Snapshot())
    assert e.value.code == "AlreadyExists"
    assert "--force" in e.value.hint
    assert [v.name for v in p.snapshot().vms] == ["old"]

    init_catalog(p.path, Snapshot(vms=(_vm("new"),)), force=True)
    assert [v.name for v in p.snapshot().vms] == ["new"]


def test_init_with_duplicate_names_fails_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "catalog.db"
    with pytest.raises(ProviderError) as e:
        init_catalog(path, Snapshot(vms=(_vm("a"), _vm("A"))))
    assert e.value.code == "InvalidSeed"
    assert not path.exists()
    assert list(path.parent.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# Snapshot


def test_snapshot_is_sorted_case_insensitively(tmp_path: Path) -> None:
    images = tuple(Image(n, ImageType.OS, "linux", OSState.GENERALIZED) for n in ("b", "C", "a"))
    p = _provider(tmp_path, Snapshot(images=images, vms=(_vm("Z"), _vm("y"))))
    snap = p.snapshot()
    assert [i.name for i in snap.images] == ["a", "b", "C"]
    assert [v.name for v in snap.vms] == ["y", "Z"]


def test_snapshot_of_ten_thousand_images(tmp_path: Path) -> None:
    images = tuple(
        Image(
            f"img-{n:05}",
            ImageType.VM,
            "linux",
            OSState.GENERALIZED,
            family=f"f{n % 50}",
            tags={"team": "web", "n": str(n)},
            owner="platform",
            source=Source(vm=f"vm-{n}"),
            data_disks=1,
            created="2026-10-01T00:00:00Z",
        )
        for n in range(10_000)
    )
    p = _provider(tmp_path, Snapshot(images=images))
    snap = p.snapshot()  # speed: benchmarks/bench.py
    assert len(snap.images) == 10_000
    assert snap.images[1234].tags == {"n": "1234", "team": "web"}


# --------------------------------------------------------------------------------------------------
# Capture details


def test_capture_records_owner_source_and_the_injected_time(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot(vms=(_vm("Build-01", disks=3),)))
    image = p.capture(_spec("web", "build-01", protect=True, tags={"t": "1"}))
    assert image.created == "2026-11-02T09:30:15Z"
    assert image.owner == "platform" and image.protected
    # The source is kept as the file spells it, so the planner compares equal next time.
    assert image.source == Source(vm="build-01")
    assert image.data_disks == 3
    assert p.snapshot().images == (image,)


def test_generalize_flag_deallocates_and_generalizes_a_running_vm_first(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot(vms=(_vm("vm", PowerState.RUNNING, OSState.SPECIALIZED, disks=1),)))
    steps: list[str] = []
    image = p.capture(_spec("web", "vm", source=Source(vm="vm", generalize=True)), steps.append)
    assert steps == ["deallocate vm", "generalize vm", "capture", "delete vm"]
    assert image.os_state is OSState.GENERALIZED and image.data_disks == 1
    assert p.snapshot().vms == ()


def test_specialized_capture_leaves_the_vm_row_untouched(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot(vms=(_vm("vm", state=OSState.SPECIALIZED, disks=2),)))
    before = p.snapshot().vms
    steps: list[str] = []
    p.capture(_spec("db", "vm", state=OSState.SPECIALIZED), steps.append)
    assert steps == ["capture"]
    assert p.snapshot().vms == before


@pytest.mark.parametrize(
    ("vm", "spec", "code", "needle"),
    [
        (_vm("vm", PowerState.RUNNING), _spec("x", "vm"), "vm-power-state", "is running"),
        (_vm("vm", PowerState.DEALLOCATING), _spec("x", "vm"), "vm-power-state", "is deallocating"),
        (_vm("vm", state=OSState.SPECIALIZED), _spec("x", "vm"), "vm-not-generalized", "is not generalized"),
        (_vm("vm"), _spec("x", "vm", state=OSState.SPECIALIZED), "vm-generalized", "specialized image cannot"),
        (
            _vm("vm"),
            _spec("x", "vm", type_=ImageType.OS, state=OSState.SPECIALIZED),
            "specialized-unsupported",
            "always generalized",
        ),
        (VM("vm", "windows", PowerState.STOPPED, OSState.GENERALIZED), _spec("x", "vm"), "os-mismatch", "runs windows"),
        (_vm("vm"), _spec("x", "vm", source=Source(vhd="https://a/b.vhd")), "source-unsupported", "not VHDs"),
        # generalize does not excuse a running VM for a specialized capture
        (
            _vm("vm", PowerState.RUNNING, OSState.SPECIALIZED),
            _spec("x", "vm", state=OSState.SPECIALIZED, source=Source(vm="vm", generalize=True)),
            "vm-power-state",
            "is running",
        ),
    ],
)
def test_capture_preconditions_are_checked_in_the_transaction(
    tmp_path: Path, vm: VM, spec: ImageSpec, code: str, needle: str
) -> None:
    p = _provider(tmp_path, Snapshot(vms=(vm,)))
    before = p.snapshot()
    with pytest.raises(ProviderError) as e:
        p.capture(spec)
    assert (e.value.code, e.value.status) == (code, 409)
    assert needle in e.value.message
    assert p.snapshot() == before, "a refused capture changes nothing"


def test_capture_over_an_owned_image_with_another_source_is_a_conflict(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot(vms=(_vm("a", state=OSState.SPECIALIZED), _vm("b", state=OSState.SPECIALIZED))))
    p.capture(_spec("img", "a", state=OSState.SPECIALIZED))
    with pytest.raises(ProviderError) as e:
        p.capture(_spec("IMG", "b", state=OSState.SPECIALIZED))
    assert (e.value.code, e.value.status) == ("name-taken", 409)
    assert "another source" in e.value.hint


def test_capture_name_of_an_unowned_image_points_to_import(tmp_path: Path) -> None:
    snap = Snapshot(images=(Image("img", ImageType.OS, "linux", OSState.GENERALIZED),), vms=(_vm("vm"),))
    p = _provider(tmp_path, snap)
    with pytest.raises(ProviderError) as e:
        p.capture(_spec("img", "vm"))
    assert "reconciler import img" in e.value.hint


# --------------------------------------------------------------------------------------------------
# Update, remove, adopt details


def _owned(name: str, **kw: object) -> Image:
    return Image(name, ImageType.OS, "linux", OSState.GENERALIZED, owner="platform", **kw)  # type: ignore[arg-type]


def test_update_returns_the_new_state_and_ignores_immutable_fields(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot(images=(_owned("img", label="old", source=Source(vm="v")),)))
    live = p.snapshot().images[0]
    spec = ImageSpec(
        "img", ImageType.VM, "windows", OSState.SPECIALIZED, Source(vm="other"), label="new", tags={"z": "1"}
    )
    updated = p.update(live, spec)
    assert updated == p.snapshot().images[0]
    assert (updated.label, dict(updated.tags)) == ("new", {"z": "1"})
    assert (updated.type, updated.os, updated.os_state, updated.source) == (
        ImageType.OS,
        "linux",
        OSState.GENERALIZED,
        Source(vm="v"),
    )
    assert updated.fingerprint != live.fingerprint


def test_refusals_carry_codes_and_hints(tmp_path: Path) -> None:
    snap = Snapshot(
        images=(
            _owned("prot", protected=True),
            Image("pub", ImageType.OS, "linux", OSState.GENERALIZED, category=Category.PUBLIC),
            Image("theirs", ImageType.OS, "linux", OSState.GENERALIZED, owner="other"),
        )
    )
    p = _provider(tmp_path, snap)
    idx = p.snapshot().image_index()
    with pytest.raises(ProviderError) as e:
        p.remove(idx["prot"])
    assert e.value.code == "protected" and "protect: false" in e.value.hint
    with pytest.raises(ProviderError) as e:
        p.remove(idx["theirs"])
    assert "catalog 'other'" in e.value.message
    with pytest.raises(ProviderError) as e:
        p.update(idx["pub"], _spec("pub", "v"))
    assert "public" in e.value.message
    with pytest.raises(ProviderError) as e:
        p.adopt(idx["theirs"])
    assert e.value.code == "foreign"
    with pytest.raises(NotFound):
        p.remove(_owned("ghost"))


def test_adopting_an_owned_image_again_is_a_no_op(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot(images=(_owned("img"),)))
    live = p.snapshot().images[0]
    assert p.adopt(live) == live


# --------------------------------------------------------------------------------------------------
# Concurrency


def test_ten_threads_capture_update_and_remove_at_once(tmp_path: Path) -> None:
    vms = tuple(_vm(f"vm-{i}", disks=i % 3) for i in range(10))
    old = tuple(_owned(f"old-{i}", label="x") for i in range(10))
    p = _provider(tmp_path, Snapshot(images=old, vms=vms))
    by_name = p.snapshot().image_index()
    barrier = threading.Barrier(10)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            image = p.capture(_spec(f"new-{i}", f"vm-{i}", label="a"))
            p.update(image, _spec(f"new-{i}", f"vm-{i}", label=f"b-{i}"))
            p.update(by_name[f"old-{i}"], _spec(f"old-{i}", "x", label=f"y-{i}"))
            if i % 2:
                p.remove(by_name[f"old-{i}"])
        except BaseException as e:  # collected for the main thread to report
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    snap = p.snapshot()
    idx = snap.image_index()
    assert snap.vms == ()
    for i in range(10):
        assert idx[f"new-{i}"].label == f"b-{i}"
        assert idx[f"new-{i}"].data_disks == i % 3
        assert (f"old-{i}" in idx) is (i % 2 == 0)
    assert len({i.fingerprint for i in snap.images}) == len(snap.images)


def test_apply_runs_one_change_at_a_time_here_whatever_the_parallelism(tmp_path: Path) -> None:
    """``concurrent_changes=1``: a second worker would only wait for the file's write lock."""
    from planning import desired

    from reconciler.apply import apply_plan
    from reconciler.plan import make_plan

    assert capabilities({}).concurrent_changes == 1
    vms = tuple(_vm(f"vm-{i}") for i in range(8))
    p = _provider(tmp_path, Snapshot(vms=vms))
    plan = make_plan(desired(*(_spec(f"new-{i}", f"vm-{i}") for i in range(8))), p.snapshot(), p.capabilities)
    seen: list[int] = []
    running = [0]
    lock = threading.Lock()

    class Hooks:
        def started(self, change: object) -> None:
            with lock:
                running[0] += 1
                seen.append(running[0])

        def step(self, change: object, message: str) -> None:
            return None

        def finished(self, change: object, result: object, error: object) -> None:
            with lock:
                running[0] -= 1

    result = apply_plan(plan, p, parallelism=10, hooks=Hooks())
    assert result.ok and len(seen) == 8
    assert max(seen) == 1
    assert sorted(i.name for i in p.snapshot().images) == [f"new-{i}" for i in range(8)]


def test_a_busy_catalog_is_a_retryable_provider_error(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot(vms=(_vm("vm"),)), busy_timeout=0.0)
    with _db(p.path) as other:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        with pytest.raises(ProviderError) as e:
            p.capture(_spec("img", "vm"))
        other.execute("ROLLBACK")
    assert (e.value.code, e.value.retryable) == ("Busy", True)
    assert isinstance(e.value.__cause__, sqlite3.OperationalError)
    p.capture(_spec("img", "vm"))  # and it works once the other writer is gone


# --------------------------------------------------------------------------------------------------
# Lock across processes

_HOLD_LOCK = """
import sys
from reconciler.providers import LockInfo
from reconciler.providers.local import LocalProvider
handle = LocalProvider(sys.argv[1], "platform").acquire_lock(LockInfo.new("apply", who="child"), 0)
print(handle.info.id, flush=True)
sys.stdin.read()
handle.release()
"""


def test_the_lock_excludes_another_process_and_a_dead_holder_is_reported(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot())
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(p.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        lock_id = child.stdout.readline().strip()
        assert lock_id
        now = [0.0]
        with pytest.raises(LockError) as e:
            p.acquire_lock(
                LockInfo.new("apply"), 5, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
            )
        assert f"pid {child.pid}" in e.value.message and "child" in e.value.message
        assert e.value.holder["id"] == lock_id
        assert "no longer exists" not in e.value.message
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()

    with pytest.raises(LockError) as e:
        p.acquire_lock(LockInfo.new("apply"), 0)
    assert f"its process (pid {child.pid}) no longer exists on this host" in e.value.message
    assert f"reconciler force-unlock {lock_id}" in e.value.hint
    assert p.force_unlock(lock_id).who == "child"
    p.acquire_lock(LockInfo.new("apply"), 0).release()


def test_lock_handle_is_a_context_manager(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot())
    with p.acquire_lock(LockInfo.new("apply"), 0):
        with pytest.raises(LockError):
            p.acquire_lock(LockInfo.new("apply"), 0)
    p.acquire_lock(LockInfo.new("apply"), 0).release()


def test_lock_row_holds_the_holder_info(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot())
    info = LockInfo.new("apply", who="ci", run_id="42")
    handle = p.acquire_lock(info, 0)
    with _db(p.path) as conn:
        lock_id, raw = conn.execute("SELECT lock_id, info FROM lock").fetchone()
    assert lock_id == info.id and LockInfo.from_dict(json.loads(raw)) == info
    handle.release()


def test_a_lock_row_deleted_behind_the_holders_back_is_reported_by_check_and_release(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot())
    handle = p.acquire_lock(LockInfo.new("apply", who="ci"), 0)
    handle.check()  # held: nothing to report
    with _db(p.path) as conn:
        conn.execute("DELETE FROM lock")  # as a force-unlock from another process would
    with pytest.raises(LockError, match="lost the lock") as lost:
        handle.check()
    assert "gone" in lost.value.message and lost.value.holder["id"] == handle.info.id
    with pytest.raises(LockError, match="no longer held by this run") as ended:
        handle.release()
    assert handle.info.id in ended.value.message
    handle.release()  # releasing twice stays harmless
    p.acquire_lock(LockInfo.new("apply"), 0).release()


def test_a_lock_row_taken_over_by_another_run_is_reported_and_left_alone(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot())
    handle = p.acquire_lock(LockInfo.new("apply", who="ci"), 0)
    other = LockInfo.new("apply", who="bob")
    with _db(p.path) as conn:
        conn.execute("UPDATE lock SET lock_id = ?, info = ?", (other.id, json.dumps(other.as_dict())))
    with pytest.raises(LockError) as lost:
        handle.check()
    assert "bob" in lost.value.message and other.id in lost.value.message
    with pytest.raises(LockError, match="no longer held by this run"):
        handle.release()
    with pytest.raises(LockError) as held:  # bob's row survived the stale release
        p.acquire_lock(LockInfo.new("apply"), 0)
    assert held.value.holder["id"] == other.id


def test_a_released_lock_is_released_once(tmp_path: Path) -> None:
    p = _provider(tmp_path, Snapshot())
    handle = p.acquire_lock(LockInfo.new("apply"), 0)
    handle.release()
    handle.release()
    p.acquire_lock(LockInfo.new("apply"), 0).release()
