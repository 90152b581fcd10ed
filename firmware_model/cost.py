"""The cost model: per array layer MACs, array invocations, cells, NPU time and real-time share.

Figures are per *run*: one feature frame for STREAM programs, one window for WINDOW programs. For
WINDOW programs the per-frame figures divide by the hop (``program.metadata["hop_frames"]``,
default 1): the window runs once every hop frames.

* MACs: output positions x weight rows x outputs (bias rows excluded; they are constant inputs).
* Array invocations: output positions x blocks (one read of each placed block per position; an
  unplaced layer counts the blocks :func:`placement.layer_pieces` would make).
* Cells: (weight rows + bias rows) x outputs.
* NPU time: 2 ops per MAC at ``ChipSpec.npu_peak_ops_per_s`` (an optimistic lower bound).
* Share of real time: NPU time per frame / ``ChipSpec.frame_period_ms``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from wtmkws.firmware_model.placement import layer_pieces
from wtmkws.firmware_model.program import ArrayLayer, LayerKind, Program, ProgramMode

__all__ = ["LayerCost", "CostReport", "cost_report"]


@dataclass(frozen=True, kw_only=True)
class LayerCost:
    """Cost of one array layer per run (frame or window)."""

    name: str
    """Layer name."""
    kind: str
    """dense / tdnn / conv2d."""
    positions: int
    """Array invocations of the whole layer per run (conv output positions, else 1)."""
    macs: int
    """Multiply-accumulates per run."""
    invocations: int
    """Block reads per run (positions x blocks)."""
    blocks: int
    """Blocks the layer is placed in."""
    cells: int
    """Cells occupied (weights and bias rows)."""
    npu_time_us: float
    """NPU time per run at the spec's peak, microseconds."""
    frame_share: float
    """Share of one real-time frame period, per frame (fraction, 0.01 = 1 %)."""


@dataclass(frozen=True, kw_only=True)
class CostReport:
    """Per-layer and total cost of a program."""

    program: str
    """Program name."""
    mode: str
    """stream / window."""
    hop_frames: int
    """Frames between runs (1 for STREAM)."""
    layers: tuple[LayerCost, ...]
    """Per array layer."""
    macs: int
    """Total MACs per run."""
    invocations: int
    """Total block reads per run."""
    cells: int
    """Total cells."""
    usable_cells: int
    """Cells available on the chip."""
    n_layers: int
    """Array layers."""
    max_layers: int
    """Layer budget of the chip."""
    npu_time_us: float
    """Total NPU time per run, microseconds."""
    macs_per_frame: float
    """MACs per feature frame (per run / hop)."""
    npu_time_per_frame_us: float
    """NPU time per feature frame, microseconds."""
    frame_share: float
    """Share of one real-time frame period (fraction)."""
    frame_period_ms: float
    """Real-time frame period, ms."""

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        d = asdict(self)
        d["layers"] = [asdict(layer) for layer in self.layers]
        return d


def _positions(layer: ArrayLayer) -> int:
    if layer.kind is LayerKind.CONV2D and layer.conv is not None:
        oh, ow = layer.conv.out_hw
        return oh * ow
    return 1


def cost_report(program: Program) -> CostReport:
    """Estimate the cost of running a program on its chip.

    Args:
        program: the program (placed or not).

    Returns:
        The report (see the module docstring for the definitions).
    """
    spec = program.spec
    hop = 1
    if program.mode is ProgramMode.WINDOW:
        hop = max(1, int(program.metadata.get("hop_frames", 1)))
    frame_s = spec.frame_period_ms / 1000.0
    layers = []
    for layer in program.array_layers:
        pos = _positions(layer)
        macs = pos * layer.n_rows * layer.n_outputs
        blocks = len(layer.blocks) if layer.blocks else len(layer_pieces(layer, spec))
        t_s = 2.0 * macs / spec.npu_peak_ops_per_s
        layers.append(LayerCost(name=layer.name, kind=layer.kind.value, positions=pos, macs=macs,
                                invocations=pos * blocks, blocks=blocks, cells=layer.cells,
                                npu_time_us=t_s * 1e6, frame_share=t_s / hop / frame_s))
    macs = sum(c.macs for c in layers)
    t_us = sum(c.npu_time_us for c in layers)
    return CostReport(program=program.name, mode=program.mode.value, hop_frames=hop, layers=tuple(layers),
                      macs=macs, invocations=sum(c.invocations for c in layers),
                      cells=sum(c.cells for c in layers), usable_cells=spec.usable_cells,
                      n_layers=len(layers), max_layers=spec.max_layers, npu_time_us=t_us,
                      macs_per_frame=macs / hop, npu_time_per_frame_us=t_us / hop,
                      frame_share=t_us / hop / (spec.frame_period_ms * 1000.0),
                      frame_period_ms=spec.frame_period_ms)
