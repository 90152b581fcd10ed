"""The non-ideal mode: a seeded simulated chip instance that perturbs only the accumulation step.

Three effects, each from its own explicit source of randomness derived from the seed with
``np.random.SeedSequence(seed).spawn(2)``:

* **Programming error** (child 0, a PCG64 generator): every weight cell and bias cell gets an
  additive Gaussian error of std ``programming_std_lsb`` weight LSB, drawn once when the chip is
  created (layers in program order, weights then bias cells, row-major). Cells in the chip's
  natively reserved columns (physical column < the registry chip's ``reserved_cols``), used only if
  a spec un-reserves them, get ``NoiseSpec.weak_column_std_factor`` times that std.
* **Read noise** (child 1): every column-sum read of every block gets a Gaussian error whose std,
  after the layer's shift, is ``read_std_lsb / sqrt(reads)`` output LSB (averaging ``reads`` reads
  is drawn as one sample of the averaged std). The draw for (layer, frame index) comes from a
  Philox generator keyed by (seed, layer) with the index as counter, so the noise is a deterministic
  function of (seed, layer, frame index): batch and streaming runs agree, and a run repeated with
  the same chip gives the same outputs. For WINDOW programs the index is the window's position in
  the batch. A layer split into several row blocks is read once per block, so it collects more
  read noise: this is where placement matters.
* **Drift** (deterministic): every cell value is multiplied by
  ``(1 - drift_per_decade_frac * log10(1 + t / 1 s)) * (1 - drift_max_frac_25_to_85c * max(T - 25, 0) / 60)``
  where t is the time since programming and T the temperature in C. The temperature term reaches the
  published bound for differential cells (under 3 % from 25 C to 85 C) at 85 C; the time term is a
  model choice (``NoiseSpec.drift_per_decade_frac``).

Exactness of the non-ideal arithmetic: perturbed cell values and read-noise samples are rounded to
a grid of 2**-8 LSB, so every accumulator is an exact dyadic number in float64 whatever the
summation order; the same seed gives the same outputs on every run and machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.firmware_model.program import ArrayLayer, Program, ProgramError
from wtmkws.firmware_model.spec import NoiseSpec, get_chip

__all__ = ["NonIdealConfig", "NonIdealChip", "drift_factor", "GRID_LSB"]

_NS = NoiseSpec()
GRID_LSB = 2.0**-8
"""Resolution of perturbed cell values and read-noise samples (exact dyadic arithmetic)."""


@dataclass(frozen=True, kw_only=True)
class NonIdealConfig:
    """Magnitudes of the non-idealities (defaults: the WTM2101 ``ChipSpec.noise``)."""

    programming_std_lsb: float = _NS.programming_std_lsb
    """Std of each cell's programming error, weight LSB (published 1.7-3.0)."""
    read_std_lsb: float = _NS.read_std_lsb
    """Std of one read of a column sum, output LSB after the shift (published ~2 at layer 0)."""
    reads: int = 1
    """Reads averaged per column sum: 1, 2 or 4 (std divided by sqrt(reads))."""
    drift_time_s: float = 0.0
    """Time since programming, seconds."""
    temperature_c: float = 25.0
    """Chip temperature, degrees C."""

    def __post_init__(self) -> None:
        if not (self.programming_std_lsb >= 0 and math.isfinite(self.programming_std_lsb)):
            raise ConfigError(f"programming_std_lsb={self.programming_std_lsb} must be finite and >= 0")
        if not (self.read_std_lsb >= 0 and math.isfinite(self.read_std_lsb)):
            raise ConfigError(f"read_std_lsb={self.read_std_lsb} must be finite and >= 0")
        if self.reads not in (1, 2, 4):
            raise ConfigError(f"reads={self.reads} must be 1, 2 or 4")
        if not (self.drift_time_s >= 0 and math.isfinite(self.drift_time_s)):
            raise ConfigError(f"drift_time_s={self.drift_time_s} must be finite and >= 0")
        if not -40.0 <= self.temperature_c <= 125.0:
            raise ConfigError(f"temperature_c={self.temperature_c} outside -40..125")

    @classmethod
    def from_spec(cls, noise: NoiseSpec, **overrides: float) -> "NonIdealConfig":
        """Defaults from a chip's :class:`NoiseSpec`, with keyword overrides."""
        base = {"programming_std_lsb": noise.programming_std_lsb, "read_std_lsb": noise.read_std_lsb}
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, float]:
        """JSON-safe dict of the fields."""
        return {"programming_std_lsb": self.programming_std_lsb, "read_std_lsb": self.read_std_lsb,
                "reads": self.reads, "drift_time_s": self.drift_time_s,
                "temperature_c": self.temperature_c}


def drift_factor(drift_time_s: float, temperature_c: float, noise: NoiseSpec) -> float:
    """Multiplicative factor on cell values after drift (1.0 = no drift).

    Args:
        drift_time_s: seconds since programming.
        temperature_c: temperature, C.
        noise: magnitudes (``drift_per_decade_frac``, ``drift_max_frac_25_to_85c``).
    """
    time_term = noise.drift_per_decade_frac * math.log10(1.0 + drift_time_s / 1.0)
    temp_term = noise.drift_max_frac_25_to_85c * max(temperature_c - 25.0, 0.0) / 60.0
    return max(0.0, 1.0 - time_term) * max(0.0, 1.0 - temp_term)


def _grid(v: np.ndarray) -> np.ndarray:
    return np.round(v / GRID_LSB) * GRID_LSB


@dataclass(frozen=True, eq=False)
class _LayerNoise:
    weights: np.ndarray  # (rows, outs) float64 effective cells
    bias: np.ndarray  # (outs,) float64 bias_input_code * sum of effective bias cells
    reads: tuple[tuple[int, int, int], ...]  # (col start, col stop, offset in the read vector)
    n_read_cols: int
    read_std_acc: float
    key: np.ndarray  # (2,) uint64 Philox key
    shapes: tuple[tuple[int, int], tuple[int, int]]


@dataclass(frozen=True, eq=False)
class NonIdealChip:
    """One simulated chip instance (create with :meth:`create`)."""

    program: Program
    """The placed program the instance was programmed with."""
    config: NonIdealConfig
    """Magnitudes."""
    seed: int
    """Seed of this instance."""
    drift: float
    """Multiplicative drift factor applied to every cell."""
    _layers: dict[str, _LayerNoise] = field(repr=False)

    @classmethod
    def create(cls, program: Program, config: NonIdealConfig | None = None, *, seed: int) -> "NonIdealChip":
        """Program a simulated chip: draw the programming error once and derive the read keys.

        Args:
            program: the program (placed here if it has no placement).
            config: magnitudes; defaults from the program's ``ChipSpec.noise``.
            seed: seed of this chip instance (non-negative int).

        Returns:
            The chip instance.

        Raises:
            ProgramError: invalid program or one that does not fit.
        """
        from wtmkws.firmware_model.placement import place
        from wtmkws.firmware_model.validate import validate_program

        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"seed={seed!r} must be a non-negative integer")
        validate_program(program)
        spec = program.spec
        if config is None:
            config = NonIdealConfig.from_spec(spec.noise)
        if any(not layer.blocks for layer in program.array_layers):
            program = place(program)
        weak_cols = get_chip(program.chip).reserved_cols
        prog_ss, read_ss = np.random.SeedSequence(int(seed)).spawn(2)
        prog_rng = np.random.Generator(np.random.PCG64(prog_ss))
        layers = program.array_layers
        read_children = read_ss.spawn(len(layers))
        drift = drift_factor(config.drift_time_s, config.temperature_c, spec.noise)
        out: dict[str, _LayerNoise] = {}
        for layer, child in zip(layers, read_children):
            out[layer.name] = cls._program_layer(layer, config, spec.noise, spec.bias_input_code,
                                                 weak_cols, prog_rng, drift, child)
        return cls(program=program, config=config, seed=int(seed), drift=drift, _layers=out)

    @staticmethod
    def _program_layer(layer: ArrayLayer, config: NonIdealConfig, noise: NoiseSpec, bias_code: int,
                       weak_cols: int, rng: np.random.Generator, drift: float,
                       child: np.random.SeedSequence) -> _LayerNoise:
        rows, outs = layer.weights.shape
        r_b = layer.n_bias_rows
        std_w = np.full((rows, outs), float(config.programming_std_lsb))
        std_b = np.full((r_b, outs), float(config.programming_std_lsb))
        reads = []
        off = 0
        for b in layer.blocks:
            c0, c1 = b.out_cols
            phys = b.col0 + np.arange(c1 - c0)
            factor = np.where(phys < weak_cols, noise.weak_column_std_factor, 1.0)
            std_w[b.in_rows[0]:b.in_rows[1], c0:c1] *= factor[None, :]
            if b.bias_rows:
                std_b[:, c0:c1] *= factor[None, :]
            reads.append((c0, c1, off))
            off += c1 - c0
        w = layer.weights.astype(np.float64) + std_w * rng.standard_normal((rows, outs))
        bc = layer.bias_cells.astype(np.float64) + std_b * rng.standard_normal((r_b, outs))
        w = _grid(w * drift)
        bc = _grid(bc * drift)
        bias = bias_code * bc.sum(axis=0)
        key = child.generate_state(2, np.uint64)
        return _LayerNoise(weights=w, bias=bias, reads=tuple(reads), n_read_cols=off,
                           read_std_acc=config.read_std_lsb * 2.0**layer.shift / math.sqrt(config.reads),
                           key=key, shapes=(layer.weights.shape, layer.bias_cells.shape))

    def check_program(self, program: Program) -> None:
        """Refuse a program whose array layers differ from the one this chip was programmed with.

        Raises:
            ProgramError: a layer is missing or has other shapes.
        """
        for layer in program.array_layers:
            ln = self._layers.get(layer.name)
            if ln is None or ln.shapes != (layer.weights.shape, layer.bias_cells.shape):
                raise ProgramError(f"non-ideal chip (seed {self.seed}) was programmed with "
                                   f"{self.program.name!r}, which has no layer {layer.name!r} of "
                                   f"shape {layer.weights.shape}",
                                   hint="create the NonIdealChip from the program you run")

    def effective_cells(self, layer_name: str) -> tuple[np.ndarray, np.ndarray]:
        """Perturbed weights (rows, outs) float64 and bias (outs,) float64 of a layer."""
        ln = self._layers[layer_name]
        return ln.weights.copy(), ln.bias.copy()

    def read_noise(self, layer_name: str, index: int, positions: int) -> np.ndarray:
        """The read noise of one frame/window index, in accumulator units.

        Args:
            layer_name: the array layer.
            index: frame index (STREAM, the layer's output frame) or window index (WINDOW).
            positions: array invocations at that index (conv output positions, else 1).

        Returns:
            (positions, n_outputs) float64: the sum over the layer's blocks of each block's
            column-read noise, on the 2**-8 grid.
        """
        ln = self._layers[layer_name]
        outs = ln.shapes[0][1]
        total = np.zeros((positions, outs))
        if ln.read_std_acc == 0.0:
            return total
        gen = np.random.Generator(np.random.Philox(key=ln.key, counter=[0, 0, int(index), 0]))
        z = _grid(gen.standard_normal((positions, ln.n_read_cols)) * ln.read_std_acc)
        for c0, c1, off in ln.reads:
            total[:, c0:c1] += z[:, off:off + c1 - c0]
        return total

    def accumulate(self, layer_name: str, codes: np.ndarray, indices: np.ndarray, per_index: int) -> np.ndarray:
        """Non-ideal step 2 of one array layer.

        Args:
            layer_name: the layer.
            codes: (len(indices) * per_index, rows) integer input codes, grouped by index.
            indices: (n,) frame/window indices of the groups.
            per_index: positions per index.

        Returns:
            (P, outputs) float64 accumulator (perturbed cells, bias and read noise).
        """
        ln = self._layers[layer_name]
        acc = codes.astype(np.float64) @ ln.weights + ln.bias
        if ln.read_std_acc and len(indices):
            noise = np.concatenate([self.read_noise(layer_name, int(k), per_index) for k in indices])
            acc += noise
        return acc
