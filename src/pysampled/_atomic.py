"""Atomic file replacement shared by the corpus and word2vec-format writers."""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import zlib

__all__ = ["atomic_write", "remove_if_owner_gone"]

#: This host, in the names of temporary files (a directory may be shared).
_HOST = f"{zlib.crc32(socket.gethostname().encode()):08x}"


def _temp_pattern(name):
    """Temporary files of target `name` written on this host: group 1 is the writer's pid."""
    return re.compile(r"\." + re.escape(name) + r"\.(\d+)\." + _HOST + r"\.[0-9a-f]{12}\.tmp\Z")


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None, newline=None):
    """Open a temporary file next to ``path`` and move it over ``path`` on success.

    The temporary file lives in the same directory (so :func:`os.replace` is an
    atomic rename on POSIX and Windows), is created with the process umask
    applied (like a plain ``open(path, "w")``), and is flushed and fsynced
    before the rename. If the body raises anything, ``KeyboardInterrupt``
    included, the temporary file is removed and ``path`` is left untouched.

    A process killed during the write (SIGKILL, power loss) cannot remove its
    temporary file ``.<name>.<pid>.<host>.<random>.tmp``. After each
    successful write, such leftovers *of the same target* are removed when
    they were made on this host by a process that no longer exists (POSIX),
    so they never accumulate; files of live writers, of other targets, of
    other hosts or in any other format are never touched.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.
    mode : {"wb", "w"}
        Binary or text mode.
    encoding, newline : str, optional
        Passed to :func:`open` in text mode.

    Yields
    ------
    file object
        The open temporary file; write to it inside the ``with`` block.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory,
                           f".{name}.{os.getpid()}.{_HOST}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # umask applies, as for open()
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise FileExistsError(f"could not create a temporary file in {directory!r}")
    try:
        try:
            if mode == "wb":
                f = os.fdopen(fd, "wb")
            else:
                f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        except BaseException:
            os.close(fd)
            raise
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
    _remove_stale_temporaries(directory, name)


def _remove_stale_temporaries(directory, name):
    """Remove temporary files of `name` left by writers on this host that are gone."""
    remove_if_owner_gone(directory, _temp_pattern(name), os.unlink)


def remove_if_owner_gone(directory, pattern, remove):
    """Call ``remove(path)`` for each entry of `directory` whose name matches
    `pattern` (a compiled regex whose group 1 is the writer's pid) when that
    process no longer exists. POSIX only (``os.kill(pid, 0)`` is the
    liveness probe); entries of this process, of live processes, of other
    users' processes and names that do not match are never touched. The one
    home of the trainers' and writers' leftover cleanup."""
    if os.name != "posix":
        return
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue  # maybe a write in progress (another thread or process)
        with contextlib.suppress(OSError):
            remove(entry.path)


def _pid_alive(pid):
    if pid <= 0:
        return True  # not a pid we wrote: keep the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists (another user)
        return True
    return True


def _fsync_directory(directory):
    """Persist the rename itself (POSIX only; a no-op where unsupported)."""
    if os.name != "posix":
        return
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
