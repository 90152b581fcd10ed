"""Wake word from text alone: synthesize, train a chip model, evaluate it on held-out voices.

    python demos/wakeword_from_text.py --keyword "hey board" --out out/hey_board
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wtmkws.sdk.evaluate import evaluate_wakeword
from wtmkws.sdk.synth import VARIANTS, synthesize, synthesize_negatives
from wtmkws.sdk.train import TrainConfig, train_keyword
from wtmkws.tools.demo import TEST_VARIANTS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--keyword", default="computer")
    ap.add_argument("--out", type=Path, default=Path("out/wakeword_from_text"))
    ap.add_argument("--count", type=int, default=400, help="utterances per class")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    label = args.keyword.lower().replace(" ", "_")
    train_variants = [v for v in VARIANTS if v not in TEST_VARIANTS]  # speakers held out
    data = args.out / "data"
    # 1. positives and confusable negatives, with the training speakers only
    synthesize(args.keyword, out_dir=data / label, count=args.count, seed=args.seed,
               variants=train_variants)
    synthesize_negatives(args.keyword, out_dir=data / "confusables", count=args.count,
                         seed=args.seed + 1, variants=train_variants)
    # 2. train: chip-aware QAT, exported as an exact chip program (program.wtmk)
    result = train_keyword(data, keyword=label, out_dir=args.out / "model",
                           config=TrainConfig(seed=args.seed))
    print("chip accuracy on held-out clips:", result.report["metrics"]["chip_accuracy"])
    # 3. evaluate on voices the model never heard, against background sentences
    test_pos = synthesize(args.keyword, out_dir=args.out / "test" / label, count=40,
                          seed=args.seed + 2, variants=list(TEST_VARIANTS))
    background = synthesize_negatives(args.keyword, out_dir=args.out / "test" / "background",
                                      count=200, seed=args.seed + 3, variants=list(TEST_VARIANTS))
    report = evaluate_wakeword(result.program, positives=test_pos, background=background,
                               keyword=label, seed=args.seed)
    print(report.summary(1.0))


if __name__ == "__main__":
    main()
