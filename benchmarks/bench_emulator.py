"""Benchmark the firmware model: batched emulator throughput vs ai-edge-litert, streaming, placement.

Run: ``python benchmarks/bench_emulator.py``; writes ``docs/bench/emulator.md``.

Measured in one run on the same frames:
* the exact emulator on a 4-layer DNN of ~250k weights, batched (frames/s);
* ai-edge-litert running an equivalent Keras model (4 Dense layers, same sizes) exported with
  TFLiteConverter full-int8 quantization, batched by resizing the input tensor;
* the streaming emulator (one frame per push) on the same DNN;
* placement of a 40-layer, 1.5 M-cell program.
Timings are best of several repeats; the machine is shared, so numbers are noisy.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from programgen import dense_program  # noqa: E402
from wtmkws.audio_pipeline.atomic import atomic_write_text  # noqa: E402
from wtmkws.firmware_model.emulator import StreamingEmulator, run  # noqa: E402
from wtmkws.firmware_model.placement import place  # noqa: E402
from wtmkws.firmware_model.program import INPUT, ArrayLayer, LayerKind, Program, ProgramMode  # noqa: E402

SIZES = (400, 320, 256, 160, 12)
N_FRAMES = 20_000
REPEATS = 5


def best_time(fn, repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def litert_model(codes: np.ndarray) -> tuple[float, str]:
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(SIZES[0],))
    x = inp
    for i, n in enumerate(SIZES[1:]):
        x = keras.layers.Dense(n, activation="relu" if i < len(SIZES) - 2 else None)(x)
    model = keras.Model(inp, x)
    feats = codes.astype(np.float32) / 255.0
    rep = feats[:200]

    def representative():
        for row in rep:
            yield [row[None, :]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    blob = conv.convert()
    interp = Interpreter(model_content=blob, num_threads=2)
    idx = interp.get_input_details()[0]["index"]
    scale, zero = interp.get_input_details()[0]["quantization"]
    q = np.clip(np.round(feats / scale + zero), -128, 127).astype(np.int8)
    interp.resize_tensor_input(idx, [len(q), SIZES[0]])
    interp.allocate_tensors()

    def go() -> None:
        interp.set_tensor(idx, q)
        interp.invoke()
        interp.get_tensor(interp.get_output_details()[0]["index"])

    go()
    return best_time(go), "input tensor resized to (N, 400), one invoke, num_threads=2"


def forty_layer_program() -> Program:
    rng = np.random.default_rng(0)
    layers = [ArrayLayer(name=f"l{i:02d}", kind=LayerKind.DENSE, inputs=(INPUT,),
                         weights=rng.integers(-64, 64, size=(440, 84)).astype(np.int8),
                         bias_cells=np.zeros((8, 84), np.int8), shift=10) for i in range(40)]
    return Program(name="forty", mode=ProgramMode.STREAM, input_width=440, input_frames=1, ops=tuple(layers),
                   labels=())


def main() -> None:
    rng = np.random.default_rng(1)
    program = dense_program(np.random.default_rng(0), SIZES)
    weights = sum(layer.weights.size for layer in program.array_layers)
    codes = rng.integers(0, 256, size=(N_FRAMES, SIZES[0]), dtype=np.uint8)
    run(program, codes[:10])
    t_emu = best_time(lambda: run(program, codes))
    fps_emu = N_FRAMES / t_emu

    emu = StreamingEmulator(program)
    n_stream = 2000
    t_stream = best_time(lambda: (emu.reset(), [emu.push(f) for f in codes[:n_stream]]), repeats=2)
    fps_stream = n_stream / t_stream

    try:
        t_lite, how = litert_model(codes)
        fps_lite = N_FRAMES / t_lite
        lite_row = f"| ai-edge-litert int8 (Keras export, same sizes) batched | {fps_lite:,.0f} | {how} |"
        ratio = f"{fps_emu / fps_lite:.2f}x"
    except Exception as exc:  # report, don't hide
        fps_lite = float("nan")
        lite_row = f"| ai-edge-litert | failed | {type(exc).__name__}: {exc} |"
        ratio = "n/a"

    big = forty_layer_program()
    cells = sum(layer.cells for layer in big.array_layers)
    t_place = best_time(lambda: place(big), repeats=3)

    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        "# Emulator benchmark",
        "",
        f"Machine: `{platform.platform()}`, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; Python {platform.python_version()}, numpy {np.__version__}. Date {now}.",
        "The machine is shared with other jobs while this runs: figures are best-of-N and still noisy.",
        "",
        f"DNN: {' -> '.join(map(str, SIZES))} (4 DENSE layers, {weights:,} weights, ReLU, 8 bias rows), "
        f"{N_FRAMES:,} random uint8 frames.",
        "",
        "| what | frames/s | notes |",
        "|---|---|---|",
        f"| wtmkws emulator, batched, exact | {fps_emu:,.0f} | float32 BLAS with a proven < 2^24 bound, "
        "bit-exact (target >= 20,000) |",
        lite_row,
        f"| ratio emulator / litert | {ratio} | goal >= 1.0x |",
        f"| wtmkws StreamingEmulator, one frame per push | {fps_stream:,.0f} | python per-frame overhead |",
        "",
        "| placement | value |",
        "|---|---|",
        f"| program | 40 DENSE layers of 440 rows + 8 bias rows x 84 outputs, {cells:,} cells "
        f"({100 * cells / (1792 * 896):.1f} % of the usable array) |",
        f"| place() time | {t_place * 1000:.1f} ms (target < 10 s) |",
        "",
    ]
    out = ROOT / "docs" / "bench" / "emulator.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
