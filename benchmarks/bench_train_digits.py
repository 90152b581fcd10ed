"""Benchmark: spoken digits (FSDD), leave-one-speaker-out, chip program vs Keras QAT accuracy.

Run: ``python benchmarks/bench_train_digits.py [--folds N] [--epochs E]`` (``--help``: width,
copies, frequency warp, weight averaging, padding, time shift; ``--tag T`` writes
``results_<tag>.json`` and leaves the docs alone, for quick checks). Trains one command-set
model per held-out speaker (``../shared/data/digits/fsdd``, 6 speakers), measures the accuracy of
the compiled chip program in the emulator and of the Keras QAT model on the held-out speaker, and
writes ``benchmarks/out/digits/results.json`` and ``docs/bench/training.md``.
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

from wtmkws.audio_pipeline.atomic import atomic_write_text

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "out"
MD = ROOT / "docs" / "bench" / "training.md"


DIGITS_NOTES = [
    ("- Diagnosis (fold george, 10 epochs): the model reaches 84-99% on the clean files of the "
    "five training speakers but 67% on george, with systematic confusions (his 'two' -> 'seven' "
    "39/50, 'nine' -> 'three' 22/50, 'six' -> 'eight' 22/50): the gap is speaker/recording "
    "shift, not quantization (the Keras QAT model and the chip program agree bit for bit, so "
    "the chip loses nothing to QAT)."),
    ("- The previous configuration overfit (training loss 0.04, held-out accuracy swinging "
    "0.41-0.70 between epochs). SpecAugment-style masks and a random channel colouring in the "
    "code domain (redrawn every epoch) plus speed perturbation 0.8-1.2 raised george from 64.4% "
    "to 67.2% and the training loss now stays near 1.0 after 10 epochs (under-fitted)."),
    ("- Longer training helps: fold jackson with 25 epochs and width 128 (same augmentation) "
    "reached 78.8% (chip program = Keras QAT) against 73.4% with 10 epochs, width 96; the "
    "6-fold table above uses the 10-epoch setting because of the time available on the shared "
    "machine (~2.5 min per fold). MFCC codes (13, fmax 4 kHz) did not train in this pipeline "
    "(constant output from the first epoch) and were not pursued."),
    ("- The float ceiling (``benchmarks/bench_digits_float.py``, docs/bench/digits_float.md): a "
    "float Keras twin of the same TDNN, inputs normalized, no quantization, 30 epochs, reaches "
    "68.3% mean over the six folds (70.9% with the code-domain augmentation), below the chip "
    "program's 73.0%: the shortfall is the data (five training speakers), not the chip "
    "arithmetic or QAT. Single-fold float checks on george found no lever either: per-utterance "
    "mean removal 63-70%, fbank up to 4 kHz 58.5%, MFCC 66.4%, a DNN over 32 stacked frames "
    "56.3%, 200 espeak-ng utterances per digit added to training 69.8% (75.0% with the "
    "augmentation); an untuned small 2-D CNN did worse (24%)."),
]
"""Diagnosis notes written under the digits table."""

EXPERIMENTS: tuple[tuple[str, str], ...] = (
    ("swa_warp", "Tried, not adopted (``--epochs 12 --swa 6 --warp 0.5``)"),
)
"""Tagged 6-fold runs (``--tag``, results_<tag>.json) listed under the table with their folds."""

EXPERIMENT_NOTES = [
    ("- Single-fold checks on george (10 QAT epochs unless noted; the table's setting gives "
    "67.2%): frequency warp 0.85-1.15 p=0.8 in the code domain 66.2%; width 128 with 20 epochs "
    "64.2%; short files padded with their own quietest frame instead of silence codes plus time "
    "shifts <= 20 ms (the default 150 ms cuts up to a third of a 0.3-0.5 s digit) 58.0%; "
    "averaging the weights of the last 6 of 12 epochs with warp p=0.5 66.8%. George's 'two' "
    "stays at 0-26% in every variant. Held-out accuracy swings by 5-15 points between "
    "consecutive epochs, so single-fold differences below ~5 points are noise."),
    ("- Decision rule: the mean per-frame log-posterior decides exactly like the mean logit "
    "(log-softmax subtracts the same constant from every class of a frame); the mean posterior "
    "and the best-frame posterior were measured on every fold of the tried run "
    "(report.json metrics.chip_accuracy_by_decision) and differ from the mean logit by -4..+2 "
    "points, not a lever."),
]
"""Notes on what was tried after the table's configuration."""


