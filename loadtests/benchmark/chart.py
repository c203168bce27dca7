"""The PNG chart: grouped bars per row and server, one panel per unit
(requests/s, MB/s, KiB per idle connection, SSE delivery ms) and
configuration, error bars spanning the rounds' min–max."""

from __future__ import annotations

import argparse
import math
import textwrap
from pathlib import Path

from .configs import CONFIGS
from .rows import ROWS
from .servers import SERVERS

UNIT_TITLES = {"req/s": "requests/s", "MB/s": "MB/s", "KiB/conn": "KiB per idle connection (lower is better)",
               "ms p99": "SSE delivery p99, ms (lower is better)"}


def panels(rows: list[str]) -> dict[str, list[str]]:
    """The selected rows grouped by unit, in table order: one panel each."""
    by_unit: dict[str, list[str]] = {}
    for name in rows:
        by_unit.setdefault(ROWS[name].unit, []).append(name)
    return by_unit


def plot(summary: dict, args: argparse.Namespace, info: dict, path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("the chart needs matplotlib: pip install -e '.[load]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    servers = args.servers
    by_unit = panels(args.rows)
    fig, axes = plt.subplots(len(by_unit), len(args.configs),
                             figsize=(7.5 * len(args.configs), 1.4 + 3.4 * len(by_unit)),
                             squeeze=False, layout="constrained")
    width = 0.84 / len(servers)
    palette = [*plt.get_cmap("tab10").colors, *plt.get_cmap("Dark2").colors]
    for col, config_name in enumerate(args.configs):
        for line, (unit, rows) in enumerate(by_unit.items()):
            ax = axes[line, col]
            for i, name in enumerate(servers):
                xs, heights, low, high = [], [], [], []
                for j, row in enumerate(rows):
                    x = j - 0.42 + width * (i + 0.5)
                    cell = summary.get((config_name, name, row))
                    if cell is None or "wrong" in cell or math.isnan(cell["value"]):
                        ax.text(x, 0, " n/a" if cell is None else " wrong", rotation=90, ha="center",
                                va="bottom", fontsize=6, color="grey")
                        continue
                    xs.append(x)
                    heights.append(cell["value"])
                    low.append(cell["value"] - cell["min"])
                    high.append(cell["max"] - cell["value"])
                ax.bar(xs, heights, width, yerr=[low, high], capsize=1.5, color=palette[i % len(palette)],
                       error_kw={"elinewidth": 0.7})
            ax.set_xticks(range(len(rows)), [textwrap.fill(ROWS[row].label, 18) for row in rows],
                          fontsize=7)
            ax.set_xlim(-0.5, len(rows) - 0.5)
            ax.set_ylabel(UNIT_TITLES[unit], fontsize=8)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}".replace(",", " ")))
            ax.set_title(f"{config_name}: {CONFIGS[config_name].title}", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
            ax.set_axisbelow(True)
    handles = [Patch(color=palette[i % len(palette)], label=SERVERS[name].label)
               for i, name in enumerate(servers)]
    # As many columns as the figure is wide for: a wider legend is cut off.
    fig.legend(handles=handles, loc="outside lower center",
               ncol=min(len(servers), 4 * len(args.configs)), fontsize=8, frameon=False)
    fig.suptitle(f"zerodep-http vs peers: medians of {args.rounds} round(s), min–max bars "
                 f"({info['nproc']} CPUs, {info['date'][:10]})", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)
