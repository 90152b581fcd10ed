"""Compile the two public .tflite models and measure fidelity vs ai-edge-litert on real audio.

Inputs: 1 s windows from ../shared/data (picovoice keywords, librispeech_mini, fsdd digits) through
each model's own frontend (wtmkws.sdk.model_frontends). Calibration uses a disjoint set of windows.
Writes docs/bench/compile.md. Timings are noisy: the machine is shared.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from wtmkws.audio_pipeline.atomic import atomic_write_text  # noqa: E402
from wtmkws.audio_pipeline.io import load_audio  # noqa: E402
from wtmkws.sdk.compile import CompileOptions, compile_model  # noqa: E402
from wtmkws.sdk.model_frontends import MODEL_FRONTENDS, clip_windows, features_to_codes  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
MODELS = {"kws_ref": "kws_ref_model.tflite", "micro_speech": "micro_speech_quantized.tflite"}


def windows(name: str) -> tuple[np.ndarray, np.ndarray]:
    fe = MODEL_FRONTENDS[name]
    d = SHARED / "data"
    groups = [sorted((d / "keywords" / "picovoice").rglob("*.flac"))[::10],
              sorted((d / "speech" / "librispeech_mini").rglob("*.flac"))[::6],
              sorted((d / "digits" / "fsdd").glob("*.flac"))[::20]]
    calib, test = [], []
    for files in groups:
        for i, f in enumerate(files):
            for w in clip_windows(load_audio(f), max_windows=2):
                (calib if i % 4 == 0 else test).append(fe.features(w))
    return features_to_codes(np.stack(calib)), features_to_codes(np.stack(test))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", choices=sorted(MODELS), help="run one model only (prints the row, "
                    "does not rewrite docs/bench/compile.md)")
    args = ap.parse_args()
    rows = []
    for name, fname in MODELS.items():
        if args.model and name != args.model:
            continue
        calib, test = windows(name)
        t0 = time.perf_counter()
        res = compile_model(SHARED / "models" / fname, calib,
                            options=CompileOptions(fidelity=False))
        t_compile = time.perf_counter() - t0
        res = compile_model(SHARED / "models" / fname, calib,
                            options=CompileOptions(noise_seed=1, max_fidelity_examples=len(test)),
                            fidelity_data=test)
        f = res.report["fidelity"]
        rows.append((name, len(calib), len(test), t_compile, f["ideal"]["output"],
                     f["nonideal"]["output"], res.report["array_layers"], res.report["cells"]))
    lines = [
        "# Compiler benchmark", "",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores (shared; timings noisy). "
        f"Date: {datetime.date.today().isoformat()}.", "",
        "Inputs: 1 s windows from picovoice keywords, librispeech_mini and fsdd digits through each "
        "model's frontend; calibration on a disjoint set. Output compared: pre-softmax logits "
        "(dequantized) vs ai-edge-litert. Default CompileOptions (column pairs and bias correction on; "
        "see docs/compiler.md for the effect of each). Non-ideal: default NonIdealConfig, seed 1.",
        "",
        "| model | calib / test windows | layers | cells | compile s (target < 30) | ideal top-1 (>= 0.98) "
        "| ideal cosine (>= 0.99) | ideal max/mean err LSB | non-ideal top-1 | non-ideal cosine |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, nc, nt, tc, fi, fn, nl, cells in rows:
        lines.append(f"| {name} | {nc} / {nt} | {nl} | {cells} | {tc:.1f} | "
                     f"{fi['top1_agreement']:.3f} | {fi['cosine_mean']:.4f} | "
                     f"{fi['max_abs_err_lsb']:.1f} / {fi['mean_abs_err_lsb']:.2f} | "
                     f"{fn['top1_agreement']:.3f} | {fn['cosine_mean']:.4f} |")
    if args.model:
        print("\n".join(lines))
        return
    out = ROOT / "docs" / "bench" / "compile.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
