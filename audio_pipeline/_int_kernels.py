"""Numba kernels of the device-exact integer frontend (internal; see ``docs/frontend.md``).

Everything here is integer arithmetic on int64 values: additions, multiplications, arithmetic
right shifts (which round toward minus infinity; ``(a + 2**(s-1)) >> s`` is "round half up"),
comparisons and table look-ups. No floating point value is touched, so the result does not depend
on the CPU, the compiler's vectorisation or the NumPy version. Overflow cannot occur: the
headroom analysis in ``docs/frontend.md`` bounds every intermediate below 2**62.

The public entry point is :func:`wtmkws.audio_pipeline.int_frontend.compute_codes`, which builds
the tables and calls :func:`frames_to_codes`.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["bit_length", "frames_to_codes"]

_JIT = {"cache": True, "nogil": True, "boundscheck": False}


@numba.njit(**_JIT)
def bit_length(value: int) -> int:  # pragma: no cover - compiled
    """Number of bits of a non-negative int64 (0 for 0), like Python's ``int.bit_length``."""
    n = 0
    v = value
    if v >= (1 << 32):
        v >>= 32
        n += 32
    if v >= (1 << 16):
        v >>= 16
        n += 16
    if v >= (1 << 8):
        v >>= 8
        n += 8
    if v >= (1 << 4):
        v >>= 4
        n += 4
    if v >= (1 << 2):
        v >>= 2
        n += 2
    if v >= (1 << 1):
        v >>= 1
        n += 1
    return n + v


@numba.njit(**_JIT)
def frames_to_codes(  # noqa: PLR0913 - a kernel takes its tables explicitly
    x, n_frames, hop, window_q15, block_bits, bitrev, tw_re, tw_im, split_cos, split_sin,
    mel_start, mel_len, mel_offset, mel_w, mel_l2_offset, log2_lut, lut_bits, db_floor_q8,
    is_mfcc, fb_floor_q8, fb_mult, dct_q15, mfcc_offset_q23, mfcc_mult, out,
):  # pragma: no cover - compiled
    """Compute uint8 codes for ``n_frames`` frames of int16 samples ``x`` into ``out``.

    Args mirror :class:`wtmkws.audio_pipeline.int_frontend.FrontendTables` (all int64 arrays).
    """
    n_win = window_q15.shape[0]
    n2 = bitrev.shape[0]            # complex FFT length = n_fft / 2
    n_bins = n2 + 1                 # rfft bins
    n_mels = mel_start.shape[0]
    lut_mask = (1 << lut_bits) - 1
    v = np.empty(n_win, dtype=np.int64)
    zr = np.zeros(n2, dtype=np.int64)
    zi = np.zeros(n2, dtype=np.int64)
    power = np.empty(n_bins, dtype=np.int64)
    db = np.empty(n_mels, dtype=np.int64)
    n_mfcc = dct_q15.shape[0]
    for f in range(n_frames):
        base = f * hop
        # 1. window (exact product, Q15) and block exponent
        peak = 0
        for n in range(n_win):
            t = np.int64(x[base + n]) * window_q15[n]
            v[n] = t
            a = t if t >= 0 else -t
            if a > peak:
                peak = a
        bl = bit_length(peak)
        sh = bl - block_bits if bl > block_bits else 0
        half = (1 << (sh - 1)) if sh > 0 else 0
        # 2. scale to block_bits bits (round half up) and load in bit-reversed order
        for j in range(n2):
            zr[j] = 0
            zi[j] = 0
        for j in range(n2):
            n = 2 * j
            r = bitrev[j]
            if n < n_win:
                zr[r] = (v[n] + half) >> sh
            if n + 1 < n_win:
                zi[r] = (v[n + 1] + half) >> sh
        # 3. radix-2 decimation-in-time complex FFT of length n2, Q30 twiddles, no scaling
        for a_idx in range(0, n2, 2):  # first stage: twiddle 1, no multiply
            ar = zr[a_idx]
            ai = zi[a_idx]
            br = zr[a_idx + 1]
            bi = zi[a_idx + 1]
            zr[a_idx] = ar + br
            zi[a_idx] = ai + bi
            zr[a_idx + 1] = ar - br
            zi[a_idx + 1] = ai - bi
        span = 2
        step = n2 // 4
        while span < n2:
            for start in range(0, n2, 2 * span):
                b_idx = start + span
                ar = zr[start]
                ai = zi[start]
                br = zr[b_idx]
                bi = zi[b_idx]
                zr[start] = ar + br
                zi[start] = ai + bi
                zr[b_idx] = ar - br
                zi[b_idx] = ai - bi
                for k in range(1, span):
                    a_idx = start + k
                    b_idx = a_idx + span
                    wr = tw_re[k * step]
                    wi = tw_im[k * step]
                    br = zr[b_idx]
                    bi = zi[b_idx]
                    tr = (wr * br - wi * bi + (1 << 29)) >> 30
                    ti = (wr * bi + wi * br + (1 << 29)) >> 30
                    ar = zr[a_idx]
                    ai = zi[a_idx]
                    zr[a_idx] = ar + tr
                    zi[a_idx] = ai + ti
                    zr[b_idx] = ar - tr
                    zi[b_idx] = ai - ti
            span *= 2
            step //= 2
        # 4. split the half-length complex FFT into the real FFT (times 2), power per bin
        for k in range(n_bins):
            ka = k if k < n2 else 0
            kb = (n2 - k) if k > 0 else 0
            if kb == n2:
                kb = 0
            pr = zr[ka]
            pi = zi[ka]
            qr = zr[kb]
            qi = -zi[kb]
            ar = pr + qr
            ai = pi + qi
            dr = pr - qr
            di = pi - qi
            c = split_cos[k]
            s = split_sin[k]
            br = (c * di - s * dr + (1 << 29)) >> 30
            bi = (-(s * di) - c * dr + (1 << 29)) >> 30
            xr = ar + br
            xi = ai + bi
            power[k] = xr * xr + xi * xi
        # 5. mel filterbank (Q15 triangle weights, exact sum), 6. log2 -> dB (Q8)
        for m in range(n_mels):
            acc = 0
            k0 = mel_start[m]
            o = mel_offset[m]
            for i in range(mel_len[m]):
                acc += power[k0 + i] * mel_w[o + i]
            if acc <= 0:
                db[m] = db_floor_q8
                continue
            e = bit_length(acc) - 1
            if e >= lut_bits:
                frac = (acc >> (e - lut_bits)) & lut_mask
            else:
                frac = (acc << (lut_bits - e)) & lut_mask
            l2 = (e << 16) + log2_lut[frac] + mel_l2_offset[m] + ((2 * sh) << 16)
            d = (l2 * 197283 + (1 << 23)) >> 24
            db[m] = d if d > db_floor_q8 else db_floor_q8
        # 7. quantize to uint8 input codes
        if is_mfcc:
            for j in range(n_mfcc):
                c = 0
                for m in range(n_mels):
                    c += dct_q15[j, m] * db[m]
                q = (((c - mfcc_offset_q23[j]) * mfcc_mult[j] + (1 << 38)) >> 39) + 128
                if q < 0:
                    q = 0
                elif q > 255:
                    q = 255
                out[f, j] = q
        else:
            for m in range(n_mels):
                q = ((db[m] - fb_floor_q8) * fb_mult + (1 << 23)) >> 24
                if q < 0:
                    q = 0
                elif q > 255:
                    q = 255
                out[f, m] = q
