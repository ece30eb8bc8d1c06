"""Issue 8: the local catalog file, when it is replaced or cannot be used.

- ``catalog init --force`` takes the catalog lock, and refuses while an apply holds it.
- An empty, read-only or non-SQLite catalog file is reported as what it is, not as "not a
  reconciler catalog". Real files: the read-only cases use a directory or file that really
  cannot be written (chmod, or as root the immutable attribute, which binds root too).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.providers import LockInfo
from reconciler.providers.local import LocalProvider

ROOT = Path(__file__).resolve().parents[2]
SEED = str(ROOT / "examples" / "demo-catalog.json")


# --------------------------------------------------------------------------------------------------
# 9. catalog init --force takes the lock


@pytest.fixture
def local(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "images.yaml.example", tmp_path / "images.yaml")
    r = cli("catalog", "init", "--from", SEED)
    assert r.code == 0, r.text
    return tmp_path


def test_catalog_init_force_refuses_while_an_apply_holds_the_lock(cli, local):
    path = local / ".reconciler" / "catalog.db"
    provider = LocalProvider(path, "platform")
    assert cli("apply", "--auto-approve").code == 0  # the catalog now differs from the seed
    before = provider.snapshot()
    handle = provider.acquire_lock(LockInfo.new("apply", run_id="4242"), 0)
    r = cli("catalog", "init", "--from", SEED, "--force")
    assert r.code == 1, r.text
    assert handle.info.id in r.err and "apply" in r.err and "4242" in r.err, r.err
    # Nothing was replaced: the same images, and the apply's lock is still there.
    assert provider.snapshot() == before
    with pytest.raises(Exception, match=handle.info.id):
        provider.acquire_lock(LockInfo.new("apply"), 0)
    handle.release()
    r = cli("catalog", "init", "--from", SEED, "--force", "--lock-timeout", "1")
    assert r.code == 0, r.text
    assert provider.snapshot() != before


def test_catalog_init_force_replaces_a_file_that_is_not_a_catalog(cli, local):
    path = local / ".reconciler" / "catalog.db"
    path.write_bytes(b"not a catalog at all\n" * 100)
    r = cli("catalog", "init", "--from", SEED, "--force")
    assert r.code == 0, r.text
    assert LocalProvider(path, "platform").snapshot().images


# --------------------------------------------------------------------------------------------------
# 11. Empty, read-only and foreign catalog files say what is wrong


@contextlib.contextmanager
def unwritable(path: Path):
    """Make ``path`` (a file or directory) really unwritable, for this process too, then restore it.

    chmod binds everyone but root; as root the immutable attribute (chattr +i) binds root as well,
    as a read-only mount does. Skips only when neither is possible on this file system.
    """
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root, and this file system has no immutable attribute to make a file read-only")
    try:
        assert not os.access(path, os.W_OK)
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def catalog_of(tmp: Path) -> Path:
    return tmp / ".reconciler" / "catalog.db"


def test_an_empty_catalog_file_is_called_empty_with_the_command_that_recreates_it(cli, local):
    path = catalog_of(local)
    path.write_bytes(b"")
    r = cli("plan")
    assert r.code == 1, r.text
    assert f"the catalog file {path.relative_to(local)} is empty" in r.err, r.err
    assert "catalog init --from" in r.err and "--force" in r.err
    assert "schema_version" not in r.err
    assert path.read_bytes() == b""  # nothing written into it either
    # The command given works.
    assert cli("catalog", "init", "--from", SEED, "--force").code == 0
    assert cli("plan").code == 0


def test_a_file_that_is_not_sqlite_at_all_is_called_that(cli, local):
    path = catalog_of(local)
    path.write_bytes(b"version: 1\ncatalog: {name: platform}\n" * 50)
    r = cli("plan")
    assert r.code == 1, r.text
    assert "is not an SQLite database" in r.err, r.err
    assert "schema_version" not in r.err


def test_a_catalog_in_a_directory_that_cannot_be_written_names_the_wal_files_and_a_writable_copy(cli, local):
    path = catalog_of(local)
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()
    before = path.read_bytes()
    with unwritable(path.parent):
        r = cli("plan")
    assert r.code == 1, r.text
    assert "schema_version" not in r.err, r.err
    assert "its directory is not writable" in r.err, r.err
    assert f"{path.name}-wal" in r.err and f"{path.name}-shm" in r.err
    assert "cp " in r.err and "catalog.path" in r.err
    assert path.read_bytes() == before


def test_a_catalog_file_that_cannot_be_written_is_called_read_only(cli, local):
    path = catalog_of(local)
    before = path.read_bytes()
    with unwritable(path):
        assert cli("plan").code == 0  # reading works: the directory takes the -wal and -shm files
        r = cli("apply", "--auto-approve")
    assert r.code == 1, r.text
    assert "read-only" in r.err, r.err
    assert "internal error" not in r.err
    assert path.read_bytes() == before
