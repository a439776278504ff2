"""Who holds a lock, and whether that process still exists (for :mod:`sfsync.state.lock`).

A lock holder is identified by its host and process: the host name, a *host key* that tells
whether another holder ran on this very machine and in this PID namespace (so its process id
means something here), the process id, and the process's *start identity* (on Linux the boot
id plus ``starttime`` from ``/proc/<pid>/stat``; elsewhere ``ps -o lstart=``), which tells a
still-running holder from an unrelated process that got the same pid later.

Every probe answers ``None`` when it cannot tell; callers then fall back to the lock's TTL.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessIdentity:
    """Host, host key, pid and start identity of one process."""

    host: str
    host_key: str
    pid: int
    start: str | None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip() or None
    except OSError:
        return None


@cache
def host_key() -> str:
    """This machine and PID namespace: host name, machine id and PID namespace when known.

    Two holders with the same key can see each other's process ids; anything else (another
    machine, another container with its own PID namespace) is judged by the lock's TTL only.
    """
    parts = [socket.gethostname()]
    machine = _read(Path("/etc/machine-id")) or _read(Path("/var/lib/dbus/machine-id"))
    if machine:
        parts.append(machine[:32])
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    return "|".join(parts)[:300]


@cache
def _boot_id() -> str:
    return (_read(_PROC / "sys/kernel/random/boot_id") or "")[:36]


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` from field 3 (state) on, or None."""
    text = _read(_PROC / str(pid) / "stat")
    if text is None or ")" not in text:
        return None
    return text.rsplit(")", 1)[1].split()


def process_start(pid: int) -> str | None:
    """The start identity of process ``pid``, or None if it cannot be told."""
    if _PROC.joinpath("self/stat").exists():
        fields = _proc_stat(pid)
        if fields is None or len(fields) < 20:
            return None
        return f"{_boot_id()}:{fields[19]}"  # field 22: starttime in clock ticks since boot
    if os.name != "posix":
        return None
    try:
        out = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip()[:64] or None


def pid_alive(pid: int) -> bool | None:
    """True if a process ``pid`` exists on this host, False if not, None if it cannot be told.

    A zombie (exited, not yet reaped by its parent) counts as gone.
    """
    if pid <= 0 or os.name != "posix":
        return None  # on Windows os.kill(pid, 0) would terminate the process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    except OSError:
        return None
    fields = _proc_stat(pid) if sys.platform.startswith("linux") else None
    return not (fields and fields[0] in ("Z", "X"))


def current() -> ProcessIdentity:
    """The identity of this process."""
    pid = os.getpid()
    return ProcessIdentity(socket.gethostname(), host_key(), pid, process_start(pid))


def holder_gone(key: str | None, pid: int | None, start: str | None) -> str | None:
    """Why the holder recorded as (``key``, ``pid``, ``start``) is certainly gone, or None.

    ``"process_gone"``: same host, no such process. ``"pid_reused"``: same host, the pid
    now belongs to a process started at another time. None: alive, on another host, or
    recorded without a host key (an older sfsync): the caller waits for the TTL.
    """
    if not key or pid is None or key != host_key():
        return None
    alive = pid_alive(pid)
    if alive is False:
        return "process_gone"
    if alive and start:
        now = process_start(pid)
        if now is not None and now != start:
            return "pid_reused"
    return None
