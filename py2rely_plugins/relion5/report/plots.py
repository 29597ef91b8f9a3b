"""The report's figures, drawn with matplotlib (no display, no pyplot state) into SVG files.
matplotlib is imported here only, when a figure is drawn, so the CLI starts fast."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

WIDTH, HEIGHT, DPI = 6.0, 3.2, 96
THRESHOLD = 0.143

# postprocess.star's data_fsc columns, in the order RELION's own FSC plot draws them.
FSC_COLUMNS = (
    ("rlnFourierShellCorrelationCorrected", "corrected", "#1f77b4"),
    ("rlnFourierShellCorrelationMaskedMaps", "masked", "#2ca02c"),
    ("rlnFourierShellCorrelationUnmaskedMaps", "unmasked", "#ff7f0e"),
    ("rlnCorrectedFourierShellCorrelationPhaseRandomizedMaskedMaps", "phase-randomised (masked)",
     "#d62728"),
)


def _figure(width: float = WIDTH, height: float = HEIGHT, bottom: float = 0.16, top: float = 0.86,
            left: float = 0.1) -> Any:
    from matplotlib.figure import Figure

    # Fixed margins: constrained layout measures every text twice and doubles the drawing time.
    figure = Figure(figsize=(width, height), dpi=DPI)
    figure.subplots_adjust(left=left, right=0.95, bottom=bottom, top=top, wspace=0.3)
    return figure


def _save(figure: Any, path: Path) -> None:
    # SVG with text left as text: a third faster to write than a PNG, smaller and sharp at any zoom.
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "py2rely"}):
        figure.savefig(path, format="svg", metadata={"Date": None})


def _resolution_axis(axes: Any, highest: float) -> None:
    """Label a 1/Å axis in Å as well, on the same ticks (a second axis doubles the drawing time)."""
    ticks = np.linspace(0.0, highest, 6)[1:]
    axes.set_xticks(ticks, [f"{t:.3f}\n{1 / t:.1f} Å" for t in ticks], fontsize=8)
    axes.set_xlim(0.0, highest)


def fsc_plot(table: Any, title: str, resolution: float | None, path: Path) -> None:
    figure = _figure(bottom=0.22, top=0.9)
    axes = figure.subplots()
    frequency = table["rlnResolution"].astype(float).to_numpy()
    for column, label, colour in FSC_COLUMNS:
        if column in table.columns:
            axes.plot(frequency, table[column].astype(float).to_numpy(), label=label, color=colour, lw=1.4)
    axes.axhline(THRESHOLD, color="grey", lw=0.8, ls="--")
    if resolution:
        axes.axvline(1.0 / resolution, color="grey", lw=0.8, ls=":")
    axes.set_ylim(-0.1, 1.05)
    axes.set_xlabel("spatial frequency (1/Å) and resolution")
    axes.set_ylabel("FSC")
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8, loc="lower left")
    _resolution_axis(axes, float(frequency.max()) if len(frequency) else 0.1)
    _save(figure, path)


def resolution_plot(points: Sequence[tuple[str, float, str]], path: Path) -> None:
    """Resolution (Å) per stage, in pipeline order; points are (label, Å, kind)."""
    figure = _figure(WIDTH, 3.4, bottom=0.34, top=0.95, left=0.16)
    axes = figure.subplots()
    colours = {"refine3d": "#1f77b4", "postprocess": "#d62728", "class3d": "#9467bd"}
    x = np.arange(len(points))
    values = [p[1] for p in points]
    axes.plot(x, values, color="#bbbbbb", lw=1, zorder=1)
    for kind, colour in colours.items():
        chosen = [i for i, p in enumerate(points) if p[2] == kind]
        if chosen:
            axes.scatter(x[chosen], [values[i] for i in chosen], color=colour, label=kind, zorder=2)
    for i, value in enumerate(values):
        axes.annotate(f"{value:.1f}", (x[i], value), textcoords="offset points", xytext=(0, 5),
                      ha="center", fontsize=7)
    axes.set_xticks(x, [p[0] for p in points], rotation=25, ha="right", fontsize=7)
    axes.set_ylabel("resolution (Å)")
    axes.invert_yaxis()  # better is up
    axes.legend(fontsize=8)
    _save(figure, path)


def angular_distribution(rot: np.ndarray, tilt: np.ndarray, title: str, path: Path) -> None:
    figure = _figure(WIDTH, 3.0, top=0.9)
    axes = figure.subplots()
    counts, _, _ = np.histogram2d(rot, tilt, bins=(36, 18), range=((-180, 180), (0, 180)))
    shown = axes.imshow(counts.T, origin="lower", extent=(-180, 180, 0, 180), aspect="auto", cmap="viridis",
                        interpolation="nearest")
    figure.colorbar(shown, ax=axes, label="particles")
    axes.set_xlabel("rot (°)")
    axes.set_ylabel("tilt (°)")
    axes.set_title(title, fontsize=10)
    _save(figure, path)


def histograms(panels: Sequence[tuple[str, np.ndarray, str]], path: Path, counted: str = "particles") -> None:
    """Side-by-side histograms; panels are (x label, values, title)."""
    figure = _figure(WIDTH, 2.8, bottom=0.18, top=0.88)
    for axes, (label, values, title) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels,
                                            strict=True):
        finite = values[np.isfinite(values)]
        axes.hist(finite, bins=min(30, max(5, len(finite) // 3)), color="#1f77b4")
        if len(finite):
            axes.axvline(float(np.median(finite)), color="#d62728", lw=1, ls="--")
        axes.set_xlabel(label)
        axes.set_ylabel(counted)
        axes.set_title(title, fontsize=9)
    _save(figure, path)


def class_populations(classes: Sequence[dict[str, Any]], kept: Sequence[int], path: Path) -> None:
    figure = _figure(WIDTH, 2.8, bottom=0.18, top=0.93)
    axes = figure.subplots()
    numbers = [int(c["number"]) for c in classes]
    shares = [float(c["distribution"]) for c in classes]
    colours = ["#2ca02c" if n in kept else "#bbbbbb" for n in numbers]
    bars = axes.bar(range(len(numbers)), shares, color=colours)
    axes.set_xticks(range(len(numbers)), [str(n) for n in numbers])
    for bar, cls in zip(bars, classes, strict=True):
        resolution = float(cls["resolution"])
        text = f"{resolution:.1f} Å" if np.isfinite(resolution) else "no res."
        axes.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    axes.set_xlabel("class (green: kept)")
    axes.set_ylabel("share of particles")
    axes.set_ylim(0, max([*shares, 0.1]) * 1.2)
    _save(figure, path)


def truth_fsc_plot(curves: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]], path: Path) -> None:
    """curves: (label, frequency 1/Å, FSC vs truth, FSC vs mirrored truth)."""
    figure = _figure(bottom=0.22, top=0.95)
    axes = figure.subplots()
    for index, (label, frequency, direct, mirrored) in enumerate(curves):
        colour = f"C{index}"
        axes.plot(frequency, direct, color=colour, lw=1.4, label=f"{label} vs truth")
        axes.plot(frequency, mirrored, color=colour, lw=1, ls="--", label=f"{label} vs mirrored truth")
    axes.axhline(0.5, color="grey", lw=0.8, ls="--")
    axes.axhline(THRESHOLD, color="grey", lw=0.8, ls=":")
    axes.set_ylim(-0.2, 1.05)
    axes.set_xlabel("spatial frequency (1/Å) and resolution")
    axes.set_ylabel("FSC")
    axes.legend(fontsize=7, loc="lower left")
    _resolution_axis(axes, max(float(c[1].max()) for c in curves))
    _save(figure, path)


def timing_plot(rows: Sequence[tuple[str, float, float]], path: Path) -> None:
    """rows: (job, program seconds, orchestration seconds), stacked horizontal bars."""
    height = max(2.2, 0.28 * len(rows) + 0.9)
    figure = _figure(WIDTH, height, bottom=0.6 / height, top=1 - 0.15 / height, left=0.27)
    axes = figure.subplots()
    y = np.arange(len(rows))[::-1]
    program = np.array([r[1] for r in rows])
    overhead = np.array([r[2] for r in rows])
    axes.barh(y, program, color="#1f77b4", label="RELION programs")
    axes.barh(y, overhead, left=program, color="#ff7f0e", label="py2rely + executor")
    axes.set_yticks(y, [r[0] for r in rows], fontsize=7)
    axes.set_xlabel("wall time (s)")
    axes.legend(fontsize=8, loc="lower right")
    _save(figure, path)


def defocus_plot(changes: np.ndarray, title: str, path: Path) -> None:
    histograms([("defocus change (Å)", changes, title)], path, counted="tilts")


def line_plot(x: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], xlabel: str,
              ylabel: str, path: Path, invert: bool = False) -> None:
    """One point per x label, joined, for each (label, values) series."""
    figure = _figure(WIDTH, 2.8, bottom=0.18, top=0.93)
    axes = figure.subplots()
    positions = list(range(len(x)))
    for label, values in series:
        axes.plot(positions, values, marker="o", label=label)
    axes.set_xticks(positions, list(x))
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if invert:
        axes.invert_yaxis()
    axes.legend(fontsize=8)
    _save(figure, path)
