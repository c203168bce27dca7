"""cpu_count(): affinity capped by the cgroup v1/v2 CPU quota, on fake cgroup trees."""

from __future__ import annotations

import math
import os

import pytest

from zerodep_http.config.cpus import cgroup_cpu_limit, cpu_count

AFFINITY = len(os.sched_getaffinity(0))


def tree(tmp_path, proc: str, files: dict[str, str]):
    """A fake /proc/self/cgroup and cgroup mount; returns (root, proc path)."""
    root = tmp_path / "cgroup"
    root.mkdir()
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    proc_file = tmp_path / "proc_self_cgroup"
    proc_file.write_text(proc)
    return root, proc_file


V2 = {"cgroup.controllers": "cpu io memory\n"}

CASES = [
    # cgroup v2, container with its own namespace
    ("0::/\n", {**V2, "cpu.max": "150000 100000\n"}, 1.5),
    ("0::/\n", {**V2, "cpu.max": "max 100000\n"}, None),
    ("0::/\n", {**V2, "cpu.max": "50000 100000\n"}, 0.5),
    # v2 on a host: the tightest of the cgroup and its ancestors counts
    ("0::/a/b\n", {**V2, "a/cpu.max": "200000 100000", "a/b/cpu.max": "max 100000"}, 2.0),
    ("0::/a/b\n", {**V2, "a/cpu.max": "400000 100000", "a/b/cpu.max": "300000 100000"}, 3.0),
    # v2, host path not visible (no cgroup namespace): the mount is ours
    ("0::/docker/abc\n", {**V2, "cpu.max": "100000 100000"}, 1.0),
    # v2 hierarchy but no cgroup2 mounted at the root
    ("0::/\n", {"cpu.max": "100000 100000"}, None),
    # malformed or unusable files are ignored
    ("0::/\n", {**V2, "cpu.max": "garbage\n"}, None),
    ("0::/\n", {**V2, "cpu.max": "100000 0\n"}, None),
    # cgroup v1
    ("12:memory:/x\n4:cpu,cpuacct:/docker/abc\n",
     {"cpu,cpuacct/cpu.cfs_quota_us": "250000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, 2.5),
    ("4:cpu,cpuacct:/\n",
     {"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, None),
    ("4:cpuacct,cpu:/a\n",
     {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000",
      "cpu/a/cpu.cfs_quota_us": "50000", "cpu/a/cpu.cfs_period_us": "100000"}, 0.5),
    # hybrid: the v1 cpu controller wins over the (controller-less) unified tree
    ("4:cpu,cpuacct:/\n0::/\n",
     {**V2, "cpu.max": "max 100000", "cpu,cpuacct/cpu.cfs_quota_us": "100000",
      "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 1.0),
    # v1 without the cpu controller mounted
    ("4:cpu,cpuacct:/\n", {"memory/x": ""}, None),
]


@pytest.mark.parametrize("proc, files, limit", CASES)
def test_cgroup_limit(tmp_path, proc, files, limit):
    root, proc_file = tree(tmp_path, proc, files)
    assert cgroup_cpu_limit(root, proc_file) == limit
    expected = AFFINITY if limit is None else max(1, min(AFFINITY, math.ceil(limit)))
    assert cpu_count(root, proc_file) == expected


def test_no_cgroup_information(tmp_path):
    assert cgroup_cpu_limit(tmp_path, tmp_path / "missing") is None
    assert cpu_count(tmp_path, tmp_path / "missing") == AFFINITY


def test_this_machine():
    assert 1 <= cpu_count() <= AFFINITY
