"""Wake word from real recordings: the Picovoice "computer" clips, other keywords as negatives.

    python demos/wakeword_from_recordings.py --shared ../shared --out out/computer

DATA layout expected by ``train_keyword``: ``DATA/<label>/*.wav|flac``; every label other than the
keyword is a negative. Here the shared keyword folders are used as they are.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wtmkws.sdk.evaluate import evaluate_wakeword
from wtmkws.sdk.train import TrainConfig, train_keyword


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--out", type=Path, default=Path("out/computer"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    data = args.shared / "data"
    noise = sorted((data / "noise" / "speech_commands_bg").glob("*.flac"))
    result = train_keyword(data / "keywords" / "picovoice", keyword="computer", out_dir=args.out,
                           config=TrainConfig(seed=args.seed), noise=noise)
    print("chip accuracy on held-out clips:", result.report["metrics"]["chip_accuracy"])
    # false alarms per hour on LibriSpeech speech mixed with noise at 10 dB, as the field measures
    split = json.loads((args.out / "split.json").read_text())  # the held-out 20%
    test = [Path(p) for p in split["test"] if Path(p).parent.name == "computer"]
    report = evaluate_wakeword(result.program, positives=test,
                               background=sorted((data / "speech").rglob("*.flac")),
                               noise=noise, snr_db=10.0, keyword="computer", seed=args.seed)
    for target in (1.0, 0.1):
        print(report.summary(target))


if __name__ == "__main__":
    main()
