"""files.read_input / files.write_output on real files, symlinks, FIFOs and devices (issue 8, items 5-6)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from reconciler.errors import ReconcilerError
from reconciler.files import MAX_INPUT_BYTES, read_input, write_output

# --------------------------------------------------------------------------------------------------
# read_input


def test_reads_a_regular_file_and_a_symlink_to_one(tmp_path: Path) -> None:
    f = tmp_path / "images.yaml"
    f.write_bytes(b"version: 1\n")
    (tmp_path / "link.yaml").symlink_to(f)
    assert read_input(f, "desired-state file") == b"version: 1\n"
    assert read_input(tmp_path / "link.yaml", "desired-state file") == b"version: 1\n"


def test_missing_file_names_it_and_uses_the_hint(tmp_path: Path) -> None:
    with pytest.raises(ReconcilerError) as e:
        read_input(tmp_path / "nope.yaml", "desired-state file", "create it from images.yaml.example")
    assert "nope.yaml: no such file" in e.value.message and "images.yaml.example" in e.value.hint


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: p.symlink_to("/dev/zero"), "a character device"),
        (lambda p: os.mkfifo(p), "a FIFO"),
        (lambda p: p.mkdir(), "a directory"),
    ],
)
def test_only_regular_files_are_read(tmp_path: Path, make, kind: str) -> None:
    p = tmp_path / "input"
    make(p)
    with pytest.raises(ReconcilerError) as e:  # returns at once: a FIFO without a writer does not block
        read_input(p, "plan file")
    assert f"{p} is {kind}" in e.value.message and "not a regular file" in e.value.message
    assert "plan file" in e.value.message


def test_size_limit(tmp_path: Path) -> None:
    p = tmp_path / "big.json"
    with p.open("wb") as f:
        f.truncate(MAX_INPUT_BYTES)  # sparse: exactly the limit is fine
    assert len(read_input(p, "plan file")) == MAX_INPUT_BYTES
    with p.open("ab") as f:
        f.write(b"x")
    with pytest.raises(ReconcilerError, match="larger than 64 MiB"):
        read_input(p, "plan file")


# --------------------------------------------------------------------------------------------------
# write_output


def test_new_path_and_regular_file_are_replaced_atomically(tmp_path: Path) -> None:
    p = tmp_path / "plan.json"
    write_output(p, b"one")
    inode = p.stat().st_ino
    write_output(p, b"two")
    assert p.read_bytes() == b"two" and p.stat().st_ino != inode  # renamed over, not rewritten
    assert sorted(x.name for x in tmp_path.iterdir()) == ["plan.json"]


def test_symlink_is_followed_to_its_target_and_stays(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "plan.json"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "plan.json"
    link.symlink_to(target)
    write_output(link, b"new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new"
    assert sorted(x.name for x in target.parent.iterdir()) == ["plan.json"]  # temp file was beside the target


def test_dangling_symlink_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "plan.json"
    link.symlink_to(tmp_path / "gone.json")
    with pytest.raises(ReconcilerError, match="symlink to .*gone.json, which does not exist"):
        write_output(link, b"x")
    assert link.is_symlink() and not (tmp_path / "gone.json").exists()


def test_fifo_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_output(fifo, b"plan")
    reader.join(timeout=30)
    assert got == [b"plan"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_character_device_is_written_through(tmp_path: Path) -> None:
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    write_output(node, b"plan")
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    write_output("/dev/null", b"plan")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_directory_and_socket_are_refused(tmp_path: Path) -> None:
    import socket

    with pytest.raises(ReconcilerError, match="is a directory"):
        write_output(tmp_path, b"x")
    sock_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock_path))
        with pytest.raises(ReconcilerError, match="is a socket"):
            write_output(sock_path, b"x")
        assert stat.S_ISSOCK(os.lstat(sock_path).st_mode)
