"""The device-exact integer frontend: int16 audio -> uint8 input codes of the compute array.

This models the chip's audio frontend block (16 kHz, 25 ms Hann window, 10 ms hop, 512-point FFT,
40 mel bands, log, DCT to MFCCs) and the final quantization to the array's uint8 input codes.
:func:`compute_codes` uses integer arithmetic only, so its output is the same on every machine
and NumPy version; it is the one frontend used for training, emulation and the device alike.
Every Q-format, rounding and saturation step is written down in ``docs/frontend.md``. In short:

1. window: ``v[n] = x[n] * w_q15[n]`` (Hann, Q15, exact int64 product);
2. block floating point: shift the frame right by ``sh`` (round half up) so its peak has at most
   ``block_bits`` bits; ``sh`` is remembered and added back in the log domain;
3. real FFT of length ``n_fft`` as a complex FFT of length ``n_fft / 2`` (radix 2, decimation in
   time, Q30 twiddles, each product rounded half up, no per-stage scaling: int64 has the headroom)
   followed by the split step, which yields ``2 * X[k]``;
4. power ``|2 X[k]|^2`` (exact int64);
5. mel filterbank: exact sum of power times Q15 triangle weights (Slaney mel scale, un-normalised
   triangles; the Slaney area normalisation is a per-band constant added in the log domain);
6. log: ``log2`` from the leading-bit position plus a 4096-entry Q16 table of the mantissa,
   converted to dB in Q8 (1/256 dB) with one integer multiply; clamped at ``log_floor_db``;
7. ``kind="fbank"``: ``code = clip(round((dB - fbank_floor_db) * fbank_codes_per_db), 0, 255)``;
   ``kind="mfcc"``: orthonormal DCT-II with a Q15 matrix, then
   ``code = clip(round((c - offset_j) * scale_j) + 128, 0, 255)``.

The tables are built once per configuration from float64 formulas and rounded to integers;
:func:`table_digest` hashes them so a test can pin them (see ``docs/frontend.md`` on why the
construction is reproducible).

Example:
    >>> import numpy as np
    >>> cfg = FrontendConfig(kind="fbank")
    >>> codes = compute_codes(np.zeros(16000, dtype=np.int16), cfg)
    >>> codes.shape, codes.dtype, int(codes.max())
    ((98, 40), dtype('uint8'), 0)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from wtmkws.audio_pipeline.errors import AudioFormatError, ConfigError

__all__ = [
    "FeatureKind",
    "FrontendConfig",
    "FrontendTables",
    "build_tables",
    "codes_to_float",
    "compute_codes",
    "num_frames",
    "table_digest",
]

FeatureKind = Literal["mfcc", "fbank"]
"""``"mfcc"``: n_mfcc DCT coefficients per frame; ``"fbank"``: n_mels log-mel bands per frame."""

_KINDS: tuple[str, ...] = ("mfcc", "fbank")
_LUT_BITS = 12
_HEADROOM_BITS = 44  # see docs/frontend.md, "Headroom": 2 + log2(n_fft) + bits(window) + 2B <= 44


@dataclass(frozen=True, kw_only=True)
class FrontendConfig:
    """Parameters of the integer frontend (defaults: the chip's filterbank block).

    All fields are plain numbers so the config round-trips through JSON (:meth:`to_dict`).
    """

    sample_rate_hz: int = 16000
    """Sample rate of the int16 input, in Hz."""
    window_ms: float = 25.0
    """Analysis window length in milliseconds (400 samples at 16 kHz); must be a whole number of
    samples."""
    hop_ms: float = 10.0
    """Frame hop in milliseconds (160 samples at 16 kHz); a whole number of samples, <= window."""
    n_fft: int = 512
    """FFT length in samples: a power of two >= the window length (the window is zero padded)."""
    n_mels: int = 40
    """Number of mel bands (Slaney mel scale, triangular filters)."""
    fmin_hz: float = 20.0
    """Lower edge of the lowest mel band, in Hz."""
    fmax_hz: float = 8000.0
    """Upper edge of the highest mel band, in Hz (at most sample_rate_hz / 2)."""
    kind: str = "mfcc"
    """Output features: ``"mfcc"`` (n_mfcc coefficients) or ``"fbank"`` (n_mels log-mel bands)."""
    n_mfcc: int = 13
    """Number of MFCC coefficients (DCT-II, orthonormal, like ``librosa.feature.mfcc``)."""
    log_floor_db: float = -100.0
    """Log-mel values are clamped below at this level in dB (librosa's ``amin=1e-10``)."""
    fbank_floor_db: float = -100.0
    """fbank: the level in dB that maps to code 0."""
    fbank_codes_per_db: float = 2.0
    """fbank: codes per dB (2.0: 0.5 dB steps, codes 0..255 span -100..+27.5 dB)."""
    mfcc_codes_per_unit: float = 0.75
    """mfcc: codes per MFCC unit for coefficients 1..n_mfcc-1 (code 128 is 0.0)."""
    mfcc_c0_codes_per_unit: float = 0.4
    """mfcc: codes per MFCC unit for coefficient 0 (the overall level)."""
    mfcc_c0_offset: float = -316.0
    """mfcc: the value of coefficient 0 that maps to code 128 (-316 = mean band level -50 dB)."""

    def __post_init__(self) -> None:
        def bad(name: str, value: Any, allowed: str) -> ConfigError:
            return ConfigError(f"FrontendConfig.{name}={value!r}: must be {allowed}",
                               hint="fix the frontend configuration")

        for name in ("sample_rate_hz", "n_fft", "n_mels", "n_mfcc"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise bad(name, value, "an integer")
        for name in ("window_ms", "hop_ms", "fmin_hz", "fmax_hz", "log_floor_db", "fbank_floor_db",
                     "fbank_codes_per_db", "mfcc_codes_per_unit", "mfcc_c0_codes_per_unit",
                     "mfcc_c0_offset"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(float(value)):
                raise bad(name, value, "a finite number")
        if not 1000 <= self.sample_rate_hz <= 192000:
            raise bad("sample_rate_hz", self.sample_rate_hz, "in 1000..192000")
        if self.kind not in _KINDS:
            raise ConfigError(f"FrontendConfig.kind={self.kind!r}: must be one of "
                              f"{', '.join(_KINDS)}", hint="use --kind mfcc or --kind fbank")
        for name in ("window_ms", "hop_ms"):
            samples = float(getattr(self, name)) * self.sample_rate_hz / 1000.0
            if samples < 1 or abs(samples - round(samples)) > 1e-6:
                raise bad(name, getattr(self, name),
                          f"a positive whole number of samples at {self.sample_rate_hz} Hz")
        if self.hop_samples > self.window_samples:
            raise bad("hop_ms", self.hop_ms, f"<= window_ms ({self.window_ms})")
        if self.window_samples < 8:
            raise bad("window_ms", self.window_ms, "at least 8 samples long")
        n = int(self.n_fft)
        if n < self.window_samples or n & (n - 1) or n > 4096:
            raise bad("n_fft", n, f"a power of two in {self.window_samples}..4096 (>= the window)")
        if self.block_bits < 8:  # pragma: no cover - unreachable with n_fft <= 4096
            raise bad("n_fft", n, "small enough to leave 8 bits of FFT headroom")
        if not 0.0 <= self.fmin_hz < self.fmax_hz <= self.sample_rate_hz / 2:
            raise bad("fmin_hz/fmax_hz", (self.fmin_hz, self.fmax_hz),
                      f"0 <= fmin_hz < fmax_hz <= {self.sample_rate_hz / 2}")
        if not 1 <= self.n_mels <= n // 2 + 1:
            raise bad("n_mels", self.n_mels, f"in 1..{n // 2 + 1}")
        if not 1 <= self.n_mfcc <= self.n_mels:
            raise bad("n_mfcc", self.n_mfcc, f"in 1..n_mels ({self.n_mels})")
        if not -200.0 <= self.log_floor_db <= 0.0:
            raise bad("log_floor_db", self.log_floor_db, "in -200..0 dB")
        if not -200.0 <= self.fbank_floor_db <= 100.0:
            raise bad("fbank_floor_db", self.fbank_floor_db, "in -200..100 dB")
        for name in ("fbank_codes_per_db", "mfcc_codes_per_unit", "mfcc_c0_codes_per_unit"):
            if not 1.0 / 64 <= float(getattr(self, name)) <= 64.0:
                raise bad(name, getattr(self, name), "in 1/64..64")
        if not -2000.0 <= self.mfcc_c0_offset <= 2000.0:
            raise bad("mfcc_c0_offset", self.mfcc_c0_offset, "in -2000..2000")
        empty = np.flatnonzero(build_tables(self).mel_len == 0)
        if empty.size:
            raise ConfigError(
                f"FrontendConfig: mel band(s) {empty.tolist()} get no FFT bin with "
                f"n_fft={self.n_fft}, n_mels={self.n_mels}, fmin_hz={self.fmin_hz}",
                hint="use fewer mel bands, a larger n_fft or a higher fmin_hz")

    @property
    def window_samples(self) -> int:
        """Window length in samples."""
        return int(round(float(self.window_ms) * self.sample_rate_hz / 1000.0))

    @property
    def hop_samples(self) -> int:
        """Hop length in samples."""
        return int(round(float(self.hop_ms) * self.sample_rate_hz / 1000.0))

    @property
    def n_features(self) -> int:
        """Features per frame: n_mfcc for ``"mfcc"``, n_mels for ``"fbank"``."""
        return int(self.n_mfcc if self.kind == "mfcc" else self.n_mels)

    @property
    def block_bits(self) -> int:
        """Peak magnitude bits of the block-floating-point FFT input (13 for the defaults)."""
        return (_HEADROOM_BITS - (int(self.n_fft).bit_length() - 1)
                - self.window_samples.bit_length()) // 2

    def to_dict(self) -> dict[str, Any]:
        """Every field as a JSON-safe dict (ints and floats; ``kind`` a string)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value if isinstance(value, str) else (
                int(value) if f.type in ("int", int) else float(value))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrontendConfig:
        """Build a config from :meth:`to_dict` output; missing keys take the defaults.

        Raises:
            ConfigError: an unknown key or an invalid value.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"frontend description must be a dict, got {type(data).__name__}",
                              hint="pass FrontendConfig.to_dict() output")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"frontend description has unknown key(s) {unknown}",
                              hint=f"allowed keys: {', '.join(sorted(names))}")
        return cls(**data)


@dataclass(frozen=True, kw_only=True, eq=False)
class FrontendTables:
    """The integer tables of one :class:`FrontendConfig` (all int64 arrays, read-only).

    Built by :func:`build_tables` from float64 formulas rounded half-to-even; see
    ``docs/frontend.md`` for each table's Q-format.
    """

    window_q15: np.ndarray = field(repr=False)
    """(window_samples,) periodic Hann window, round(w * 2**15)."""
    bitrev: np.ndarray = field(repr=False)
    """(n_fft/2,) bit-reversal permutation of the half-length complex FFT."""
    tw_re: np.ndarray = field(repr=False)
    """(n_fft/4,) round(cos(2 pi k / (n_fft/2)) * 2**30)."""
    tw_im: np.ndarray = field(repr=False)
    """(n_fft/4,) round(-sin(2 pi k / (n_fft/2)) * 2**30)."""
    split_cos: np.ndarray = field(repr=False)
    """(n_fft/2 + 1,) round(cos(2 pi k / n_fft) * 2**30), for the real-FFT split."""
    split_sin: np.ndarray = field(repr=False)
    """(n_fft/2 + 1,) round(sin(2 pi k / n_fft) * 2**30)."""
    mel_start: np.ndarray = field(repr=False)
    """(n_mels,) first FFT bin with a non-zero weight in each band."""
    mel_len: np.ndarray = field(repr=False)
    """(n_mels,) number of bins of each band."""
    mel_offset: np.ndarray = field(repr=False)
    """(n_mels,) start of each band's weights in ``mel_w``."""
    mel_w: np.ndarray = field(repr=False)
    """(sum(mel_len),) triangle weights, round(t * 2**15), peak <= 32768."""
    mel_l2_offset: np.ndarray = field(repr=False)
    """(n_mels,) Q16 log2 constant per band: round(log2(slaney_norm) * 2**16) - 77 * 2**16."""
    log2_lut: np.ndarray = field(repr=False)
    """(4096,) round(log2(1 + (i + 0.5) / 4096) * 2**16)."""
    dct_q15: np.ndarray = field(repr=False)
    """(n_mfcc, n_mels) orthonormal DCT-II matrix, round(d * 2**15)."""
    mfcc_offset_q23: np.ndarray = field(repr=False)
    """(n_mfcc,) per-coefficient offsets, round(offset * 2**23)."""
    mfcc_mult: np.ndarray = field(repr=False)
    """(n_mfcc,) per-coefficient codes-per-unit, round(scale * 2**16)."""
    fb_floor_q8: int
    """fbank floor in Q8 dB: round(fbank_floor_db * 256)."""
    fb_mult: int
    """fbank codes per dB, round(fbank_codes_per_db * 2**16)."""
    db_floor_q8: int
    """log floor in Q8 dB: round(log_floor_db * 256)."""


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney (Auditory Toolbox) mel scale, as ``librosa.hz_to_mel(htk=False)``."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(f >= min_log_hz,
                    min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel`."""
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_triangles(config: FrontendConfig) -> tuple[np.ndarray, np.ndarray]:
    """Float64 un-normalised Slaney triangles and their area normalisation (librosa's formula).

    Returns:
        ((n_mels, n_fft/2 + 1) float64 weights with peak <= 1, (n_mels,) float64 factors
        ``2 / (f[m+2] - f[m])``); ``librosa.filters.mel(norm="slaney")`` is their product.
    """
    n_bins = config.n_fft // 2 + 1
    fft_hz = np.arange(n_bins, dtype=np.float64) * (config.sample_rate_hz / config.n_fft)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(np.float64(config.fmin_hz)),
                                    _hz_to_mel(np.float64(config.fmax_hz)), config.n_mels + 2))
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    weights = np.zeros((config.n_mels, n_bins), dtype=np.float64)
    for m in range(config.n_mels):
        lower = -ramps[m] / fdiff[m]
        upper = ramps[m + 2] / fdiff[m + 1]
        weights[m] = np.maximum(0.0, np.minimum(lower, upper))
    norm = 2.0 / (mel_hz[2:config.n_mels + 2] - mel_hz[:config.n_mels])
    return weights, norm


def _round(a: np.ndarray | float) -> np.ndarray:
    """Round half to even to int64 (numpy's rint), the one rounding used to build tables."""
    return np.rint(np.asarray(a, dtype=np.float64)).astype(np.int64)


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


def _dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """Orthonormal DCT-II, (n_mfcc, n_mels) float64 (scipy's ``dct(type=2, norm="ortho")``)."""
    j = np.arange(n_mfcc, dtype=np.float64)[:, None]
    m = np.arange(n_mels, dtype=np.float64)[None, :]
    d = np.cos(np.pi * j * (2.0 * m + 1.0) / (2.0 * n_mels)) * math.sqrt(2.0 / n_mels)
    d[0, :] = math.sqrt(1.0 / n_mels)
    return d


@functools.lru_cache(maxsize=32)
def build_tables(config: FrontendConfig) -> FrontendTables:
    """Build (once per config, cached) the integer tables of the frontend.

    Args:
        config: the frontend configuration.

    Returns:
        The tables; arrays are read-only int64.
    """
    n_win, n_fft = config.window_samples, int(config.n_fft)
    n2 = n_fft // 2
    n = np.arange(n_win, dtype=np.float64)
    window_q15 = _round((0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_win)) * 32768.0)
    bits = n2.bit_length() - 1
    bitrev = np.array([int(format(i, f"0{bits}b")[::-1], 2) if bits else 0 for i in range(n2)],
                      dtype=np.int64)
    k = np.arange(max(n2 // 2, 1), dtype=np.float64)
    tw_re = _round(np.cos(2.0 * np.pi * k / n2) * 2.0**30)
    tw_im = _round(-np.sin(2.0 * np.pi * k / n2) * 2.0**30)
    ks = np.arange(n2 + 1, dtype=np.float64)
    split_cos = _round(np.cos(2.0 * np.pi * ks / n_fft) * 2.0**30)
    split_sin = _round(np.sin(2.0 * np.pi * ks / n_fft) * 2.0**30)
    tri, norm = mel_triangles(config)
    tri_q15 = _round(tri * 32768.0)
    starts, lens, offsets, weights = [], [], [], []
    pos = 0
    for m in range(config.n_mels):
        nz = np.flatnonzero(tri_q15[m])
        start = int(nz[0]) if nz.size else 0
        length = int(nz[-1] - nz[0] + 1) if nz.size else 0
        starts.append(start)
        lens.append(length)
        offsets.append(pos)
        weights.append(tri_q15[m, start:start + length])
        pos += length
    mel_w = np.concatenate(weights) if pos else np.zeros(0, dtype=np.int64)
    mel_l2_offset = _round(np.log2(norm) * 65536.0) - 77 * 65536
    i = np.arange(1 << _LUT_BITS, dtype=np.float64)
    log2_lut = _round(np.log2(1.0 + (i + 0.5) / (1 << _LUT_BITS)) * 65536.0)
    dct_q15 = _round(_dct_matrix(config.n_mfcc, config.n_mels) * 32768.0)
    offsets_f = np.zeros(config.n_mfcc)
    offsets_f[0] = config.mfcc_c0_offset
    scales = np.full(config.n_mfcc, float(config.mfcc_codes_per_unit))
    scales[0] = config.mfcc_c0_codes_per_unit
    tables = FrontendTables(
        window_q15=window_q15, bitrev=bitrev, tw_re=tw_re, tw_im=tw_im, split_cos=split_cos,
        split_sin=split_sin, mel_start=np.array(starts, dtype=np.int64),
        mel_len=np.array(lens, dtype=np.int64), mel_offset=np.array(offsets, dtype=np.int64),
        mel_w=mel_w.astype(np.int64), mel_l2_offset=mel_l2_offset, log2_lut=log2_lut,
        dct_q15=dct_q15, mfcc_offset_q23=_round(offsets_f * 2.0**23),
        mfcc_mult=_round(scales * 65536.0),
        fb_floor_q8=int(_round(float(config.fbank_floor_db) * 256.0)),
        fb_mult=int(_round(float(config.fbank_codes_per_db) * 65536.0)),
        db_floor_q8=int(_round(float(config.log_floor_db) * 256.0)),
    )
    _readonly(*(getattr(tables, f.name) for f in dataclasses.fields(tables)
                if isinstance(getattr(tables, f.name), np.ndarray)))
    return tables


def table_digest(config: FrontendConfig) -> str:
    """SHA-256 (hex) of every integer table of ``config``, in a fixed order and byte layout.

    A test pins this value for the default config, so a change of a table (a formula edit, or a
    platform whose libm rounds differently) is caught.
    """
    tables = build_tables(config)
    h = hashlib.sha256()
    for f in dataclasses.fields(tables):
        value = getattr(tables, f.name)
        h.update(f.name.encode())
        h.update(np.asarray(value, dtype="<i8").tobytes())
    return h.hexdigest()


def num_frames(n_samples: int, config: FrontendConfig) -> int:
    """Number of whole frames in ``n_samples`` samples (no padding).

    Returns:
        0 if ``n_samples < window_samples``, else ``1 + (n_samples - window) // hop``.
    """
    win, hop = config.window_samples, config.hop_samples
    if n_samples < win:
        return 0
    return 1 + (int(n_samples) - win) // hop


def _as_int16(samples: np.ndarray) -> np.ndarray:
    a = np.asarray(samples)
    if a.ndim != 1:
        raise AudioFormatError(f"samples must be a 1-D (n,) array, got shape {a.shape}",
                               hint="mix to mono first (io.to_int16_mono)")
    if a.dtype == np.int16:
        return np.ascontiguousarray(a)
    if a.dtype.kind in "iu":
        if a.size and (int(a.min()) < -32768 or int(a.max()) > 32767):
            raise AudioFormatError(
                f"samples of dtype {a.dtype} are outside the int16 range "
                f"({int(a.min())}..{int(a.max())})", hint="convert with io.to_int16_mono")
        return a.astype(np.int16)
    raise AudioFormatError(f"samples must be int16 (got dtype {a.dtype})",
                           hint="convert float audio with io.to_int16_mono(data, rate)")


def compute_codes(samples: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Device-exact features: int16 audio to uint8 input codes, integer arithmetic only.

    Args:
        samples: (n,) int16 mono audio at ``config.sample_rate_hz`` (other integer dtypes are
            accepted when every value is in the int16 range).
        config: the frontend configuration.

    Returns:
        (num_frames(n, config), config.n_features) uint8 codes; frame k covers samples
        ``[k * hop, k * hop + window)``.

    Raises:
        AudioFormatError: samples are not 1-D or not integers in the int16 range.
    """
    from wtmkws.audio_pipeline._int_kernels import frames_to_codes

    x = _as_int16(samples)
    t = build_tables(config)
    n_frames = num_frames(x.shape[0], config)
    out = np.zeros((n_frames, config.n_features), dtype=np.uint8)
    if n_frames == 0:
        return out
    frames_to_codes(
        x, n_frames, config.hop_samples, t.window_q15, config.block_bits, t.bitrev, t.tw_re,
        t.tw_im, t.split_cos, t.split_sin, t.mel_start, t.mel_len, t.mel_offset, t.mel_w,
        t.mel_l2_offset, t.log2_lut, _LUT_BITS, t.db_floor_q8, config.kind == "mfcc",
        t.fb_floor_q8, t.fb_mult, t.dct_q15, t.mfcc_offset_q23, t.mfcc_mult, out)
    return out


def codes_to_float(codes: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Dequantize uint8 codes to feature units (the inverse of step 7, up to rounding).

    Args:
        codes: (n_frames, n_features) uint8 codes from :func:`compute_codes`.
        config: the configuration that produced them.

    Returns:
        (n_frames, n_features) float32: dB (re 1.0 full-scale power, like
        ``librosa.power_to_db(ref=1.0)``) for ``"fbank"``, MFCC units for ``"mfcc"``.

    Raises:
        ConfigError: the last axis does not match ``config.n_features``.
    """
    c = np.asarray(codes)
    if c.ndim < 1 or c.shape[-1] != config.n_features:
        raise ConfigError(f"codes have shape {c.shape}; kind={config.kind!r} needs "
                          f"{config.n_features} features on the last axis",
                          hint="dequantize with the FrontendConfig that computed the codes")
    t = build_tables(config)
    c = c.astype(np.float64)
    if config.kind == "fbank":
        out = c / (t.fb_mult / 65536.0) + t.fb_floor_q8 / 256.0
    else:
        out = (c - 128.0) / (t.mfcc_mult / 65536.0) + t.mfcc_offset_q23 / 2.0**23
    return out.astype(np.float32)
