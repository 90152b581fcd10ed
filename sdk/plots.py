"""Figures for detection and evaluation (matplotlib, Agg backend, atomic PNG writes).

* :func:`plot_detection`: waveform, smoothed posteriors, thresholds and events of one file.
* :func:`plot_det_curve`: DET curve (false-reject rate vs false alarms per hour, log x) of one or
  more :class:`~wtmkws.sdk.evaluate.WakewordReport`, with the 1 FA/h and 1 FA/10 h operating points.
* :func:`plot_confusion`: confusion matrix of a :class:`~wtmkws.sdk.evaluate.CommandReport`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wtmkws.audio_pipeline.atomic import atomic_path
__all__ = ["plot_confusion", "plot_det_curve", "plot_detection"]

_FA_FLOOR = 0.01
"""FA/h drawn for points with zero false alarms (a log axis cannot show 0)."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def plot_detection(trace: Any, path: str | Path, *, title: str | None = None) -> Path:
    """Waveform + posteriors + thresholds + events of one :class:`~wtmkws.sdk.detect.DetectionTrace`.

    Args:
        trace: the detection trace.
        path: output PNG.
        title: figure title (default: the file name).

    Returns:
        The written path.
    """
    plt = _pyplot()
    fig, (ax_w, ax_p) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True,
                                     gridspec_kw={"height_ratios": [1, 1.4]})
    x = trace.samples.astype(np.float32) / 32768.0
    t = np.arange(x.shape[0]) / float(trace.sample_rate_hz)
    step = max(1, x.shape[0] // 200000)
    ax_w.plot(t[::step], x[::step], lw=0.4, color="0.3")
    ax_w.set_ylabel("waveform")
    ax_w.set_ylim(-1, 1)
    bg = set(trace.detector.background_labels)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, lab in enumerate(trace.labels):
        c = colors[j % len(colors)]
        style = ":" if lab in bg else "-"
        ax_p.plot(trace.scores.times_s, trace.scores.posteriors[:, j], style, lw=1.0, color=c,
                  label=lab)
        if lab not in bg:
            ax_p.axhline(trace.detector.threshold_for(lab), color=c, lw=0.8, ls="--", alpha=0.7)
    for e in trace.events:
        j = trace.labels.index(e.label)
        c = colors[j % len(colors)]
        for ax in (ax_w, ax_p):
            ax.axvline(e.time_s, color=c, lw=1.2, alpha=0.8)
        ax_p.annotate(f"{e.label} {e.score:.2f}", (e.time_s, min(e.score, 0.98)), fontsize=8,
                      xytext=(3, 0), textcoords="offset points", color=c)
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_xlabel("time (s) - event time = end of the audio consumed")
    ax_p.set_ylabel("smoothed posterior")
    ax_p.legend(loc="upper right", fontsize=8, ncol=min(4, len(trace.labels)))
    name = title or (trace.path.name if trace.path is not None else "audio")
    ax_w.set_title(f"{name}: {len(trace.events)} event(s)")
    return _save(fig, path)


def plot_det_curve(reports: Any | Sequence[Any], path: str | Path, *,
                   names: Sequence[str] | None = None, title: str | None = None) -> Path:
    """DET curve PNG: false-reject rate vs false alarms per hour (log x).

    Points with zero false alarms are drawn at 0.01 FA/h. The 1 FA/h and 1 FA/10 h operating points
    of each report are marked.

    Args:
        reports: one WakewordReport or a list of them (e.g. ideal vs non-ideal, ours vs PocketSphinx).
        path: output PNG.
        names: legend names (default: report engine names).
        title: figure title.

    Returns:
        The written path.
    """
    plt = _pyplot()
    if not isinstance(reports, (list, tuple)):
        reports = [reports]
    names = list(names) if names is not None else [r.engine for r in reports]
    fig, ax = plt.subplots(figsize=(7, 5))
    for rep, name in zip(reports, names):
        fa, miss = rep.det_curve()
        fa_plot = np.maximum(fa, _FA_FLOOR)
        line, = ax.step(fa_plot, miss * 100, where="post", lw=1.5, label=name)
        marked: dict[tuple[float, float], list[str]] = {}  # one label per distinct point
        for target, marker in ((1.0, "o"), (0.1, "s")):
            p = rep.operating_point(target)
            xy = (max(p.fa_per_hour, _FA_FLOOR), p.miss_rate * 100)
            ax.plot(*xy, marker, color=line.get_color(), ms=7, mfc="none", mew=1.5)
            marked.setdefault(xy, []).append(f"{target:g}")
        for (x, y), targets in marked.items():
            ax.annotate(f"{y:.1f}% @ {' and '.join(targets)} FA/h", (x, y), fontsize=7,
                        xytext=(5, 4), textcoords="offset points", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel(f"false alarms per hour (log; 0 drawn at {_FA_FLOOR})")
    ax.set_ylabel("false-reject (miss) rate, %")
    ax.set_ylim(-2, 102)
    for target in (0.1, 1.0):
        ax.axvline(target, color="0.6", lw=0.8, ls=":")
    ax.grid(True, which="both", alpha=0.3)
    r0 = reports[0]
    snr = "clean" if r0.snr_db is None else f"{r0.snr_db:g} dB SNR"
    ax.set_title(title or f"DET '{r0.keyword}': {r0.n_positives} keywords, "
                          f"{r0.background_hours:.2f} h background, {snr}")
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def plot_confusion(report: Any, path: str | Path, *, title: str | None = None) -> Path:
    """Confusion-matrix PNG (rows true, columns predicted; counts and row-normalised colour).

    Args:
        report: a CommandReport.
        path: output PNG.
        title: figure title.

    Returns:
        The written path.
    """
    plt = _pyplot()
    conf = np.asarray(report.confusion)
    n = conf.shape[0]
    rows = conf.sum(axis=1, keepdims=True)
    norm = np.divide(conf, rows, out=np.zeros(conf.shape, dtype=np.float64), where=rows > 0)
    size = max(4.0, 0.6 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if conf[i, j]:
                ax.text(j, i, str(int(conf[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), report.labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), report.labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true label")
    ax.set_title(title or f"{report.engine}: accuracy {report.accuracy * 100:.1f}% "
                          f"({int(conf.sum())} files)")
    return _save(fig, path)
