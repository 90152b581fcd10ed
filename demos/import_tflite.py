"""Compile a public int8 .tflite model onto the chip and compare it with ai-edge-litert.

    python demos/import_tflite.py --shared ../shared --model micro_speech

Each public model expects its own frontend (see ../shared/models/README.md); the features of
real recordings are computed with it, calibration uses >= 100 windows, and the fidelity report
compares the chip program (bit-accurate emulator) with the .tflite model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from wtmkws.audio_pipeline.io import load_audio
from wtmkws.firmware_model.program_io import save_program
from wtmkws.sdk.compile import CompileOptions, compile_model
from wtmkws.sdk.model_frontends import MODEL_FRONTENDS, clip_windows, features_to_codes

FILES = {"micro_speech": "micro_speech_quantized.tflite", "kws_ref": "kws_ref_model.tflite"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--model", choices=sorted(FILES), default="micro_speech")
    ap.add_argument("--out", type=Path, default=Path("out/imported.wtmk"))
    args = ap.parse_args()

    frontend = MODEL_FRONTENDS[args.model]
    clips = sorted((args.shared / "data" / "keywords" / "picovoice").rglob("*.flac"))[::8]
    windows = [frontend.features(w) for f in clips for w in clip_windows(load_audio(f),
                                                                         max_windows=1)]
    codes = features_to_codes(np.stack(windows))
    calib, test = codes[: len(codes) // 2], codes[len(codes) // 2:]
    result = compile_model(args.shared / "models" / FILES[args.model], calib,
                           options=CompileOptions(noise_seed=1), fidelity_data=test)
    fid = result.report["fidelity"]["ideal"]["output"]
    print(f"{args.model}: top-1 agreement {fid['top1_agreement']:.3f}, "
          f"cosine {fid['cosine_mean']:.4f}, {result.report['array_layers']} array layers")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_program(result.program, args.out, golden_inputs=test[:4])
    print("program written to", args.out)


if __name__ == "__main__":
    main()