def machine_line() -> str:
    """Machine description for the Markdown table."""
    return (f"{platform.platform()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores (shared with other jobs: timings are noisy), "
            f"Python {platform.python_version()}, {_dt.date.today().isoformat()}")


def write_training_md() -> Path:
    """Regenerate docs/bench/training.md from every results JSON under benchmarks/out."""
    lines = ["# Training benchmarks", "", f"Machine: {machine_line()}", ""]
    d = OUT / "digits" / "results.json"
    if d.is_file():
        r = json.loads(d.read_text())
        lines += ["## Spoken digits (FSDD), leave one speaker out", "",
                  f"Config: {r['config']}", "",
                  "| held-out speaker | chip program (emulator) | Keras QAT | bit-exact | train s |",
                  "|---|---:|---:|---|---:|"]
        for f in r["folds"]:
            lines.append(f"| {f['speaker']} | {100 * f['chip_accuracy']:.1f}% | "
                         f"{100 * f['keras_accuracy']:.1f}% | {f['bit_exact']} | "
                         f"{f['total_s']:.0f} |")
        lines += ["", (f"Mean over {len(r['folds'])} of 6 folds: chip **{100 * r['mean_chip']:.2f}%**"
                  f", Keras QAT {100 * r['mean_keras']:.2f}% (target: chip >= 95% and within "
                  "1 point of Keras)."), ""]
        if len(r["folds"]) < 6:
            lines += [(f"Only {len(r['folds'])} folds ran in the time available on the shared "
                      "2-core machine."), ""]
        lines += DIGITS_NOTES + [""]
        for tag, title in EXPERIMENTS:
            e = OUT / "digits" / f"results_{tag}.json"
            if not e.is_file():
                continue
            re_ = json.loads(e.read_text())
            lines += [f"{title}: {re_['config']}: " + ", ".join(
                f"{f['speaker']} {100 * f['chip_accuracy']:.1f}%" for f in re_["folds"])
                + f"; mean over {len(re_['folds'])} folds chip {100 * re_['mean_chip']:.2f}%, "
                f"Keras QAT {100 * re_['mean_keras']:.2f}%, bit-exact on every fold: "
                f"{all(f['bit_exact'] for f in re_['folds'])}.", ""]
        lines += EXPERIMENT_NOTES + [""]
        b = OUT / "digits" / "results_before.json"
        if b.is_file():
            rb = json.loads(b.read_text())
            lines += ["Before (previous configuration: " + rb["config"] + "): " + ", ".join(
                f"{f['speaker']} chip {100 * f['chip_accuracy']:.1f}%" for f in rb["folds"])
                + ".", ""]
    w = OUT / "wakeword_results.json"
    if w.is_file():
        r = json.loads(w.read_text())
        lines += ["## Wake word \"computer\"", "",
                  ("| model | trained on | miss at 1 FA/h (10 dB SNR) | FA/h at that point | "
                  "miss at 1 FA/10 h | eval background h | train background h | "
                  "train+export min | peak RSS MB | bit-exact | target |"),
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        for run in r["runs"]:
            m10 = run.get("miss_rate_at_0_1_fa_per_hour")
            tbh = run.get("train_background_hours")
            lines.append(f"| {run['name']} | {run['trained_on']} | {100 * run['miss_rate']:.1f}% | "
                         f"{run['fa_per_hour']:.2f} | "
                         f"{'n/a' if m10 is None else f'{100 * m10:.1f}%'} | "
                         f"{run['background_hours']:.2f} | "
                         f"{'n/a' if tbh is None else f'{tbh:.2f}'} | "
                         f"{run['train_minutes']:.1f} | {run['peak_memory_mb']:.0f} | "
                         f"{run.get('bit_exact')} | {run['target']} |")
        lines += ["", *[f"- {n}" for n in r.get("notes", [])], ""]
    MD.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(MD, "\n".join(lines) + "\n")
    return MD


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--folds", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--width", type=int, default=96, help="TDNN width")
    ap.add_argument("--copies", type=int, default=2, help="augmented copies per file")
    ap.add_argument("--warp", type=float, default=0.0,
                    help="probability of the code-domain frequency warp (0.85-1.15) per window")
    ap.add_argument("--pad", default="silence", choices=("silence", "quietest"),
                    help="padding of files shorter than the 0.8 s window (TrainConfig.pad_mode)")
    ap.add_argument("--shift-ms", type=float, default=150.0,
                    help="largest time shift of the augmented copies (ms)")
    ap.add_argument("--swa", type=int, default=0,
                    help="average the weights of the last N QAT epochs (0 = off)")
    ap.add_argument("--speakers", default="",
                    help="comma-separated held-out speakers (quick checks; default: all)")
    ap.add_argument("--tag", default="",
                    help="write results_<tag>.json / fold_<spk>_<tag> and leave the docs alone")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from wtmkws.sdk.datasets import Dataset, Item, leave_one_speaker_out, speaker_of
    from wtmkws.sdk.train import AugmentConfig, TrainConfig, train_commands

    fsdd = SHARED / "digits" / "fsdd"
    items = tuple(Item(path=p, label=p.stem.split("_")[0], speaker=speaker_of(p))
                  for p in sorted(fsdd.glob("*.flac")))
    ds = Dataset(items=items, root=fsdd)
    from wtmkws.sdk.models import ModelConfig

    speakers = sorted({it.speaker for it in items})[: args.folds]
    if args.speakers:
        speakers = [s for s in args.speakers.split(",") if s]
    cfg = TrainConfig(epochs=args.epochs, noise_aware_epochs=1, clip_frames=80,
                      learning_rate=3e-3, seed=args.seed, model=ModelConfig(width=args.width),
                      pad_mode=args.pad, average_last_epochs=args.swa,
                      augment=AugmentConfig(copies=args.copies, noise_prob=0.5,
                                            snr_db_range=(10, 30),
                                            speed_prob=0.9, speed_range=(0.8, 1.2),
                                            shift_max_ms=args.shift_ms,
                                            reverb_prob=0.3, gain_db_range=(-15.0, 6.0),
                                            time_masks=2, time_mask_frames=10, freq_masks=2,
                                            freq_mask_bands=6, channel_codes=8.0,
                                            freq_warp_prob=args.warp,
                                            freq_warp_range=(0.85, 1.15)),
                      cache_dir=OUT / ".feature_cache")
    pad_text = ("short files padded with their quietest frame" if args.pad == "quietest"
                else "short files padded with silence codes")
    swa = (f", weights averaged over the last {args.swa} QAT epochs" if args.swa else "")
    warp = (f", frequency warp 0.85-1.15 p={args.warp:g} per window" if args.warp else "")
    out = OUT / "digits"
    suffix = f"_{args.tag}" if args.tag else ""
    folds = []
    res_path = out / f"results{suffix}.json"
    for spk in speakers:
        t0 = time.perf_counter()
        r = train_commands(ds, out_dir=out / f"fold_{spk}{suffix}", config=cfg,
                           split=leave_one_speaker_out(ds, spk),
                           noise=[SHARED / "noise" / "speech_commands_bg"])
        m = r.report["metrics"]
        folds.append({"speaker": spk, "chip_accuracy": m["chip_accuracy"],
                      "keras_accuracy": m["keras_qat_accuracy"],
                      "bit_exact": m["chip_equals_keras_bit_exact"],
                      "chip_accuracy_by_decision": m.get("chip_accuracy_by_decision"),
                      "total_s": time.perf_counter() - t0,
                      "peak_memory_mb": r.report["peak_memory_mb"]})
        print(folds[-1], flush=True)
        mean_c = sum(f["chip_accuracy"] for f in folds) / len(folds)
        mean_k = sum(f["keras_accuracy"] for f in folds) / len(folds)
        out.mkdir(parents=True, exist_ok=True)
        res_path.write_text(json.dumps({
            "config": f"tdnn width {args.width}, fbank 40 codes, {args.epochs} QAT + 1 "
                      f"noise-aware epochs (lr 3e-3), {args.copies} augmented copies per file "
                      f"(speed 0.8-1.2 p=0.9, reverb "
                      f"p=0.3, gain -15..+6 dB, noise 10-30 dB p=0.5, time shift <= "
                      f"{args.shift_ms:g} ms), SpecAugment-style masks "
                      f"(2 time <= 10 frames, 2 feature <= 6 bands) and a random channel offset (3 cosine "
                      f"terms, +-8 codes = +-4 dB each){warp} redrawn every epoch, 0.8 s "
                      f"windows ({pad_text}), "
                      f"mean-logit decision{swa}, seed {args.seed}",
            "folds": folds, "mean_chip": mean_c, "mean_keras": mean_k}, indent=2))
        if not args.tag:
            write_training_md()
    return 0


if __name__ == "__main__":
    sys.exit(main())
