"""An independent, plain per-element pure-Python model of the integer frontend.

Written from ``docs/frontend.md`` with Python ints, obvious loops and a *recursive* FFT (the fast
kernel is iterative with a bit-reversal load), so agreement checks the arithmetic contract, not
one implementation against itself. It shares only the integer tables, which are pinned by hash in
``tests/test_int_frontend.py``. Slow: use it on a few frames.
"""

from __future__ import annotations

from wtmkws.audio_pipeline.int_frontend import FrontendConfig, build_tables, num_frames

__all__ = ["reference_codes"]


def _round_shift(value: int, shift: int) -> int:
    """Round half up then shift right (Python's >> floors, like an arithmetic shift)."""
    if shift == 0:
        return value
    return (value + (1 << (shift - 1))) >> shift


def _fft(values: list[tuple[int, int]], tw_re: list[int], tw_im: list[int], full: int) -> list:
    """Recursive radix-2 DIT FFT; twiddle W_L^k = table[k * full / L], products Q30, round half up."""
    size = len(values)
    if size == 1:
        return [values[0]]
    even = _fft(values[0::2], tw_re, tw_im, full)
    odd = _fft(values[1::2], tw_re, tw_im, full)
    out: list[tuple[int, int]] = [(0, 0)] * size
    half = size // 2
    for k in range(half):
        br, bi = odd[k]
        if k == 0:
            tr, ti = br, bi
        else:
            wr = tw_re[k * (full // size)]
            wi = tw_im[k * (full // size)]
            tr = _round_shift(wr * br - wi * bi, 30)
            ti = _round_shift(wr * bi + wi * br, 30)
        er, ei = even[k]
        out[k] = (er + tr, ei + ti)
        out[k + half] = (er - tr, ei - ti)
    return out


def _clip(value: int, lo: int, hi: int) -> int:
    return lo if value < lo else hi if value > hi else value


def reference_codes(samples: list[int], config: FrontendConfig,
                    frames: list[int] | None = None) -> list[list[int]]:
    """Codes of the chosen frames (all when None), per docs/frontend.md, in Python ints."""
    t = build_tables(config)
    win = [int(v) for v in t.window_q15]
    n_fft = config.n_fft
    n2 = n_fft // 2
    tw_re = [int(v) for v in t.tw_re]
    tw_im = [int(v) for v in t.tw_im]
    total = num_frames(len(samples), config)
    chosen = list(range(total)) if frames is None else frames
    result = []
    for f in chosen:
        start = f * config.hop_samples
        v = [int(samples[start + n]) * win[n] for n in range(len(win))]
        peak = max(abs(a) for a in v)
        sh = max(0, peak.bit_length() - config.block_bits)
        u = [_round_shift(a, sh) for a in v] + [0] * (n_fft - len(v))
        z = [(u[2 * j], u[2 * j + 1]) for j in range(n2)]
        spec = _fft(z, tw_re, tw_im, n2)
        power = []
        for k in range(n2 + 1):
            pr, pi = spec[k % n2]
            qr, qi = spec[(n2 - k) % n2]
            qi = -qi
            ar, ai = pr + qr, pi + qi
            dr, di = pr - qr, pi - qi
            c, s = int(t.split_cos[k]), int(t.split_sin[k])
            br = _round_shift(c * di - s * dr, 30)
            bi = _round_shift(-s * di - c * dr, 30)
            power.append((ar + br) ** 2 + (ai + bi) ** 2)
        db = []
        for m in range(config.n_mels):
            o, k0 = int(t.mel_offset[m]), int(t.mel_start[m])
            acc = sum(power[k0 + i] * int(t.mel_w[o + i]) for i in range(int(t.mel_len[m])))
            if acc == 0:
                db.append(t.db_floor_q8)
                continue
            e = acc.bit_length() - 1
            frac = (acc * (1 << 12) >> e) & 4095  # the 12 bits after the leading one
            l2 = e * 65536 + int(t.log2_lut[frac]) + int(t.mel_l2_offset[m]) + 2 * sh * 65536
            db.append(max(_round_shift(l2 * 197283, 24), t.db_floor_q8))
        if config.kind == "fbank":
            codes = [_clip(_round_shift((d - t.fb_floor_q8) * t.fb_mult, 24), 0, 255) for d in db]
        else:
            codes = []
            for j in range(config.n_mfcc):
                c = sum(int(t.dct_q15[j, m]) * db[m] for m in range(config.n_mels))
                q = _round_shift((c - int(t.mfcc_offset_q23[j])) * int(t.mfcc_mult[j]), 39)
                codes.append(_clip(q + 128, 0, 255))
        result.append(codes)
    return result
