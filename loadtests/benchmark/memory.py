"""The resident memory of a server's processes, read from /proc."""

from __future__ import annotations

import re
from pathlib import Path

from ..processes import session_processes


def vm_rss_kib(pid: int) -> int | None:
    try:
        status = Path("/proc", str(pid), "status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


def measure_memory(sid: int) -> dict:
    """VmRSS of the server's processes: `worker_mb` is the largest process
    without children in the tree (the workers; a master or arbiter has the
    workers as children and is left out), `total_mb` sums every process."""
    tree = session_processes(sid)
    parents = set(tree.values())
    rss = {pid: kib for pid in tree if (kib := vm_rss_kib(pid)) is not None}
    leaves = [kib for pid, kib in rss.items() if pid not in parents] or list(rss.values()) or [0]
    return {"worker_mb": max(leaves) / 1024, "total_mb": sum(rss.values()) / 1024,
            "processes": len(rss)}


def total_rss_kib(sid: int) -> int:
    """VmRSS summed over every process of the server's session."""
    return sum(kib for pid in session_processes(sid) if (kib := vm_rss_kib(pid)) is not None)
