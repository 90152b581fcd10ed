"""Benchmark the device-exact frontend: fidelity vs librosa on real speech, and speed.

Run: ``python benchmarks/bench_frontend.py`` (needs ../shared/data). Writes docs/bench/frontend.md.

Fidelity: integer log-mel (``codes_to_float`` of kind="fbank" codes, in dB) against the float
reference ``float_frontend.log_mel_db`` with the same parameters; integer MFCCs
(``codes_to_float`` of kind="mfcc" codes) against ``float_frontend.mfcc``. Frames compared:
those whose float total mel power is within 60 dB of the loudest frame of the same file (this
drops digital silence and near-silent lead-in; every band of a kept frame counts, clipped or not).

Speed: ``compute_codes`` (MFCC) against warm ``librosa.feature.mfcc`` (same n_fft, window, hop,
mels, fmin/fmax, center=False) on the same 10 minutes of LibriSpeech audio, best of 3 runs each,
measured in one process, one after the other.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from wtmkws.audio_pipeline.atomic import atomic_write_text
from wtmkws.audio_pipeline.float_frontend import log_mel_db, mfcc
from wtmkws.audio_pipeline.int_frontend import FrontendConfig, codes_to_float, compute_codes
from wtmkws.audio_pipeline.io import load_audio
from wtmkws.audio_pipeline.streaming import StreamingFrontend

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "docs" / "bench" / "frontend.md"


def _files() -> dict[str, list[Path]]:
    speech = sorted((DATA / "speech" / "librispeech_mini").rglob("*.flac"))
    keywords = sorted((DATA / "keywords" / "picovoice").rglob("*.flac"))
    return {"speech/librispeech_mini (every 2nd file)": speech[::2],
            "keywords/picovoice (every 8th file)": keywords[::8]}


def fidelity(paths: list[Path]) -> dict[str, object]:
    fb, mf = FrontendConfig(kind="fbank"), FrontendConfig(kind="mfcc")
    errs, a_all, b_all, fb_codes, mf_codes = [], [], [], [], []
    seconds = 0.0
    for p in paths:
        x = load_audio(p)
        seconds += x.shape[0] / 16000
        ref = log_mel_db(x, fb)
        total = 10 * np.log10(np.sum(10.0 ** (ref.astype(np.float64) / 10), axis=1))
        keep = total > total.max() - 60.0
        cf = compute_codes(x, fb)
        cm = compute_codes(x, mf)
        errs.append(np.abs(codes_to_float(cf, fb) - ref)[keep])
        a_all.append(codes_to_float(cm, mf)[keep])
        b_all.append(mfcc(x, mf)[keep])
        fb_codes.append(cf[keep])
        mf_codes.append(cm[keep])
    err = np.concatenate(errs).ravel()
    a, b = np.concatenate(a_all), np.concatenate(b_all)
    fbc, mfc = np.concatenate(fb_codes), np.concatenate(mf_codes)
    corr = [float(np.corrcoef(a[:, j], b[:, j])[0, 1]) for j in range(a.shape[1])]
    return {
        "files": len(paths), "seconds": seconds, "frames": int(a.shape[0]),
        "mae_db": float(err.mean()), "p95_db": float(np.percentile(err, 95)),
        "p99_db": float(np.percentile(err, 99)), "max_db": float(err.max()),
        "corr": corr,
        "fbank_clip": (float(np.mean(fbc == 0)), float(np.mean(fbc == 255))),
        "fbank_pct": np.percentile(fbc, [1, 50, 99]).tolist(),
        "mfcc_clip": (float(np.mean(mfc == 0)), float(np.mean(mfc == 255))),
        "mfcc_pct_c0": np.percentile(mfc[:, 0], [1, 50, 99]).tolist(),
        "mfcc_pct_c1": np.percentile(mfc[:, 1], [1, 50, 99]).tolist(),
        "mfcc_std_codes": np.std(mfc.astype(np.float64), axis=0).tolist(),
    }


def ten_minutes() -> np.ndarray:
    parts, n = [], 0
    for p in sorted((DATA / "speech" / "librispeech_mini").rglob("*.flac")):
        x = load_audio(p)
        parts.append(x)
        n += x.shape[0]
        if n >= 600 * 16000:
            break
    return np.concatenate(parts)[: 600 * 16000]


def _best(fn, repeats: int = 3) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def speed(x: np.ndarray) -> dict[str, float]:
    import librosa

    cfg = FrontendConfig()
    y = x.astype(np.float32) / 32768.0
    kw = dict(sr=16000, n_mfcc=13, n_fft=512, hop_length=160, win_length=400, n_mels=40,
              fmin=20.0, fmax=8000.0, center=False)
    compute_codes(x[:16000], cfg)
    librosa.feature.mfcc(y=y[:16000], **kw)
    t_int = _best(lambda: compute_codes(x, cfg))
    t_lib = _best(lambda: librosa.feature.mfcc(y=y, **kw))

    def stream() -> None:
        fe = StreamingFrontend(cfg)
        for i in range(0, x.shape[0], 16000):
            fe.push(x[i:i + 16000])

    t_stream = _best(stream, repeats=1)
    first = subprocess.run(
        [sys.executable, "-c", "import time,numpy as np;t=time.perf_counter();"
         "from wtmkws.audio_pipeline.int_frontend import FrontendConfig,compute_codes;"
         "compute_codes(np.zeros(800,np.int16),FrontendConfig());"
         "print(time.perf_counter()-t)"], capture_output=True, text=True, check=True)
    return {"audio_s": x.shape[0] / 16000, "int_s": t_int, "librosa_s": t_lib,
            "stream_s": t_stream, "first_call_s": float(first.stdout.strip().splitlines()[-1])}


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"../shared/data not found at {DATA}")
    results = {name: fidelity(paths) for name, paths in _files().items()}
    sp = speed(ten_minutes())
    ratio = sp["librosa_s"] / sp["int_s"]
    lines = [
        "# Frontend benchmark",
        "",
        f"Written by `benchmarks/bench_frontend.py` on {datetime.date.today().isoformat()}; "
        f"machine: `{platform.platform()}`, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared with other jobs: timings are noisy); "
        f"Python {platform.python_version()}, NumPy {np.__version__}.",
        "",
        "## Fidelity (integer vs librosa float, same parameters)",
        "",
        "Frames compared: float total mel power within 60 dB of the file's loudest frame; every "
        "band of those frames counts (clipped codes included). Log-mel: `codes_to_float` of "
        "`kind=\"fbank\"` codes (dB) vs `float_frontend.log_mel_db`. MFCC: `codes_to_float` of "
        "`kind=\"mfcc\"` codes vs `float_frontend.mfcc`, Pearson correlation per coefficient "
        "over all kept frames.",
        "",
        "| data | files | audio s | frames | log-mel MAE dB (target <= 1) | p95 | p99 | max | "
        "min MFCC corr c0..c12 (target >= 0.99) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['files']} | {r['seconds']:.0f} | {r['frames']} | "
                     f"{r['mae_db']:.3f} | {r['p95_db']:.2f} | {r['p99_db']:.2f} | "
                     f"{r['max_db']:.2f} | {min(r['corr']):.4f} |")
    lines += ["", "MFCC correlation per coefficient:", "",
              "| data | " + " | ".join(f"c{j}" for j in range(13)) + " |",
              "|---|" + "---:|" * 13]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{c:.4f}" for c in r["corr"]) + " |")
    lines += ["", "Code range use on the kept frames (fraction of codes at 0 / 255; percentiles "
              "1/50/99; MFCC code std per coefficient):", ""]
    for name, r in results.items():
        lines.append(
            f"- {name}: fbank clipped {100 * r['fbank_clip'][0]:.2f}% / "
            f"{100 * r['fbank_clip'][1]:.3f}%, codes p1/p50/p99 = "
            f"{'/'.join(f'{v:.0f}' for v in r['fbank_pct'])}; mfcc clipped "
            f"{100 * r['mfcc_clip'][0]:.3f}% / {100 * r['mfcc_clip'][1]:.3f}%, c0 "
            f"{'/'.join(f'{v:.0f}' for v in r['mfcc_pct_c0'])}, c1 "
            f"{'/'.join(f'{v:.0f}' for v in r['mfcc_pct_c1'])}, std "
            f"{', '.join(f'{v:.1f}' for v in r['mfcc_std_codes'])}")
    lines += [
        "",
        "## Speed (10 minutes of LibriSpeech, best of 3, one process)",
        "",
        "| path | seconds | x real time |",
        "|---|---:|---:|",
        f"| `compute_codes` (device-exact MFCC codes, numba, 1 thread) | {sp['int_s']:.3f} | "
        f"{sp['audio_s'] / sp['int_s']:.0f} |",
        f"| `librosa.feature.mfcc` (warm, float32) | {sp['librosa_s']:.3f} | "
        f"{sp['audio_s'] / sp['librosa_s']:.0f} |",
        f"| `StreamingFrontend`, 1 s chunks (1 run) | {sp['stream_s']:.3f} | "
        f"{sp['audio_s'] / sp['stream_s']:.0f} |",
        "",
        f"**Speed ratio integer / librosa: {ratio:.2f}x** (required >= 0.5x, goal 1.0x). "
        f"First call in a fresh process (import + numba cache load or compile): "
        f"{sp['first_call_s']:.2f} s.",
        "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
