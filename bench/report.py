"""The benchmark report: a Markdown table (every figure beside its baseline) and PNG plots."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.common import Figure, percentile


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    return f"{text} {unit}".strip()


def table(figures: list[Figure]) -> str:
    """The Markdown table."""
    lines = [
        "| figure | ours | baseline (same run) | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        baseline = f"{_fmt(f.baseline, f.unit)} ({f.baseline_name})" if f.baseline else "—"
        ratio = f"{f.ratio:.0%}" if f.ratio is not None else "—"
        met = "—" if f.met is None else ("yes" if f.met else "**no**")
        lines.append(
            f"| {f.name} | {_fmt(f.value, f.unit)} | {baseline} | {ratio} | {f.goal} | {met} |"
        )
    return "\n".join(lines)


def plots(figures: list[Figure], latencies_ms: list[float], out: Path, stem: str) -> list[Path]:
    """Throughput beside baselines, and the latency distribution; the PNG paths."""
    made: list[Path] = []
    paired = [f for f in figures if f.baseline and f.unit.endswith("/s")]
    if paired:
        fig, ax = plt.subplots(figsize=(10, 0.45 * len(paired) + 1.5))
        names = [f.name for f in paired]
        y = range(len(paired))
        ax.barh([i + 0.2 for i in y], [f.baseline or 0 for f in paired], 0.4, label="baseline")
        ax.barh([i - 0.2 for i in y], [f.value for f in paired], 0.4, label="shebao")
        ax.set_yticks(list(y), names, fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("per second (log scale)")
        ax.set_title(f"Throughput beside same-run baselines ({os.cpu_count()} cores)")
        ax.legend()
        fig.tight_layout()
        path = out / f"{stem}-throughput.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made.append(path)
    if latencies_ms:
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.hist(latencies_ms, bins=50)
        for q, style in ((50, "-"), (95, "--"), (99, ":")):
            value = percentile(latencies_ms, q)
            ax.axvline(value, linestyle=style, color="black", label=f"p{q} {value:.0f} ms")
        ax.set_xlabel("ms from command accepted to NotificationSent")
        ax.set_ylabel("messages")
        ax.set_title("End-to-end latency at half the measured journey rate")
        ax.legend()
        fig.tight_layout()
        path = out / f"{stem}-latency.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made.append(path)
    return made
