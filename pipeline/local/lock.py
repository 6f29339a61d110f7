"""One run at a time per output root: an exclusive ``flock`` on ``<output_root>/.lock``.

Two runs on one output root would interleave pushes (both could take version N+1) and
race on ML Metadata's SQLite file. The kernel drops a ``flock`` when its process dies, so
a run killed with SIGKILL never leaves a stale lock behind; the file itself stays.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Callable, Iterator, Optional

LOCK_NAME = ".lock"


class LockBusy(RuntimeError):
    """Another process holds the output root; the message names the root and its pid."""


def holder(output_root: str) -> Optional[int]:
    """The pid written by the process that last took the lock, if any."""
    try:
        with open(os.path.join(output_root, LOCK_NAME), encoding="ascii") as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def output_root_lock(output_root: str, wait: bool = False,
                     on_wait: Optional[Callable[[Optional[int]], None]] = None) -> Iterator[None]:
    """Holds the output root for the duration of the ``with`` block.

    Without ``wait`` a busy root raises ``LockBusy`` at once; with it, ``on_wait(pid)`` is
    called and the call blocks until the other run ends.
    """
    os.makedirs(output_root, exist_ok=True)
    fd = os.open(os.path.join(output_root, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise LockBusy(f"another run is using {output_root} (pid {holder(output_root)}); "
                               "wait for it to end or pass --wait") from None
            if on_wait:
                on_wait(holder(output_root))
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
