"""How many CPUs this process may really use.

`os.cpu_count()` counts the host's CPUs. A container limited to two CPUs on a
64-core host would then start 64 workers that fight over two CPUs' worth of
time, so the default worker count also honours the affinity mask and the
cgroup CPU quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

_V1_CPU_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def cpu_count(cgroup_root: str | os.PathLike = "/sys/fs/cgroup",
              proc_self_cgroup: str | os.PathLike = "/proc/self/cgroup") -> int:
    """CPUs usable by this process: affinity, capped by the cgroup quota rounded up; at least 1."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root, proc_self_cgroup)
    if limit is not None:
        usable = min(usable, math.ceil(limit))
    return max(1, usable)


def cgroup_cpu_limit(cgroup_root: str | os.PathLike,
                     proc_self_cgroup: str | os.PathLike) -> float | None:
    """The tightest CPU quota, in CPUs, on this process's cgroup and its ancestors.

    None when there is no quota or it cannot be read (not Linux, no cgroup fs).
    """
    try:
        lines = Path(proc_self_cgroup).read_text().splitlines()
    except OSError:
        return None
    root = Path(cgroup_root)
    unified = None
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if "cpu" in controllers.split(","):  # cgroup v1 (or hybrid) cpu controller
            base = next((root / d for d in _V1_CPU_DIRS if (root / d).is_dir()), None)
            return _tightest(base, path, _v1_limit) if base else None
        if hierarchy == "0" and not controllers:
            unified = path
    if unified is not None and (root / "cgroup.controllers").is_file():
        return _tightest(root, unified, _v2_limit)
    return None


def _tightest(base: Path, cgroup_path: str, read: Callable[[Path], float | None]) -> float | None:
    directory = base / cgroup_path.lstrip("/")
    if not directory.is_dir():
        # Without a cgroup namespace a container sees the host's path for its
        # cgroup, but has its own cgroup mounted at the base.
        directory = base
    limits = []
    while True:
        limit = read(directory)
        if limit is not None:
            limits.append(limit)
        if directory == base:
            return min(limits, default=None)
        directory = directory.parent


def _v2_limit(directory: Path) -> float | None:
    try:
        quota, period = (directory / "cpu.max").read_text().split()
        return _ratio(quota, period)
    except (OSError, ValueError):
        return None


def _v1_limit(directory: Path) -> float | None:
    try:
        quota = (directory / "cpu.cfs_quota_us").read_text().strip()
        period = (directory / "cpu.cfs_period_us").read_text().strip()
        return _ratio(quota, period)
    except (OSError, ValueError):
        return None


def _ratio(quota: str, period: str) -> float | None:
    if quota == "max" or int(quota) <= 0 or int(period) <= 0:  # v1 says -1 for none
        return None
    return int(quota) / int(period)
