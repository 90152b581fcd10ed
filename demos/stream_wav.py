"""Stream a WAV through a chip program chunk by chunk, as the board does, and print detections.

    python demos/stream_wav.py PROGRAM.wtmk AUDIO.wav --chunk-ms 20 --threshold 0.8
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wtmkws.audio_pipeline.io import iter_audio_blocks
from wtmkws.firmware_model.engine import DetectorConfig, InferenceEngine
from wtmkws.firmware_model.program_io import load_program


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("program", type=Path)
    ap.add_argument("audio", type=Path)
    ap.add_argument("--chunk-ms", type=float, default=20.0)
    ap.add_argument("--threshold", type=float, default=0.8)
    args = ap.parse_args()

    program = load_program(args.program)
    engine = InferenceEngine(program, DetectorConfig(threshold=args.threshold))
    block = int(16000 * args.chunk_ms / 1000)
    for chunk in iter_audio_blocks(args.audio, block_samples=block):
        for event in engine.push(chunk):  # integer frontend -> emulator -> smoothing -> events
            print(f"{event.time_s:8.2f} s  {event.label:<16} score {event.score:.3f}")


if __name__ == "__main__":
    main()
