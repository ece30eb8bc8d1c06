"""Reading inputs and writing outputs safely: the one place the program opens a user-named path.

Layer: shell (it touches the disk) but pure of printing and the environment; every problem is a
``ReconcilerError`` naming the file, what is wrong and what to do. Used by ``operations``, the
``cli`` package and ``spec.load_spec``.

Reading (``read_input``): only a regular file is read (a symlink to one is fine), and at most
``MAX_INPUT_BYTES``. A FIFO, a device or a directory is refused before a byte is read, so
``apply`` on a symlink to ``/dev/zero`` or on a named pipe fails at once instead of reading until
memory runs out or blocking forever.

Writing (``write_output``): a new path or a regular file is replaced atomically (a temporary file
beside it, then a rename), so a reader never sees half a plan. A symlink is followed: the temporary
file goes beside the link's target and the rename replaces the target, so the link stays. A
character device or a FIFO (``/dev/stdout``, ``/dev/null``, a process substitution) is written
through, never renamed over: that is what a user naming one means, and renaming over ``/dev/null``
as root would replace the device with a regular file. A directory, a block device, a socket or a
dangling symlink is refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import ReconcilerError

#: The largest desired-state, plan or seed file read (64 MiB). A 120,000-line desired-state file
#: is about 4 MiB; the limit only stops a runaway input (a device, a wrong file) early.
MAX_INPUT_BYTES = 64 * 1024 * 1024
MAX_INPUT_TEXT = "64 MiB"

_CHUNK = 1024 * 1024


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def read_input(path: str | os.PathLike[str], what: str, hint: str | None = None) -> bytes:
    """The bytes of the regular file ``path`` (``what`` names it in messages: "plan file", ...).

    ``hint``: what to do when the path is missing (default: pass the right path).

    Refuses, with ``ReconcilerError``: a missing path, anything but a regular file (checked on the
    opened descriptor, so the answer is about the file actually read), and a file larger than
    ``MAX_INPUT_BYTES`` (checked on the size and again while reading, for files that grow).
    """
    p = os.fspath(path)
    path_hint = f"pass the path of the {what}"
    hint = hint or path_hint
    try:
        # O_NONBLOCK: opening a FIFO for reading must not wait for a writer before we can refuse it.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as e:
        raise ReconcilerError(f"{p}: no such file", hint) from e
    except OSError as e:
        raise ReconcilerError(f"cannot read {what} {p}: {e.strerror or e}", "check the path and its permissions") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ReconcilerError(
                f"{p} is {_kind(st.st_mode)}, not a regular file: refusing to read it as the {what}",
                path_hint + " (a symlink to a regular file is fine)",
            )
        if st.st_size > MAX_INPUT_BYTES:
            raise _too_large(p, what)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        size = max(st.st_size + 1, _CHUNK)  # a regular file in one read: no second copy of it (issue 13)
        while True:
            chunk = os.read(fd, size)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_INPUT_BYTES:
                raise _too_large(p, what)
            chunks.append(chunk)
            size = _CHUNK
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except IsADirectoryError as e:
        raise ReconcilerError(f"{p} is a directory, not a regular file", path_hint) from e
    except OSError as e:
        raise ReconcilerError(f"cannot read {what} {p}: {e.strerror or e}", "check the path and its permissions") from e
    finally:
        os.close(fd)


def _too_large(p: str, what: str) -> ReconcilerError:
    return ReconcilerError(
        f"{p} is larger than {MAX_INPUT_TEXT}, the limit for a {what}: refusing to read it",
        f"check this is the right file; a {what} is far smaller than that",
    )


def write_output(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path``: atomically over a regular file or a new path, through a symlink
    to its regular-file target, straight into a character device or FIFO; anything else is refused.
    """
    p = os.fspath(path)
    try:
        st: os.stat_result | None = os.stat(p)  # follows symlinks: the kind of the final target
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise ReconcilerError(f"cannot write {p}: {e.strerror or e}", "check the path and its permissions") from e
    if st is None:
        if os.path.islink(p):
            raise ReconcilerError(
                f"cannot write {p}: it is a symlink to {os.readlink(p)}, which does not exist",
                "create the target first, remove the link, or pass another path",
            )
        _write_replacing(p, p, data)
    elif stat.S_ISREG(st.st_mode):
        _write_replacing(p, os.path.realpath(p), data)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        _write_through(p, data)
    elif stat.S_ISDIR(st.st_mode):
        raise ReconcilerError(
            f"cannot write {p}: it is a directory", "pass a file name, e.g. --out plan.json"
        )
    else:
        raise ReconcilerError(
            f"cannot write {p}: it is {_kind(st.st_mode)}, not a regular file, a character device or a FIFO",
            "pass the path of a regular file (or /dev/stdout)",
        )


def _write_replacing(shown: str, target: str, data: bytes) -> None:
    """Temporary file beside ``target``, then rename onto it: readers see the old or the new file."""
    t = Path(target)
    if not t.name:
        raise ReconcilerError(f"cannot write {shown}: it is a directory", "pass a file name, e.g. --out plan.json")
    tmp = t.with_name(f".{t.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, t)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ReconcilerError(
            f"cannot write {shown}: {e.strerror or e}", "check the directory exists and is writable"
        ) from e


def _write_through(shown: str, data: bytes) -> None:
    """Write into an existing device or FIFO without creating, truncating or renaming anything."""
    try:
        fd = os.open(shown, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise ReconcilerError(f"cannot write {shown}: {e.strerror or e}", "check the path and its permissions") from e
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):  # replaced between the stat and the open
            raise ReconcilerError(f"cannot write {shown}: it changed while being opened", "run the command again")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as e:
        raise ReconcilerError(f"cannot write {shown}: {e.strerror or e}", "check the path and its permissions") from e
    finally:
        os.close(fd)


__all__ = ["MAX_INPUT_BYTES", "MAX_INPUT_TEXT", "read_input", "write_output"]
