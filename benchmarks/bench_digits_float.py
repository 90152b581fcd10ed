"""Benchmark: the float ceiling of the spoken-digit task (FSDD, leave one speaker out).

Run: ``python benchmarks/bench_digits_float.py [--epochs 30] [--speakers george,...]``.

Trains a plain float Keras twin of the chip TDNN (three dilated Conv1D layers 96 wide with the
chip model's contexts, a Dense output, the mean logit over time; inputs normalized per feature,
no quantization, no chip arithmetic) on the same 0.8 s fbank-code windows as
``bench_train_digits.py`` and measures held-out-speaker accuracy. If the float twin is no better
than the chip program, the shortfall is the data (five training speakers), not quantization.
Writes ``benchmarks/out/digits/float_ceiling.json`` and ``docs/bench/digits_float.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from wtmkws.audio_pipeline.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
FSDD = ROOT.parent / "shared" / "data" / "digits" / "fsdd"
OUT = ROOT / "benchmarks" / "out"
MD = ROOT / "docs" / "bench" / "digits_float.md"


def load_windows(frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, frames, 40) uint8 fbank-code windows, (N,) digit labels, (N,) speakers."""
    from wtmkws.audio_pipeline.int_frontend import compute_codes
    from wtmkws.sdk.datasets import speaker_of
    from wtmkws.sdk.feature_cache import FeatureCache
    from wtmkws.sdk.train import _energy_crop, default_frontend

    fe = default_frontend()
    cache = FeatureCache(OUT / ".feature_cache", fe)
    pad = np.asarray(compute_codes(np.zeros(fe.window_samples * 2, np.int16), fe))[0]
    xs, ys, ss = [], [], []
    for p in sorted(FSDD.glob("*.flac")):
        xs.append(_energy_crop(cache.codes(p), frames, pad))
        ys.append(int(p.stem.split("_")[0]))
        ss.append(speaker_of(p))
    return np.stack(xs), np.asarray(ys), np.asarray(ss)


def one_fold(x: np.ndarray, y: np.ndarray, s: np.ndarray, held: str, *, epochs: int,
             augment: bool, seed: int) -> dict[str, float]:
    """Train the float twin without ``held`` and return its held-out accuracy."""
    import keras
    from wtmkws.sdk.models import _TDNN_CONTEXTS
    from wtmkws.sdk.train import AugmentConfig, _spec_masks

    tr, te = s != held, s == held
    mu = x[tr].mean(axis=(0, 1))
    sd = x[tr].std(axis=(0, 1)) + 1e-3
    keras.utils.set_random_seed(seed)
    inp = keras.Input((None, x.shape[-1]))
    h = inp
    for ctx in _TDNN_CONTEXTS:  # evenly spaced offsets: a dilated convolution
        h = keras.layers.Conv1D(96, len(ctx), dilation_rate=ctx[1] - ctx[0], activation="relu")(h)
    h = keras.layers.Dense(10)(h)
    model = keras.Model(inp, keras.layers.GlobalAveragePooling1D()(h))
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    aug = AugmentConfig(freq_warp_prob=0.5 if augment else 0.0, time_masks=2 if augment else 0,
                        freq_masks=2 if augment else 0, channel_codes=8.0 if augment else 0.0)
    rng = np.random.default_rng(seed)
    x_te = (x[te] - mu) / sd
    accs = []
    for _ in range(epochs):
        xb = _spec_masks(x[tr], aug, rng).astype(np.float32)
        model.fit((xb - mu) / sd, y[tr], batch_size=32, epochs=1, verbose=0)
        accs.append(float(np.mean(np.argmax(model.predict(x_te, verbose=0), -1) == y[te])))
    return {"last": accs[-1], "mean_last10": float(np.mean(accs[-10:])), "best": max(accs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speakers", default="", help="comma-separated held-out speakers")
    args = ap.parse_args()
    if not FSDD.is_dir():
        print(f"needs {FSDD} (../shared beside the repo)", file=sys.stderr)
        return 2
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    x, y, s = load_windows(80)
    speakers = [k for k in args.speakers.split(",") if k] or sorted(set(s))
    rows = []
    for spk in speakers:
        for augment in (False, True):
            t0 = time.perf_counter()
            r = one_fold(x, y, s, spk, epochs=args.epochs, augment=augment, seed=args.seed)
            rows.append({"speaker": spk, "augment": augment, **r,
                         "seconds": time.perf_counter() - t0})
            print(rows[-1], flush=True)
    (OUT / "digits").mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "digits" / "float_ceiling.json", json.dumps(rows, indent=2) + "\n")
    chip = {}
    res = OUT / "digits" / "results.json"
    if res.is_file():
        chip = {f["speaker"]: f["chip_accuracy"] for f in json.loads(res.read_text())["folds"]}
    lines = [
        "# Spoken digits: the float ceiling", "",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}, {_dt.date.today().isoformat()}. "
        f"`python benchmarks/bench_digits_float.py --epochs {args.epochs}`.", "",
        "A float Keras twin of the chip TDNN (same contexts and width, Conv1D + ReLU, inputs "
        "normalized per feature, no quantization) trained on the same 0.8 s windows of the five "
        "other FSDD speakers, held-out speaker accuracy after each epoch. 'augmented' adds the "
        "code-domain frequency warp (p=0.5), SpecAugment masks and channel offsets of the chip "
        "run. Mean of the last 10 epochs (the accuracy swings between epochs).", "",
        "| held-out speaker | float, clean | float, augmented | best epoch (augmented) | "
        "chip program (bench_train_digits) |",
        "|---|---:|---:|---:|---:|",
    ]
    for spk in speakers:
        c = next(r for r in rows if r["speaker"] == spk and not r["augment"])
        a = next(r for r in rows if r["speaker"] == spk and r["augment"])
        chip_txt = f"{chip[spk]:.1%}" if spk in chip else "n/a"
        lines.append(f"| {spk} | {c['mean_last10']:.1%} | {a['mean_last10']:.1%} | "
                     f"{a['best']:.1%} | {chip_txt} |")
    mc = np.mean([r["mean_last10"] for r in rows if not r["augment"]])
    ma = np.mean([r["mean_last10"] for r in rows if r["augment"]])
    lines += [f"| **mean** | **{mc:.1%}** | **{ma:.1%}** | | |", ""]
    atomic_write_text(MD, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
