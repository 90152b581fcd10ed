"""The end-to-end demo: a wake word from text to detections on a (virtual) board.

:func:`run_demo` needs no recordings, hardware or network. Its stages, each timed:

1. ``synthesize``: the keyword spoken by espeak-ng with the *training* speakers, confusable
   negatives, and background sentences (public-domain Harvard sentences); the same with *held-out*
   speakers for testing, so the test measures voices the model never heard. ``holdout="speakers"``
   (the default) holds out four voice variants (:data:`TEST_VARIANTS`: speaker identities, every
   accent); ``holdout="accents"`` holds out two whole accents (:data:`TEST_VOICES`, every variant),
   a harder test of accents the model never heard.
2. ``context``: the shared Speech Commands noise when a noise folder is given (``../shared``),
   otherwise seeded generated noise (pink, brown, hum and babble of synthesized speech); every
   synthesized keyword and confusable clip is then placed in background context (noise at a random
   level, often after the end of a sentence and before the start of another), because
   espeak-ng's clips are trimmed and a model trained on clips surrounded by digital silence
   learns the silence, not the word.
3. ``train``: a chip-sized TDNN with chip-aware quantization-aware training
   (:func:`wtmkws.sdk.train.train_keyword`), exported as an exact chip program.
4. ``compile``: placement on the array, budgets and the cost model; an array-map PNG.
5. ``evaluate``: the Picovoice-style benchmark on the held-out voices and sentences mixed with noise
   (:func:`wtmkws.sdk.evaluate.evaluate_wakeword`): miss rate at 1 false alarm per hour, DET curve.
6. ``pack``: the firmware image, with the detector threshold of the 1 FA/h operating point.
7. ``flash``: a virtual board on a pseudo-terminal; the deploy client flashes the image.
8. ``stream``: a test stream (held-out voices) is sent to the board, which runs the program and
   streams detection events back; they are matched against where the keyword really is.
9. ``summary``: ``summary.md`` with the figures and plots.

Progress is reported as data (:class:`StageEvent` through ``on_stage``, ``(done, total)`` through
``on_progress``); nothing here prints.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wtmkws.audio_pipeline.atomic import atomic_write_text
from wtmkws.audio_pipeline.augment import place_in_context
from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.audio_pipeline.io import load_audio, write_wav

__all__ = [
    "DemoConfig",
    "DemoResult",
    "StageEvent",
    "STAGES",
    "TEST_VARIANTS",
    "TEST_VOICES",
    "HARVARD_SENTENCES",
    "run_demo",
    "generated_noise",
]

STAGES: tuple[str, ...] = ("synthesize", "context", "train", "compile", "evaluate", "pack", "flash",
                           "stream", "summary")
"""Stage names in order."""

TEST_VOICES: tuple[str, ...] = ("en-029", "en-us-nyc")
"""espeak-ng voices (accents) held out of training with ``holdout="accents"``."""

TEST_VARIANTS: tuple[str, ...] = ("m3", "m6", "f2", "f4")
"""espeak-ng voice variants (speaker identities) held out of training with
``holdout="speakers"`` (two male, two female)."""

HOLDOUTS: tuple[str, ...] = ("speakers", "accents")
"""What the test holds out of training (see :attr:`DemoConfig.holdout`)."""

HARVARD_SENTENCES: tuple[str, ...] = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living.",
)
"""Public-domain IEEE 'Harvard' sentences (1969), spoken as background and negatives."""


FULL_SIZES: dict[str, int] = {
    "positives": 1600, "negatives": 1200, "background": 3000, "test_positives": 80,
    "test_background_s": 1800, "epochs": 22, "noise_aware_epochs": 1, "hard_negative_rounds": 2,
    "board_keywords": 5}
"""Utterance counts, seconds of test background and epochs of the full demo."""

QUICK_SIZES: dict[str, int] = {
    "positives": 900, "negatives": 900, "background": 1600, "test_positives": 40,
    "test_background_s": 600, "epochs": 12, "noise_aware_epochs": 1, "hard_negative_rounds": 1,
    "board_keywords": 3}
"""The same for ``--quick``."""


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """What the demo does and how big it is."""

    keyword: str = "computer"
    """The wake word (any text espeak-ng can speak)."""
    out_dir: Path = Path("demo-output")
    """Folder for every artifact (created; existing files are replaced)."""
    quick: bool = False
    """Smaller data and fewer epochs (a few minutes instead of about fifteen)."""
    seed: int = 0
    """Seed of every random choice."""
    noise_dir: Path | None = None
    """Folder of noise recordings (e.g. ../shared/data/noise/speech_commands_bg); None: generated."""
    snr_db: float = 20.0
    """SNR of the noise mixed into the evaluation stream, dB."""
    flash_baud: int = 921600
    """Line rate the client switches the virtual board to for flashing, bits/s."""
    size_overrides: dict[str, int] = field(default_factory=dict)
    """Replace some of :attr:`sizes` (keys as there), e.g. for a tiny test run."""
    holdout: str = "speakers"
    """``"speakers"``: test voice variants :data:`TEST_VARIANTS` (every accent) never used in
    training; ``"accents"``: test accents :data:`TEST_VOICES` (every variant) never used."""

    def __post_init__(self) -> None:
        if self.holdout not in HOLDOUTS:
            raise ConfigError(f"holdout={self.holdout!r} is not one of {', '.join(HOLDOUTS)}",
                              hint="--holdout speakers|accents")
        if not self.keyword.strip():
            raise ConfigError("the demo keyword is empty", hint="pass --keyword WORD")
        if self.noise_dir is not None and not Path(self.noise_dir).is_dir():
            raise ConfigError(f"noise folder {self.noise_dir} does not exist")
        unknown = set(self.size_overrides) - set(FULL_SIZES)
        if unknown:
            raise ConfigError(f"unknown demo size(s) {', '.join(sorted(unknown))}")

    def speakers(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Keyword arguments selecting the training and the test speakers of the synthesizer.

        Returns:
            (train, test): each ``{"voices": ..., "variants": ...}`` for
            :func:`wtmkws.sdk.synth.synthesize`; the two never share a speaker.
        """
        from wtmkws.sdk.synth import VARIANTS, VOICES

        if self.holdout == "accents":
            return ({"voices": tuple(v for v in VOICES if v not in TEST_VOICES), "variants": None},
                    {"voices": TEST_VOICES, "variants": None})
        return ({"voices": None, "variants": tuple(v for v in VARIANTS if v not in TEST_VARIANTS)},
                {"voices": None, "variants": TEST_VARIANTS})

    def held_out_text(self) -> str:
        """What the test holds out, for reports."""
        if self.holdout == "accents":
            return f"held-out accents {', '.join(TEST_VOICES)}"
        return f"held-out voice variants {', '.join(TEST_VARIANTS)}"

    @property
    def sizes(self) -> dict[str, int]:
        """Utterance counts, background seconds and epochs for this size."""
        return {**(QUICK_SIZES if self.quick else FULL_SIZES), **self.size_overrides}


