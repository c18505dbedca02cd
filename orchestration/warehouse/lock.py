"""One writer per home: the process that builds or publishes the warehouse holds <home>/.lock.

An OS file lock (flock) rather than a Dagster concurrency pool: the kernel releases it when its process
dies, however it dies (`kill -9` included), so a crash can never wedge a home. (A Dagster pool slot of a
killed run stayed claimed forever and every later run waited on it.) The file also names the holder, so a
waiting run says whom it waits for.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')} ({info.get('purpose', '?')}, since {info.get('since', '?')})"


@contextmanager
def home_lock(
    path: Path, purpose: str, *, wait_seconds: float | None = None,
    waiting: Callable[[str], None] = lambda message: None, poll_seconds: float = 2.0,
) -> Iterator[None]:
    """Hold the exclusive lock at ``path`` for the block. Waits while another process holds it (calling
    ``waiting`` with who holds it, about every 30 s); ``wait_seconds`` bounds the wait (TimeoutError)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_CLOEXEC (Python's default): dbt and other children never inherit the lock, so an orphaned child
    # cannot keep holding it after its parent died.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        started = time.monotonic()
        announced = -1.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if wait_seconds is not None and waited >= wait_seconds:
                    raise TimeoutError(f"{path}: still held by {_holder(path)} after {waited:.0f} s") from None
                if announced < 0 or waited - announced >= 30:
                    waiting(f"waiting for the warehouse lock {path}, held by {_holder(path)}")
                    announced = waited
                time.sleep(poll_seconds)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose,
                                  "since": datetime.now(UTC).isoformat(timespec="seconds")}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
