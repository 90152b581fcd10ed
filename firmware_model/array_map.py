"""A PNG map of the array: which layer occupies which cells (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

from wtmkws.audio_pipeline.atomic import atomic_path
from wtmkws.firmware_model.program import Program, ProgramError

__all__ = ["plot_array_map"]


def plot_array_map(program: Program, path: str | Path, *, dpi: int = 110) -> Path:
    """Draw the placed program on the array and save it as a PNG (atomically).

    Reserved columns are hatched grey, the row-region split is a dashed line, each block is a
    rectangle coloured per layer (bias rows darker) and labelled with the layer name.

    Args:
        program: a placed program.
        path: destination PNG.
        dpi: resolution.

    Returns:
        The path written.

    Raises:
        ProgramError: the program is not placed.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    layers = program.array_layers
    if any(not layer.blocks for layer in layers):
        raise ProgramError(f"program {program.name!r} is not placed; nothing to map",
                           hint="place it first (placement.place) or load a saved .wtmk file")
    spec = program.spec
    fig = Figure(figsize=(8, 12))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(0, spec.array_cols)
    ax.set_ylim(spec.array_rows, 0)
    ax.set_aspect("equal")
    ax.add_patch(Rectangle((0, 0), spec.reserved_cols, spec.array_rows, facecolor="0.85",
                           edgecolor="0.5", hatch="//", label="reserved columns"))
    if spec.row_region_split < spec.array_rows:
        ax.axhline(spec.row_region_split, color="k", linestyle="--", linewidth=1)
    cmap = matplotlib.colormaps["tab20"]
    for i, layer in enumerate(layers):
        color = cmap(i % 20)
        for b in layer.blocks:
            w_rows = b.in_rows[1] - b.in_rows[0]
            ax.add_patch(Rectangle((b.col0, b.row0), b.n_cols, w_rows, facecolor=color, edgecolor="k",
                                   linewidth=0.4))
            if b.bias_rows:
                ax.add_patch(Rectangle((b.col0, b.row0 + w_rows), b.n_cols, b.bias_rows, facecolor="k",
                                       alpha=0.6, linewidth=0))
            if b.n_cols * b.n_rows > 2000:
                ax.text(b.col0 + b.n_cols / 2, b.row0 + b.n_rows / 2, layer.name, ha="center",
                        va="center", fontsize=6, clip_on=True)
    used = sum(layer.cells for layer in layers)
    ax.set_title(f"{program.name}: {len(layers)}/{spec.max_layers} layers, {used:,}/{spec.usable_cells:,} "
                 f"cells ({100 * used / spec.usable_cells:.1f} %)", fontsize=9)
    ax.set_xlabel("column (ADC side)")
    ax.set_ylabel("row (DAC side)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path
