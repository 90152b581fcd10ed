"""Benchmark of the end-to-end demo (issue 8): wall time of ``--quick`` and the full demo, and the
figures the demo prints; writes docs/bench/demo.md.

    python benchmarks/bench_demo.py            # quick and full, held-out speakers, and full
                                               # with held-out accents (about 30 min on 2 cores)
    python benchmarks/bench_demo.py --only quick   # one run again; the other rows are kept
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from wtmkws.audio_pipeline.atomic import atomic_write_text
from wtmkws.tools.demo import TEST_VARIANTS, TEST_VOICES, DemoConfig, run_demo

ROOT = Path(__file__).resolve().parent.parent
NOISE = ROOT.parent / "shared" / "data" / "noise" / "speech_commands_bg"


NOTES: tuple[str, ...] = (
    "- Diagnosis (quick runs, model scores in the evaluation stream): the held-out speakers' "
    "keywords reach a smoothed posterior of only 0.5-0.85 (median), and one or two background "
    "peaks per 10-30 min (often the same sentence, \"Two blue fish swam in the tank\", at "
    "\"two blue\") set the 1 FA/h threshold near 0.85-0.9. The chip program classifies held-out "
    "clips of the training speakers at 100% (keyword) and 92% (background incl. confusables).",
    "- Kept because they match the evaluation, with effects within run-to-run noise on quick "
    "runs: keywords trained next to running speech (the end of a sentence before and the start "
    "of another after, 0-0.2 s away), as the evaluation stream splices them into speech; 83 "
    "espeak-ng variants instead of 21; 22-24 instead of 16 epochs (14-16 instead of 10 for "
    "--quick). Which variants are held out matters too: with 'Andy' (no third formant) and "
    "'anika' among the four instead of m6 and f2, an otherwise identical full run missed 84%.",
    "- The lever that worked is data: a quick run with 900 keywords, 900 confusables and 1600 "
    "background sentences (instead of 300, 300, 800) missed 25% instead of 72.5%, with the "
    "held-out keywords' median score 0.88 against a background maximum of 0.77; the sizes were "
    "raised to 900/900/1600 with 12 epochs (quick, to stay under 5 minutes) and 1600/1200/3000 "
    "(full). A quick run with 600/600/1200 and 14 epochs missed 65% and, in the first benchmark "
    "run, 100%.",
    "- Tried on quick runs, not adopted: code-domain frequency warp p=0.5 (65% -> 82.5%); "
    "detector smoothing 1-24 frames (5 is as good as any); width 192 (the network died and "
    "training took 3.5x as long); initial weights filling the int8 range (bias rows saturate, "
    "no gain).",
    "- The same full settings vary from run to run: `make demo` from a fresh clone (install "
    "included, 11.3 min in all, 9.6 min of training) missed 45.0% at 0 FA/h with the board "
    "detecting 3 of 5, against 7.5% in the table's run. The target is met in one run of two, so it "
    "is not met reliably; averaging several seeds per figure is the honest next measurement.",
    "- Each figure rests on 40-80 keywords and a threshold set by the single highest background "
    "peak, and espeak-ng's waveform noise is not seedable: repeated runs of one setting differ "
    "by 10-20 points.",
)
"""Findings written under the table."""


def one(quick: bool, holdout: str = "speakers") -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        r = run_demo(DemoConfig(out_dir=Path(tmp) / "demo", quick=quick, holdout=holdout,
                                noise_dir=NOISE if NOISE.is_dir() else None))
        seconds = time.perf_counter() - t0
    hits = sum(1 for e in r.board_events if e["hit"])
    print(f"{'quick' if quick else 'full'} {holdout}: miss {r.miss_rate_at_1fa_h:.1%}, "
          f"{seconds / 60:.1f} min, board {hits} of {len(r.board_keyword_times_s)}", flush=True)
    return {"size": "quick" if quick else "full", "holdout": holdout, "seconds": seconds,
            "stages": r.stage_seconds,
            "miss": r.miss_rate_at_1fa_h, "fa": r.fa_per_hour, "bg_min": r.background_hours * 60,
            "keywords": r.n_test_keywords, "board": f"{hits} of {len(r.board_keyword_times_s)}",
            "flash": r.flash["summary"]}


ROWS = ROOT / "benchmarks" / "out" / "demo_rows.json"
"""Every measured row (size, holdout, figures), so one row can be measured again alone."""

RUNS: dict[str, tuple[bool, str]] = {"quick": (True, "speakers"), "full": (False, "speakers"),
                                     "accents": (False, "accents")}
"""Run name -> (quick, holdout)."""


def write_page(rows: list[dict[str, object]], peak_mb: float) -> str:
    """docs/bench/demo.md from the rows (quick, full, accents order); returns the text."""
    order = {("quick", "speakers"): 0, ("full", "speakers"): 1, ("full", "accents"): 2}
    rows = sorted(rows, key=lambda r: order.get((r["size"], r["holdout"]), 9))
    lines = [
        "# Demo benchmark", "",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores (shared with other jobs; timings "
        f"noisy). Date: {datetime.date.today().isoformat()}. Noise: "
        f"{'../shared Speech Commands noise' if NOISE.is_dir() else 'generated'}. Peak RSS "
        f"{peak_mb:.0f} MB. Times exclude the install (`make demo` adds it: about 3 minutes "
        "with a warm pip cache).", "",
        "| size | test holds out | total min (quick < 5, make demo < 20) | train min | miss @ 1 "
        "FA/h, held-out voices (target <= 10%) | FA/h there | test background min | keywords | "
        "board stream detected | flash |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        held = ("speakers (variants " + ", ".join(TEST_VARIANTS) + ")" if r["holdout"] ==
                "speakers" else "accents (" + ", ".join(TEST_VOICES) + ")")
        lines.append(f"| {r['size']} | {held} | {r['seconds'] / 60:.1f} | "
                     f"{r['train_seconds'] / 60:.1f} | {r['miss']:.1%} | {r['fa']:.2f} | "
                     f"{r['bg_min']:.1f} | {r['keywords']} | {r['board']} | {r['flash']} |")
    lines += ["", "The default demo (`make demo`) holds out speakers: four espeak-ng voice variants "
              "(speaker identities) never used in training, spoken in every accent. The accents "
              "row holds out two whole accents instead (every variant), the harder test of "
              "pronunciations the model never heard. The board stream is built like the "
              "evaluation stream (other keywords, the same noise and SNR) and uses the 1 FA/h "
              "threshold.", "", *NOTES]
    text = "\n".join(lines) + "\n"
    atomic_write_text(ROOT / "docs" / "bench" / "demo.md", text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", choices=sorted(RUNS), action="append",
                    help="measure only these runs (repeatable) and keep the other rows of "
                         "benchmarks/out/demo_rows.json")
    args = ap.parse_args()
    saved = json.loads(ROWS.read_text()) if ROWS.is_file() else {"rows": [], "peak_mb": 0.0}
    names = args.only or ["quick", "full", "accents"]
    fresh = [one(*RUNS[n]) for n in names]
    for r in fresh:
        r["train_seconds"] = r.pop("stages")["train"]
    keep = [r for r in saved["rows"]
            if (r["size"], r["holdout"]) not in {(f["size"], f["holdout"]) for f in fresh}]
    rows = keep + fresh
    peak_mb = max(float(saved["peak_mb"]), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    ROWS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(ROWS, json.dumps({"rows": rows, "peak_mb": peak_mb}, indent=2) + "\n")
    print(write_page(rows, peak_mb))


if __name__ == "__main__":
    main()
