"""Atomic file writes (a crash leaves either the old file or the new one, never half) and the
exclusive lock a writer holds while it writes."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` and rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; behave like open()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def fsync_dir(path: str | Path) -> None:
    """Make a rename or a new file in ``path`` durable: fsync the folder itself.

    A rename is atomic but lives in the folder's metadata; without this a power loss right
    after it can bring back the old name. Platforms that cannot open folders skip it.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


class LockError(OSError):
    """``flock`` refused: another process holds the lock (``wait=False``), or the file system
    cannot lock. Opening the lock file raises the plain :class:`OSError` instead."""


def exclusive_lock(path: str | Path, *, wait: bool = True) -> IO | None:
    """Open ``path`` (created if missing) and hold an exclusive ``flock`` on it until the
    returned file is closed.

    The OS releases the lock when the process dies, kill -9 included, so a crashed writer
    never leaves a stale lock behind. ``wait=False`` raises :class:`LockError` at once where
    another process holds it. Returns None where ``fcntl`` is missing (Windows: no locking).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no locking
        return None
    fh = open(path, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError as err:
        fh.close()
        raise LockError(err.errno, err.strerror) from None
    return fh
