"""Atomic file replacement shared by the corpus and word2vec-format writers."""
from __future__ import annotations

import contextlib
import os
import secrets

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None, newline=None):
    """Open a temporary file next to ``path`` and move it over ``path`` on success.

    The temporary file lives in the same directory (so :func:`os.replace` is an
    atomic rename on POSIX and Windows), is created with the process umask
    applied (like a plain ``open(path, "w")``), and is flushed and fsynced
    before the rename. If the body raises anything, ``KeyboardInterrupt``
    included, the temporary file is removed and ``path`` is left untouched.

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
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
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
