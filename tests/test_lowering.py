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


def test_relu_pair_identity_is_exact_for_every_accumulator() -> None:
    """Two ReLU columns offset by G/2 sum to the 8-bit value clip(floor(2 acc / G), 0, 254).

    Exhaustive over every integer accumulator from well below -128 G to well above 127 G, for
    every shift the chip allows, including both saturation edges.
    """
    spec = get_chip()
    for g in range(spec.shift_min, spec.shift_max + 1):
        G = 2**g
        assert (G // 2) % spec.bias_input_code == 0  # the offset is a whole bias-cell multiple
        acc = np.arange(-130 * G, 130 * G, dtype=np.int64)

        def relu_column(a: np.ndarray, G: int = G) -> np.ndarray:
            y = np.clip(np.floor_divide(a, G), spec.output_min, spec.output_max)
            return np.maximum(y, 0)

        pair_sum = relu_column(acc) + relu_column(acc + G // 2)
        assert np.array_equal(pair_sum, np.clip(np.floor_divide(2 * acc, G), 0, 254))
        # with the lowering's G/4 offset the pair rounds to nearest on the half-LSB grid
        a4 = acc + G // 4
        assert np.array_equal(relu_column(a4) + relu_column(a4 + G // 2),
                              np.clip(np.floor_divide(4 * acc + G, 2 * G), 0, 254))


def _relu_conv_graph(rng: np.random.Generator, pool: bool):
    from wtmkws.sdk.lowering import IRGraph, IRNode, IRTensor

    c = 5
    nodes = [IRNode(name="conv", op="conv2d", inputs=("x",), output="c",
                    weights=rng.normal(0, 0.3, (3, 3, 1, c)), bias=rng.normal(0, 0.3, c),
                    padding="same", activation="relu")]
    tensors = {"x": IRTensor(name="x", shape=(4, 6, 1)), "c": IRTensor(name="c", shape=(4, 6, c))}
    src, shape = "c", (4, 6, c)
    if pool:
        nodes.append(IRNode(name="pool", op="avgpool", inputs=("c",), output="p", pool=(2, 2),
                            stride=(2, 2)))
        tensors["p"] = IRTensor(name="p", shape=(2, 3, c))
        src, shape = "p", (2, 3, c)
    nodes.append(IRNode(name="fc", op="dense", inputs=(src,), output="y",
                        weights=rng.normal(0, 0.2, (int(np.prod(shape)), 3)),
                        bias=rng.normal(0, 0.1, 3)))
    tensors["y"] = IRTensor(name="y", shape=(3,))
    return IRGraph(name="pairs", input="x", tensors=tensors, nodes=tuple(nodes), output="y",
                   input_scale=0.05, input_zero_code=100, source_kind="keras")


def test_relu_pairs_compile_to_exact_copy_sums(rng: np.random.Generator) -> None:
    """A paired ReLU conv: copies share weights, biases differ by G/2, the emulator's copy sum is
    the 8-bit value, and the consumer's duplicated rows compute (copy sum) x (logical weight)."""
    from wtmkws.firmware_model import emulator
    from wtmkws.sdk.calibrate import calibration_stats
    from wtmkws.sdk.lowering import LoweringSettings, lower_graph, run_float

    spec = get_chip()
    g = _relu_conv_graph(rng, pool=False)
    codes = rng.integers(0, 256, (200, 4, 6)).astype(np.uint8)
    stats = calibration_stats(g, codes, clip_fraction=0.0)
    prog, rows = lower_graph(g, stats, spec=spec, labels=("a", "b", "c"),
                             settings=LoweringSettings(relu_pairs=True))
    assert prog.metadata["tensor_copies"] == {"conv": 2}
    conv, fc = prog.array_layers
    C = 5
    assert conv.n_outputs == 2 * C and fc.n_rows == 2 * 4 * 6 * C
    assert rows[0]["copies"] == 2 and rows[1]["input_copies"] == 2
    w = conv.weights.astype(np.int64)
    assert np.array_equal(w[:, :C], w[:, C:])
    G = 2**conv.shift
    b = conv.bias_values(spec)
    assert np.array_equal(b[C:] - b[:C], np.full(C, G // 2))
    # independent im2col of the conv (DIRECT input, pad with the code of real 0)
    pad = np.pad(codes.astype(np.int64), ((0, 0), (1, 1), (1, 1)),
                 constant_values=conv.conv.pad_code)
    win = np.lib.stride_tricks.sliding_window_view(pad, (3, 3), axis=(1, 2))  # (N, 4, 6, 3, 3)
    acc = win.reshape(200, 4, 6, 9) @ w[:, :C] + b[:C]
    outs = emulator.run_layers(prog, codes)
    y = outs["conv"].astype(np.int64)
    z = y[..., :C] + y[..., C:]
    assert np.array_equal(z, np.clip(np.floor_divide(2 * acc, G), 0, 254))
    # consumer: duplicated rows sum the copies exactly
    wf = fc.weights.astype(np.int64).reshape(4 * 6, 2, C, 3)
    assert np.array_equal(wf[:, 0], wf[:, 1])
    m = fc.transform.magnify
    assert (y << m).max() <= 255
    acc2 = (z << m).reshape(200, -1) @ wf[:, 0].reshape(-1, 3) + fc.bias_values(spec)
    assert np.array_equal(outs["fc"], np.clip(np.floor_divide(acc2, 2**fc.shift), -128, 127))
    # the pairs halve the output rounding error (weight and bias-cell rounding stay): the conv
    # output is closer to the float graph
    ref = run_float(g, codes, fake_quant=False)["c"]
    err = {}
    for pairs in (False, True):
        p, _ = lower_graph(g, stats, spec=spec, labels=("a", "b", "c"),
                           settings=LoweringSettings(relu_pairs=pairs, bias_correction=False))
        s = np.asarray(p.metadata["tensor_scales"]["conv"])
        v = emulator.run_layers(p, codes)["conv"] * s
        if pairs:
            v = v[..., :C] + v[..., C:]
        err[pairs] = float(np.sqrt(((v - ref) ** 2).mean()))
    assert err[True] < 0.9 * err[False]


def test_relu_pairs_pass_through_average_pool(rng: np.random.Generator) -> None:
    """Copies stay separate channels through an average pool and are summed by the dense layer;
    fidelity compares the copy sum with the source tensor."""
    from wtmkws.firmware_model import emulator
    from wtmkws.sdk.calibrate import calibration_stats
    from wtmkws.sdk.fidelity import fidelity_report
    from wtmkws.sdk.lowering import LoweringSettings, lower_graph

    g = _relu_conv_graph(rng, pool=True)
    codes = rng.integers(0, 256, (200, 4, 6)).astype(np.uint8)
    stats = calibration_stats(g, codes, clip_fraction=0.0)
    prog, _ = lower_graph(g, stats, spec=get_chip(), labels=("a", "b", "c"),
                          settings=LoweringSettings(relu_pairs=True))
    assert prog.metadata["tensor_copies"] == {"conv": 2, "pool": 2}
    assert emulator.run_layers(prog, codes)["pool"].shape == (200, 2, 3, 10)
    rep = fidelity_report(prog, g, codes)
    by_op = {r["op"]: r for r in rep["layers"]}
    assert by_op["conv"]["cosine_mean"] > 0.999 and by_op["pool"]["cosine_mean"] > 0.999
    assert rep["output"]["cosine_mean"] > 0.99


def test_relu_pairs_skip_max_pool_and_output(rng: np.random.Generator) -> None:
    """Max pooling of copies is not the max of sums, and the program output stays one column."""
    from dataclasses import replace

    from wtmkws.sdk.lowering import LoweringSettings, _paired_tensors

    g = _relu_conv_graph(rng, pool=True)
    nodes = tuple(replace(n, op="maxpool") if n.op == "avgpool" else n for n in g.nodes)
    assert _paired_tensors(replace(g, nodes=nodes), LoweringSettings()) == set()
    assert _paired_tensors(g, LoweringSettings()) == {"c"}
    assert _paired_tensors(g, LoweringSettings(relu_pairs=False)) == set()
    last = replace(g.nodes[-1], activation="relu")
    assert _paired_tensors(replace(g, nodes=g.nodes[:-1] + (last,)), LoweringSettings()) == {"c"}