@dataclass(frozen=True)
class StageEvent:
    """A stage started (``seconds`` is None) or finished (``seconds`` and ``detail`` set)."""

    name: str
    """Stage name (one of :data:`STAGES`)."""
    index: int
    """1-based position."""
    count: int
    """Number of stages."""
    seconds: float | None = None
    """Wall time of the finished stage."""
    detail: str = ""
    """One line saying what the stage produced."""


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    """Everything the demo produced."""

    out_dir: Path
    """Output folder."""
    keyword: str
    """The wake word."""
    files: dict[str, Path]
    """Artifacts by name (program, image, plots, reports, summary)."""
    miss_rate_at_1fa_h: float
    """Miss rate at <= 1 false alarm per hour of the test background (held-out voices)."""
    fa_per_hour: float
    """False alarms per hour at that operating point."""
    threshold: float
    """Detector threshold of that operating point (written into the image)."""
    background_hours: float
    """Hours of test background."""
    n_test_keywords: int
    """Keyword occurrences in the evaluation stream."""
    flash: dict[str, Any]
    """Flash summary (bytes, seconds, bytes/s, % of line rate)."""
    board_events: list[dict[str, Any]]
    """Events the board streamed back: time_s, label, score, hit."""
    board_keyword_times_s: list[tuple[float, float]]
    """Where the keyword was in the board stream (start, end), seconds."""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per stage."""


def generated_noise(*, seconds: float, rng: np.random.Generator,
                    babble: Sequence[np.ndarray] = (), sample_rate_hz: int = 16000
                    ) -> dict[str, np.ndarray]:
    """Seeded noise recordings for when no real ones are available.

    Args:
        seconds: length of each noise, seconds.
        rng: the generator every draw comes from.
        babble: int16 speech clips summed (at random offsets) into a babble noise; none: no babble.
        sample_rate_hz: sample rate.

    Returns:
        Name -> (n,) int16 noise at about -26 dBFS RMS: ``pink``, ``brown``, ``hum`` and, with
        speech clips, ``babble``.
    """
    n = int(seconds * sample_rate_hz)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate_hz)
    freqs[0] = freqs[1]
    white = np.fft.rfft(rng.standard_normal(n))
    out = {
        "pink": np.fft.irfft(white / np.sqrt(freqs), n),
        "brown": np.fft.irfft(white / freqs, n),
    }
    t = np.arange(n) / sample_rate_hz
    out["hum"] = (np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 150 * t)
                  + 0.05 * rng.standard_normal(n))
    if babble:
        mix = np.zeros(n)
        for _ in range(6):
            for clip in babble:
                start = int(rng.integers(0, max(1, n - clip.size)))
                seg = clip[: n - start].astype(np.float64)
                mix[start:start + seg.size] += seg
        out["babble"] = mix
    target_rms = 32767 * 10 ** (-26 / 20)
    return {k: np.clip(np.round(v / (np.sqrt(np.mean(v ** 2)) + 1e-12) * target_rms),
                       -32768, 32767).astype(np.int16) for k, v in out.items()}


def _speak_sentences(out_dir: Path, count: int, *, speakers: dict[str, Any], seed: int,
                     progress: Callable[[], None]) -> list[Path]:
    """``count`` Harvard sentences with seeded voices/rates/pitches, one WAV each."""
    from wtmkws.sdk.synth import speak, speaker_params

    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        text = HARVARD_SENTENCES[int(rng.integers(len(HARVARD_SENTENCES)))]
        audio = speak(text, **speaker_params(rng, **speakers))
        path = out_dir / f"sentence_{i:04d}.wav"
        write_wav(path, audio, sample_rate_hz=16000)
        paths.append(path)
        progress()
    return paths


def _summary_markdown(result: DemoResult, sizes: dict[str, int], train_report: dict[str, Any],
                      cost: dict[str, Any], held_out: str) -> str:
    f = result.files
    rel = {k: os.path.relpath(v, result.out_dir) for k, v in f.items()}
    hits = sum(1 for e in result.board_events if e["hit"])
    fas = sum(1 for e in result.board_events if not e["hit"])
    lines = [
        f"# wtmkws demo: wake word \"{result.keyword}\"",
        "",
        "Trained from text alone (espeak-ng), compiled onto the WTM2101 array model, evaluated on "
        f"voices never used in training ({held_out}), packed, flashed to a virtual board and "
        "detected there.",
        "",
        "## Figures",
        "",
        "| what | value |",
        "|---|---|",
        f"| miss rate at <= 1 false alarm/hour (held-out voices) | {result.miss_rate_at_1fa_h:.1%} |",
        f"| false alarms/hour at that point | {result.fa_per_hour:.2f} |",
        f"| test background | {result.background_hours * 60:.1f} min, "
        f"{result.n_test_keywords} keywords |",
        f"| detector threshold (in the image) | {result.threshold:.3f} |",
        f"| chip program accuracy on held-out clips | "
        f"{train_report.get('metrics', {}).get('chip_accuracy', float('nan')):.1%} |",
        f"| array cells used | {cost.get('cells', 'n/a')} |",
        f"| flash | {result.flash.get('summary', '')} |",
        f"| board stream | {hits} of {len(result.board_keyword_times_s)} keywords detected, "
        f"{fas} false alarm(s) |",
        "",
        "## Stages",
        "",
        "| stage | seconds |",
        "|---|---:|",
        *[f"| {k} | {v:.1f} |" for k, v in result.stage_seconds.items()],
        "",
        "## Plots",
        "",
        f"![DET curve]({rel['det_png']})",
        "",
        f"![training curves]({rel['training_curves_png']})",
        "",
        f"![array map]({rel['array_map_png']})",
        "",
        "## Board events",
        "",
        "| time s | label | score | hit |",
        "|---:|---|---:|---|",
        *[f"| {e['time_s']:.2f} | {e['label']} | {e['score']:.3f} | {'yes' if e['hit'] else 'no'} |"
          for e in result.board_events],
        "",
        "## Files",
        "",
        *[f"- `{v}`: {k}" for k, v in sorted(rel.items())],
        "",
        f"Sizes: {json.dumps(sizes)}",
        "",
    ]
    return "\n".join(lines)


def run_demo(config: DemoConfig, *, on_stage: Callable[[StageEvent], None] | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Run the whole demo (see the module docstring) and return what it produced.

    Args:
        config: the demo configuration.
        on_stage: called when each stage starts and ends.
        on_progress: ``(done, total)`` within the current stage, where it has a total.

    Returns:
        The :class:`DemoResult`; ``config.out_dir`` holds every artifact and ``summary.md``.

    Raises:
        WtmkwsError: any stage's error (the text cannot be spoken, a model that does not fit, a
            board that does not answer...).
    """
    from wtmkws.firmware_model.array_map import plot_array_map
    from wtmkws.firmware_model.cost import cost_report
    from wtmkws.firmware_model.engine import DetectorConfig
    from wtmkws.sdk.evaluate import (build_wakeword_stream, evaluate_wakeword, match_events,
                                     write_json)
    from wtmkws.sdk.plots import plot_det_curve
    from wtmkws.sdk.synth import synthesize, synthesize_negatives
    from wtmkws.sdk.train import AugmentConfig, TrainConfig, train_keyword
    from wtmkws.tools.board import VirtualBoard
    from wtmkws.tools.client import DeployClient, open_port
    from wtmkws.tools.image import pack_image, write_image

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = config.sizes
    seed = config.seed
    kw = config.keyword.strip().lower()
    label = kw.replace(" ", "_")
    train_speakers, test_speakers = config.speakers()
    data = out / "data"
    stage_seconds: dict[str, float] = {}
    files: dict[str, Path] = {}
    state: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    def stage(name: str, body: Callable[[], str]) -> None:
        index = STAGES.index(name) + 1
        if on_stage is not None:
            on_stage(StageEvent(name, index, len(STAGES)))
        t0 = time.perf_counter()
        detail = body()
        stage_seconds[name] = time.perf_counter() - t0
        if on_stage is not None:
            on_stage(StageEvent(name, index, len(STAGES), stage_seconds[name], detail))

    def do_synthesize() -> str:
        total = (sizes["positives"] + sizes["negatives"] + sizes["background"]
                 + sizes["test_positives"])
        done = [0]

        def tick(*_: int) -> None:
            done[0] += 1
            progress(done[0], total)

        synthesize(kw, out_dir=data / "raw" / label, count=sizes["positives"], seed=seed,
                   **train_speakers, on_progress=tick)
        synthesize_negatives(kw, out_dir=data / "raw" / "confusables", count=sizes["negatives"],
                             seed=seed + 1, **train_speakers, on_progress=tick)
        _speak_sentences(data / "raw" / "_background_", sizes["background"],
                         speakers=train_speakers, seed=seed + 2, progress=tick)
        state["test_positives"] = synthesize(kw, out_dir=data / "test" / label,
                                             count=sizes["test_positives"], seed=seed + 3,
                                             **test_speakers, on_progress=tick)
        # test background: held-out voices, until it lasts test_background_s
        bg_dir = data / "test" / "background"
        need = sizes["test_background_s"] * 16000
        paths: list[Path] = []
        have = 0
        i = 0
        while have < need:
            batch = _speak_sentences(bg_dir / f"part{i:02d}", 20, speakers=test_speakers,
                                     seed=seed + 100 + i, progress=lambda: None)
            for p in batch:
                have += load_audio(p).size
            paths += batch
            i += 1
            progress(min(have, need), need)
        state["test_background"] = paths
        return (f"{sizes['positives']} '{kw}' + {sizes['negatives']} confusables + "
                f"{sizes['background']} sentences; test: "
                f"{sizes['test_positives']} '{kw}' and {have / 16000 / 60:.1f} min of sentences "
                f"({config.held_out_text()})")

    def do_context() -> str:
        noise_dir = data / "noise"
        noise_dir.mkdir(parents=True, exist_ok=True)
        sentences = sorted((data / "raw" / "_background_").glob("*.wav"))
        if config.noise_dir is not None:
            state["noise"] = sorted(p for p in Path(config.noise_dir).iterdir()
                                    if p.suffix.lower() in (".wav", ".flac", ".ogg"))
            where = f"{len(state['noise'])} noise recordings from {config.noise_dir}"
        else:
            rng = np.random.default_rng(seed + 7)
            babble = [load_audio(p) for p in sentences[:12]]
            state["noise"] = []
            for name, audio in generated_noise(seconds=60.0, rng=rng, babble=babble).items():
                state["noise"].append(noise_dir / f"{name}.wav")
                write_wav(state["noise"][-1], audio, sample_rate_hz=16000)
            where = f"generated noise ({', '.join(p.stem for p in state['noise'])})"
        noises = [load_audio(p) for p in state["noise"]]
        context = [load_audio(p) for p in sentences[:50]]
        rng = np.random.default_rng(seed + 8)
        raw = sorted((data / "raw").rglob("*.wav"))
        for i, path in enumerate(raw):
            clip = place_in_context(load_audio(path), noises=noises, sentences=context,
                                    rng=rng)
            dest = data / "train" / path.parent.name
            dest.mkdir(parents=True, exist_ok=True)
            write_wav(dest / path.name, clip, sample_rate_hz=16000)
            progress(i + 1, len(raw))
        return f"{where}; {len(raw)} clips placed in context"

    def do_train() -> str:
        cfg = TrainConfig(epochs=sizes["epochs"], noise_aware_epochs=sizes["noise_aware_epochs"],
                          seed=seed, max_windows_per_file=1000, background_stride_frames=100,
                          keyword_copies=3, hard_negative_rounds=sizes["hard_negative_rounds"],
                          hard_negative_windows=1000, hard_negative_epochs=2,
                          learning_rate=2e-3,
                          augment=AugmentConfig(copies=1, noise_prob=0.9,
                                                snr_db_range=(5.0, 25.0)))
        result = train_keyword(data / "train", keyword=label, out_dir=out / "model", config=cfg,
                               noise=state["noise"], on_progress=progress)
        state["train"] = result
        files.update({"program": result.out_dir / "program.wtmk",
                      "keras_model": result.out_dir / "model.keras",
                      "tflite_model": result.out_dir / "model_int8.tflite",
                      "training_report": result.out_dir / "report.json",
                      "training_curves_png": result.out_dir / "training_curves.png"})
        acc = result.report.get("metrics", {}).get("chip_accuracy", float("nan"))
        return f"chip program accuracy on held-out clips {acc:.1%}"

    def do_compile() -> str:
        program = state["train"].program
        cost = cost_report(program).to_dict()
        state["cost"] = cost
        files["array_map_png"] = plot_array_map(program, out / "array_map.png")
        write_json(out / "cost.json", cost)
        files["cost"] = out / "cost.json"
        layers = len(program.array_layers)
        cells = sum(layer.cells for layer in program.array_layers)
        state["cost"]["cells"] = cells
        return (f"{layers} array layers, {cells:,} cells of {program.spec.usable_cells:,} "
                f"({cells / program.spec.usable_cells:.1%})")

    def do_evaluate() -> str:
        program = state["train"].program
        report = evaluate_wakeword(program, positives=list(state["test_positives"]),
                                   background=list(state["test_background"]),
                                   noise=list(state["noise"]), snr_db=config.snr_db, keyword=label,
                                   seed=seed, on_progress=progress)
        state["report"] = report
        files["evaluation"] = write_json(out / "evaluation.json", report.to_dict())
        files["det_png"] = plot_det_curve(report, out / "det.png",
                                          title=f"'{kw}' on held-out voices")
        point = report.operating_point(1.0)
        state["point"] = point
        return (f"miss rate {point.miss_rate:.1%} at {point.fa_per_hour:.2f} FA/h "
                f"(<= 1 FA/h, {report.background_hours * 60:.1f} min of background)")

    def do_pack() -> str:
        point = state["point"]
        threshold = point.threshold if np.isfinite(point.threshold) else 0.99
        state["threshold"] = float(threshold)
        detector = DetectorConfig(threshold=float(threshold))
        image = pack_image(state["train"].program, detector=detector)
        state["image"] = image
        files["image"] = write_image(out / "model.wtmkimg", image)
        return f"{len(image):,} bytes, threshold {threshold:.3f}"

    def do_flash() -> str:
        board_dir = out / "board"
        board_dir.mkdir(exist_ok=True)
        flash_file = board_dir / "flash.bin"
        flash_file.unlink(missing_ok=True)
        board = VirtualBoard(flash_file, baud=115200, seed=seed)
        url = board.serve_pty()
        port = open_port(url, baud=115200)
        client = DeployClient(port)
        state.update(board=board, port=port, client=client)
        result = client.flash(state["image"], baud=config.flash_baud, on_progress=progress)
        state["flash"] = {"summary": result.summary(), "bytes": result.image_bytes, "line_rate_pct": result.line_rate_pct,
                          "seconds": result.seconds, "url": url}
        return f"{url}: {result.summary()}"

    def do_stream() -> str:
        # a short stream built like the evaluation's (same noise and SNR), other keywords
        n_kw = sizes["board_keywords"]
        rng = np.random.default_rng(seed + 11)
        pick = rng.permutation(len(state["test_positives"]))[:n_kw]
        bg_pick = rng.permutation(len(state["test_background"]))[:3 * n_kw]
        board = build_wakeword_stream([state["test_positives"][i] for i in pick],
                                      [state["test_background"][i] for i in bg_pick],
                                      noise=list(state["noise"]), snr_db=config.snr_db,
                                      seed=seed + 11, min_gap_s=2.0)
        stream = board.samples
        spans = [(float(a) / 16000, float(b) / 16000) for a, b in board.spans]
        files["board_stream_wav"] = out / "board_stream.wav"
        write_wav(files["board_stream_wav"], stream, sample_rate_hz=16000)
        client = state["client"]
        try:
            client.send_audio(stream)
            events = list(client.events(idle_timeout_s=2.0))
        finally:
            state["port"].close()
            state["board"].stop()
        times = np.array([e.time_s for e in events], dtype=np.float64)
        spans_arr = np.array(spans, dtype=np.float64).reshape(-1, 2)
        hit, _, _ = match_events(times, spans_arr, tail_s=0.5)
        inside = [any(s <= e.time_s <= t + 0.5 for s, t in spans) for e in events]
        state["board_events"] = [{"time_s": float(e.time_s), "label": e.label,
                                  "score": float(e.score), "hit": bool(h)}
                                 for e, h in zip(events, inside)]
        state["spans"] = spans
        files["board_events"] = write_json(out / "board_events.json",
                                           {"keyword_spans_s": spans,
                                            "events": state["board_events"]})
        return (f"{int(hit.sum())} of {len(spans)} keywords detected on the board, "
                f"{sum(1 for i in inside if not i)} false alarm(s), "
                f"{stream.size / 16000:.0f} s of audio")

    stage("synthesize", do_synthesize)
    stage("context", do_context)
    stage("train", do_train)
    stage("compile", do_compile)
    stage("evaluate", do_evaluate)
    stage("pack", do_pack)
    stage("flash", do_flash)
    stage("stream", do_stream)

    point = state["point"]
    report = state["report"]
    result = DemoResult(
        out_dir=out, keyword=kw, files=files, miss_rate_at_1fa_h=float(point.miss_rate),
        fa_per_hour=float(point.fa_per_hour), threshold=state["threshold"],
        background_hours=float(report.background_hours),
        n_test_keywords=int(point.hits + point.misses), flash=state["flash"],
        board_events=state["board_events"], board_keyword_times_s=state["spans"],
        stage_seconds=stage_seconds)

    def do_summary() -> str:
        files["summary"] = out / "summary.md"
        atomic_write_text(files["summary"], _summary_markdown(result, sizes, state["train"].report,
                                                         state["cost"], config.held_out_text()))
        return str(files["summary"])

    stage("summary", do_summary)
    return result
