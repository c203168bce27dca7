"""The PNG chart: grouped bars of requests/s, one panel per configuration."""

from __future__ import annotations

import argparse
from pathlib import Path

from .configs import CONFIGS
from .servers import ENDPOINTS, SERVERS
from .wrk import ECHO_BODY_SIZE


def plot(summary: dict, args: argparse.Namespace, info: dict, path: Path) -> None:
    """Grouped bars: requests/s per endpoint and server, one panel per configuration,
    error bars spanning the rounds' min–max."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("the chart needs matplotlib: pip install -e '.[load]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    servers = args.servers
    fig, axes = plt.subplots(len(args.configs), 1, figsize=(12, 1.2 + 3.8 * len(args.configs)),
                             squeeze=False, layout="constrained")
    width = 0.84 / len(servers)
    colors = plt.get_cmap("tab10")
    for ax, config_name in zip(axes[:, 0], args.configs):
        for i, name in enumerate(servers):
            xs, heights, low, high = [], [], [], []
            for j, endpoint in enumerate(ENDPOINTS):
                x = j - 0.42 + width * (i + 0.5)
                cell = summary.get((config_name, name, endpoint))
                if cell is None:
                    ax.text(x, 0, " n/a", rotation=90, ha="center", va="bottom", fontsize=7, color="grey")
                    continue
                xs.append(x)
                heights.append(cell["rps"])
                low.append(cell["rps"] - cell["min"])
                high.append(cell["max"] - cell["rps"])
            ax.bar(xs, heights, width, yerr=[low, high], capsize=2, label=SERVERS[name].label,
                   color=colors(i % 10), error_kw={"elinewidth": 0.8})
        ax.set_xticks(range(len(ENDPOINTS)), ["GET /hello", "GET /json", f"POST /echo ({ECHO_BODY_SIZE} B)"])
        ax.set_ylabel("requests/s")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}".replace(",", " ")))
        ax.set_title(f"{config_name}: {CONFIGS[config_name].title}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(servers), 5), fontsize=8,
               frameon=False)
    fig.suptitle(f"zerodep-http vs peers: median requests/s of {args.rounds} round(s), min–max bars "
                 f"({info['nproc']} CPUs, {info['date'][:10]})", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)
