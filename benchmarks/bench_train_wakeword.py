"""Benchmark: wake word "computer" trained on real recordings, and from text alone.

Run: ``python benchmarks/bench_train_wakeword.py [--which real|text|both] [--epochs E]``.

* real: positives ``../shared/data/keywords/picovoice/computer`` split 80/20 (seed 0, saved as
  ``benchmarks/out/computer/split.json``); negatives: the other Picovoice keywords, the
  LibriSpeech speakers 19, 118, 226, 332 (cut into 1.5 s windows every 1 s, plus two rounds of
  hard-negative mining over all training background) and the Speech Commands background noise;
  augmentation noise from ``../shared/data/noise/speech_commands_bg`` at 3-18 dB SNR (p=0.9), 3
  augmented copies per keyword file. The model is written to ``benchmarks/out/computer/``.
* text: positives synthesized with espeak-ng (``wtmkws.sdk.synth``), negatives synthesized
  confusables + the same LibriSpeech training speakers + noise (no real keyword recordings).

Both are evaluated with ``wtmkws.sdk.evaluate.evaluate_wakeword`` on the same 20% held-out real
positives inside the held-out LibriSpeech speakers 32, 163, 460, 669 (LibriSpeech is both a
negative training source and the FA/h background, so the speakers are disjoint) mixed with the
Speech Commands background noise at 10 dB SNR. Results go to ``benchmarks/out/wakeword_results.json``
and ``docs/bench/training.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "out"
TRAIN_SPEAKERS = ("19", "118", "226", "332")
EVAL_SPEAKERS = ("32", "163", "460", "669")


NOTES = [
    "LibriSpeech speakers 19, 118, 226, 332 are training negatives; FA/h is measured on the "
    "other 4 speakers (32, 163, 460, 669), so the background is speaker-disjoint from training.",
    "Picovoice recordings have no speaker labels: the 80/20 split of 'computer' is "
    "speaker-overlapping (seeded, split.json).",
    "The same Speech Commands background noise files are used for augmentation (3-18 dB "
    "SNR, random offsets) and for the 10 dB SNR evaluation mix.",
    "'train background h' counts every background recording the model was trained and mined "
    "on, clean and augmented (LibriSpeech training speakers, the other Picovoice keywords, "
    "noise); the clean LibriSpeech training speech alone is 0.61 h.",
    "Before the negatives/mining/noise changes (12 QAT epochs, at most 12 non-overlapping "
    "windows per background file, noise drawn from all of ../shared/data/noise): 81.7% miss at 1 FA/h (62% at 1.96 FA/h), 5.8 min, "
    "1.8 GB. Dense background windows + 2 rounds of hard-negative mining alone: 54.9%; "
    "adding evaluation-like noise (Speech Commands background, 3-18 dB, p=0.9): 29.3% "
    "(8 QAT epochs, 6.6 min); the table's run (12 QAT epochs, 3 mining rounds, 4 copies per "
    "keyword file): 24.4%. At 5.9 FA/h (3 false alarms) it misses 7.3%, at 2.0 FA/h 19.5%.",
    "From text: the espeak-ng model does not transfer to the real recordings. With "
    "LibriSpeech negatives it never fires on real speech (posterior < 0.006 everywhere: it "
    "separates synthetic from real voices); with synthetic confusables + noise only (and a "
    "random channel colouring) it finds 41/82 real keywords at ~1000 FA/h and 3/82 at "
    "20 FA/h. Closing this needs more natural synthetic speech (espeak's formant voices are "
    "far from real ones) or a little real speech; it was not reached here.",
    "From text, in context (``--context``): every synthesized clip placed between the end and "
    "the start of training-speaker LibriSpeech utterances, over Speech Commands noise "
    "(``audio_pipeline.augment.place_in_context``), so the windows of both classes hold real "
    "speech around the synthetic voice: 87.8% miss at 1 FA/h instead of 100%. The real "
    "held-out keyword windows were classified right by 46% at epoch 3, then 6-18% as training "
    "went on: the model still learns the synthetic voice. Choosing the epoch on the real test "
    "clips would be tuning on the test set and was not done.",
    "Real recordings in context (``--which real --context``, not adopted): the training "
    "recordings trimmed and placed between LibriSpeech training speech the same way miss 67.1% "
    "instead of 24.4%, and the held-out clips in silence are classified right only 30-40% of the "
    "time (95-100% without): the model comes to rely on speech around the word, which a user "
    "in a quiet room does not give it. Context suits trimmed synthetic clips, not recordings that "
    "carry their own onsets and room.",
    "Miss at 1 FA/10 h is bounded by the 0.51 h evaluation background: any false alarm is "
    "already 1.96 FA/h, so both columns are the miss rate at zero false alarms.",
    "Train minutes include feature extraction (cache shared between runs, so a second run is "
    "faster), QAT, noise-aware fine-tuning and export, on a 2-core machine shared with other "
    "jobs.",
]
"""Notes written under the wake-word table."""


def _libri(speakers: tuple[str, ...]) -> list[Path]:
    base = SHARED / "speech" / "librispeech_mini"
    return sorted(p for s in speakers for p in (base / s).rglob("*.flac"))


def _write_manifest(path: Path, rows: list[tuple[Path, str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "split"])
        for p, label, split in rows:
            w.writerow([str(p), label, split])
    return path


def _positives_split(seed: int) -> tuple[list[Path], list[Path]]:
    import numpy as np

    files = sorted((SHARED / "keywords" / "picovoice" / "computer").glob("*.flac"))
    perm = np.random.default_rng(seed).permutation(len(files))
    n_test = int(round(0.2 * len(files)))
    test = sorted(files[i] for i in perm[:n_test])
    train = sorted(files[i] for i in perm[n_test:])
    return train, test


def _trim(x: "np.ndarray") -> "np.ndarray":
    """Cut leading/trailing silence: keep 50 ms around the samples above 5% of the peak."""
    import numpy as np

    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > 0.05 * max(1, int(np.abs(x).max())))
    if loud.size == 0:
        return x
    return x[max(0, loud[0] - 800): loud[-1] + 800]


def _in_context(paths: list[Path], dest: Path, sentences: list[Path], noises: list[Path],
                seed: int, trim: bool = False) -> list[Path]:
    """Place every synthesized clip in real context (the end of a training-speaker LibriSpeech
    utterance before it, the start of another after it, Speech Commands noise under it), as
    ``wtmkws.audio_pipeline.augment.place_in_context`` does for the demo: espeak-ng's clips are trimmed, and a model
    trained on clips surrounded by digital silence learns the silence and the synthetic voice."""
    import numpy as np
    from wtmkws.audio_pipeline.io import load_audio, write_wav
    from wtmkws.audio_pipeline.augment import place_in_context

    rng = np.random.default_rng(seed)
    pick = rng.choice(len(sentences), size=min(60, len(sentences)), replace=False)
    speech = [load_audio(sentences[int(i)]) for i in sorted(pick)]
    noise = [load_audio(p) for p in noises]
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        audio = load_audio(p)
        clip = place_in_context(_trim(audio) if trim else audio, noises=noise, sentences=speech,
                                rng=rng)
        name = p.with_suffix(".wav").name
        write_wav(dest / name, clip, sample_rate_hz=16000)
        out.append(dest / name)
    return out


def run(which: str, epochs: int, seed: int, reuse_synth: bool = False, hn_rounds: int = 2,
        keyword_copies: int = 3, text_real_speech: bool = True, context: bool = False) -> dict:
    from wtmkws.sdk.evaluate import evaluate_wakeword
    from wtmkws.sdk.synth import synthesize, synthesize_negatives
    from wtmkws.sdk.train import AugmentConfig, TrainConfig, train_keyword

    pos_train, pos_test = _positives_split(seed)
    noise_bg = sorted((SHARED / "noise" / "speech_commands_bg").glob("*.flac"))
    libri_train = _libri(TRAIN_SPEAKERS)
    libri_eval = _libri(EVAL_SPEAKERS)
    rows: list[tuple[Path, str, str]] = []
    if which == "real":
        rows += [(p, "computer", "train") for p in pos_train]
        rows += [(p, "computer", "test") for p in pos_test]
        for kw in ("alexa", "smart_mirror", "snowboy"):
            rows += [(p, "_background_", "train")
                     for p in sorted((SHARED / "keywords" / "picovoice" / kw).glob("*.flac"))]
        out = OUT / ("computer_context" if context else "computer")
        if context:  # recordings trimmed, then placed between LibriSpeech training speech
            rows = [(q, "computer", "train") for q in _in_context(
                pos_train, OUT / "real_context" / "computer", libri_train, noise_bg, seed,
                trim=True)] + rows[len(pos_train):]
    else:
        syn = OUT / "synth_data"
        t0 = time.perf_counter()
        pos = sorted((syn / "computer").glob("*.wav"))
        neg = sorted((syn / "_background_").glob("*.wav"))
        if not reuse_synth or len(pos) != 600 or len(neg) != 600:
            pos = synthesize("computer", out_dir=syn / "computer", count=600, seed=seed)
            neg = synthesize_negatives("computer", out_dir=syn / "_background_", count=600,
                                       seed=seed + 1)
        if context:
            pos = _in_context(pos, syn / "in_context" / "computer", libri_train, noise_bg, seed)
            neg = _in_context(neg, syn / "in_context" / "_background_", libri_train, noise_bg,
                              seed + 1)
        synth_s = time.perf_counter() - t0
        rows += [(p, "computer", "train") for p in pos]
        rows += [(p, "_background_", "train") for p in neg]
        rows += [(p, "computer", "test") for p in pos_test]
        out = OUT / ("computer_from_text" + ("_context" if context else "")
                     + ("" if text_real_speech else "_nospeech"))
    if which == "real" or text_real_speech:
        rows += [(p, "_background_", "train") for p in libri_train]
    rows += [(p, "_background_", "train") for p in noise_bg]
    manifest = _write_manifest(out / "manifest.csv", rows)
    cfg = TrainConfig(epochs=epochs, noise_aware_epochs=1, seed=seed, clip_frames=150,
                      max_windows_per_file=1000, background_stride_frames=100,
                      keyword_copies=keyword_copies, hard_negative_rounds=hn_rounds,
                      hard_negative_windows=1500,
                      hard_negative_epochs=2, positive_smoothing_frames=1, learning_rate=2e-3,
                      augment=AugmentConfig(copies=1, noise_prob=0.9, snr_db_range=(3.0, 18.0),
                                            channel_codes=0.0 if which == "real" else 8.0),
                      cache_dir=OUT / ".feature_cache")
    t0 = time.perf_counter()
    res = train_keyword(manifest, keyword="computer", out_dir=out, config=cfg,
                        noise=[SHARED / "noise" / "speech_commands_bg"],
                        on_epoch=lambda e: print(f"[{which}] {e}", flush=True))
    train_min = (time.perf_counter() - t0) / 60
    (out / "split.json").write_text(json.dumps({
        "seed": seed, "positives_train": [str(p) for p in pos_train] if which == "real" else [],
        "positives_test": [str(p) for p in pos_test],
        "librispeech_train_speakers": list(TRAIN_SPEAKERS),
        "librispeech_eval_speakers": list(EVAL_SPEAKERS)}, indent=2))
    t1 = time.perf_counter()
    rep = evaluate_wakeword(res.program, positives=pos_test, background=libri_eval,
                            noise=noise_bg, snr_db=10.0, keyword="computer", seed=seed)
    eval_s = time.perf_counter() - t1
    d = rep.to_dict()
    (out / "eval.json").write_text(json.dumps(d, indent=2, default=str))
    point = rep.operating_point(1.0)
    result = {
        "name": (("computer (real, in context)" if context else "computer (real)")
                 if which == "real" else "computer (from text"
                 + (", in context" if context else "")
                 + ("" if text_real_speech else ", no real speech") + ")"),
        "trained_on": ("real recordings (80%" + (", trimmed and placed between LibriSpeech "
                                                 "training-speaker speech and noise" if context
                                                 else "")
                       + ") + other keywords + LibriSpeech 4 spk + noise"
                       if which == "real" else
                       "espeak-ng speech only (600 + 600 confusables"
                       + (", each placed between LibriSpeech training-speaker speech and noise"
                          if context else "") + ") + "
                       + ("LibriSpeech 4 spk + noise" if text_real_speech else "noise only")),
        "miss_rate": rep.miss_rate_at_fa_per_hour(1.0),
        "miss_rate_at_0_1_fa_per_hour": rep.miss_rate_at_fa_per_hour(0.1),
        "train_background_hours": res.report["examples"].get("background_hours_train"),
        "hard_negative_mining": res.report["examples"].get("hard_negative_mining"),
        "fa_per_hour": point.fa_per_hour,
        "background_hours": rep.background_hours,
        "train_minutes": train_min,
        "eval_seconds": eval_s,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "window_accuracy_chip": res.report["metrics"]["chip_accuracy"],
        "bit_exact": res.report["metrics"]["chip_equals_keras_bit_exact"],
        "target": "<= 5%" if which == "real" else "<= 15%",
    }
    if which == "text":
        result["synth_seconds"] = synth_s
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--which", choices=("real", "text", "both"), default="both")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hard-negative-rounds", type=int, default=3)
    ap.add_argument("--keyword-copies", type=int, default=4)
    ap.add_argument("--text-without-real-speech", action="store_true",
                    help="text run: no LibriSpeech negatives (synthetic confusables + noise)")
    ap.add_argument("--context", action="store_true",
                    help="place every synthesized clip (text) or trimmed keyword recording "
                         "(real) in real speech and noise context (the end/start of "
                         "training-speaker utterances around it)")
    ap.add_argument("--reuse-synth", action="store_true",
                    help="reuse benchmarks/out/synth_data when it holds 600 + 600 files")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_train_digits import write_training_md

    path = OUT / "wakeword_results.json"
    results = json.loads(path.read_text()) if path.is_file() else {"runs": []}
    results["notes"] = NOTES
    for which in (("real", "text") if args.which == "both" else (args.which,)):
        r = run(which, args.epochs, args.seed, args.reuse_synth, args.hard_negative_rounds,
                args.keyword_copies, not args.text_without_real_speech, args.context)
        r["config"] = (f"tdnn width 96, {args.epochs} QAT + {args.hard_negative_rounds}x2 "
                       f"hard-negative + 1 noise-aware epochs, {args.keyword_copies} augmented "
                       "copies per keyword file, 1 per background file")
        print(r, flush=True)
        if path.is_file():  # another run may have finished meanwhile: merge, don't clobber
            results["runs"] = json.loads(path.read_text())["runs"]
        results["runs"] = [x for x in results["runs"] if x["name"] != r["name"]] + [r]
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2))
        write_training_md()
    return 0


if __name__ == "__main__":
    sys.exit(main())
