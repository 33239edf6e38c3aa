"""One writer at a time: a run-level lock on the warehouse.

DuckDB's own file lock is taken per connection, so two runs that open and close the warehouse
step by step take it from each other and interleave. This lock is held for a whole run (the
command line's `winback run`, and every Dagster run through the warehouse resource), on a file
beside the warehouse, with `flock`: the kernel releases it when the holding process ends, so a
run killed with SIGKILL never leaves a lock behind. What the lock file says about its holder is
only for messages; a holder that is gone is reported and its lock taken over.

Re-entrant within a process: the command line holds the lock and the Dagster runs it starts in
the same process take it again without waiting for themselves.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class WarehouseBusy(RuntimeError):
    """Another run holds the warehouse and did not let go within the wait."""


@dataclass
class _Held:
    fd: int
    depth: int


_held: dict[str, _Held] = {}
_guard = threading.Lock()


def lock_path(warehouse: Path) -> Path:
    return Path(warehouse).with_name(Path(warehouse).name + ".lock")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(holder: dict) -> str:
    if not holder:
        return "another process"
    return (
        f"{holder.get('what', 'a run')} (pid {holder.get('pid')} on {holder.get('host')}, "
        f"since {holder.get('since')})"
    )


@contextmanager
def warehouse_lock(
    warehouse: Path,
    what: str,
    wait_seconds: float = 0,
    on_wait: Callable[[str], None] | None = None,
    poll_seconds: float = 0.5,
) -> Iterator[dict]:
    """Hold the run lock of `warehouse` for the duration of the block. Waits up to
    `wait_seconds` (telling `on_wait` once), then raises `WarehouseBusy` with one line naming
    the holder. Yields what is known of a previous holder that died without releasing."""
    path = lock_path(warehouse)
    key = str(path)
    with _guard:
        held = _held.get(key)
        if held is not None:
            held.depth += 1
    if held is not None:
        try:
            yield {}
        finally:
            with _guard:
                held.depth -= 1
        return

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + max(0.0, wait_seconds)
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_holder(fd)
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"the warehouse {warehouse} is in use by {describe_holder(holder)}"
                        + (f"; waited {wait_seconds:g}s" if wait_seconds else "")
                        + ": runs on one warehouse take turns; try again when it ends "
                        "(or wait for it with --wait SECONDS)"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(
                        f"waiting up to {wait_seconds:g}s for the warehouse {warehouse}: in use "
                        f"by {describe_holder(holder)}"
                    )
                    told = True
                time.sleep(poll_seconds)
        previous = _read_holder(fd)
        stale = previous if previous and not pid_alive(int(previous.get("pid", 0))) else {}
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "what": what,
            "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(me).encode())
        with _guard:
            _held[key] = _Held(fd, 1)
        try:
            yield stale
        finally:
            with _guard:
                _held.pop(key, None)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock
