"""The chip-spec object: every constant of a WTM-class compute-in-memory chip, in one place.

No other module holds a chip constant as a literal; they all read a :class:`ChipSpec`. Chip
variants are entries of one registry keyed by name (:data:`CHIPS`), ``WTM2101`` the default.
The numbers restate ``docs/chip-model.md`` (which restates the project's arithmetic contract).
"""

from __future__ import annotations

from dataclasses import dataclass

from wtmkws.audio_pipeline.errors import ConfigError

__all__ = ["ChipSpec", "NoiseSpec", "wtm2101", "CHIPS", "get_chip", "DEFAULT_CHIP"]


@dataclass(frozen=True, kw_only=True)
class NoiseSpec:
    """Published magnitudes of the analog non-idealities (defaults for the non-ideal mode)."""

    programming_std_lsb: float = 2.0
    """Std of each cell's programming error on read-back, in weight LSB (published 1.7-3.0)."""
    read_std_lsb: float = 2.0
    """Std of the read noise of one column sum, in output LSB after the shift (published ~2 LSB at
    layer 0), for a single read; averaging n reads divides it by sqrt(n)."""
    drift_per_decade_frac: float = 0.005
    """Relative loss of cell value per decade of time after programming at 25 C (model choice)."""
    drift_max_frac_25_to_85c: float = 0.03
    """Relative cell-value change from 25 C to 85 C for differential cells (published < 3%)."""
    weak_column_std_factor: float = 2.0
    """Programming-error multiplier for the reserved columns if a user un-reserves them."""


@dataclass(frozen=True, kw_only=True)
class ChipSpec:
    """Geometry, value ranges and budgets of one chip variant (WTM2101 defaults)."""

    name: str = "WTM2101"
    """Chip name used in program files and firmware images."""
    chip_id: int = 0x2101
    """16-bit chip identifier written into firmware images."""
    revision_min: int = 0
    """Lowest silicon revision this spec covers."""
    revision_max: int = 255
    """Highest silicon revision this spec covers."""
    array_rows: int = 1792
    """Rows of the array (input side, driven by DACs)."""
    array_cols: int = 1024
    """Columns of the array (output side, read by ADCs)."""
    reserved_cols: int = 128
    """The first columns, reserved by default (usable area is rows x (cols - reserved))."""
    row_region_split: int = 896
    """Rows 0..split-1 and split..rows-1 are two regions; a layer never spans both."""
    bias_rows_default: int = 8
    """Bias rows per layer unless a layer asks for more."""
    bias_rows_max: int = 16
    """Most bias rows one layer may use."""
    bias_input_code: int = 128
    """Constant input code driven on bias rows."""
    weight_min: int = -128
    """Smallest weight cell value (signed 8-bit)."""
    weight_max: int = 127
    """Largest weight cell value."""
    input_code_min: int = 0
    """Smallest input code (unsigned 8-bit)."""
    input_code_max: int = 255
    """Largest input code."""
    output_min: int = -128
    """Smallest layer output after saturation (signed 8-bit)."""
    output_max: int = 127
    """Largest layer output after saturation."""
    shift_min: int = 8
    """Smallest shift g, G = 2**g."""
    shift_max: int = 13
    """Largest shift g."""
    max_layers: int = 40
    """Most array layers resident on one chip (all networks together)."""
    npu_peak_ops_per_s: float = 50e9
    """NPU peak, operations per second (one MAC = 2 operations)."""
    frame_period_ms: float = 10.0
    """One real-time feature frame (the frontend hop), for the cost model's share of real time."""
    frontend_sample_rate_hz: int = 16000
    """Sample rate of the audio frontend block."""
    frontend_n_fft: int = 512
    """FFT length of the audio frontend block."""
    noise: NoiseSpec = NoiseSpec()
    """Non-ideal magnitudes."""

    def __post_init__(self) -> None:
        if not 0 <= self.reserved_cols < self.array_cols:
            raise ConfigError(
                f"reserved_cols={self.reserved_cols} must be in 0..{self.array_cols - 1}"
            )
        if not 0 < self.row_region_split <= self.array_rows:
            raise ConfigError(f"row_region_split={self.row_region_split} outside 1..{self.array_rows}")
        if not 1 <= self.bias_rows_default <= self.bias_rows_max:
            raise ConfigError("bias_rows_default must be in 1..bias_rows_max")
        if not self.shift_min <= self.shift_max:
            raise ConfigError("shift_min must not exceed shift_max")

    @property
    def usable_cols(self) -> int:
        """Columns available to layers (array_cols - reserved_cols)."""
        return self.array_cols - self.reserved_cols

    @property
    def usable_cells(self) -> int:
        """Cells available to layers (weights and bias rows together)."""
        return self.array_rows * self.usable_cols

    @property
    def row_regions(self) -> tuple[tuple[int, int], ...]:
        """Row regions as half-open (start, stop) pairs."""
        if self.row_region_split == self.array_rows:
            return ((0, self.array_rows),)
        return ((0, self.row_region_split), (self.row_region_split, self.array_rows))

    @property
    def region_rows(self) -> int:
        """Rows of the largest region (the tallest block one layer piece may have)."""
        return max(b - a for a, b in self.row_regions)


def wtm2101() -> ChipSpec:
    """The WTM2101 preset (the default chip)."""
    return ChipSpec()


CHIPS: dict[str, ChipSpec] = {"WTM2101": wtm2101()}
"""Registry of chip variants keyed by name."""

DEFAULT_CHIP = "WTM2101"


def get_chip(name: str = DEFAULT_CHIP) -> ChipSpec:
    """Look a chip up by name (case-insensitive).

    Raises:
        ConfigError: the name is not in the registry.
    """
    for key, spec in CHIPS.items():
        if key.lower() == name.lower():
            return spec
    raise ConfigError(f"unknown chip {name!r}", hint=f"known chips: {', '.join(sorted(CHIPS))}")
