"""The cost model: MACs, invocations, cells, NPU time and share of a real-time frame."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from programgen import dense_program, tiny_stream_program
from wtmkws.firmware_model.cost import cost_report
from wtmkws.firmware_model.placement import place
from wtmkws.firmware_model.program import (
    INPUT,
    ArrayLayer,
    ConvGeometry,
    LayerKind,
    Program,
    ProgramMode,
)


def test_dense_costs_match_hand_computation() -> None:
    program = dense_program(np.random.default_rng(0), (400, 300, 10))
    rep = cost_report(program)
    assert [c.macs for c in rep.layers] == [400 * 300, 300 * 10]
    assert rep.macs == 123_000 and rep.macs_per_frame == 123_000
    assert [c.cells for c in rep.layers] == [408 * 300, 308 * 10]
    assert rep.npu_time_us == pytest.approx(2 * 123_000 / 50e9 * 1e6)
    assert rep.frame_share == pytest.approx(rep.npu_time_us / 10_000)
    assert rep.n_layers == 2 and rep.max_layers == 40 and rep.usable_cells == 1792 * 896
    assert rep.to_dict()["layers"][0]["name"] == "fc0"


def test_split_layers_count_one_invocation_per_block() -> None:
    program = dense_program(np.random.default_rng(0), (1500, 20, 4))
    rep = cost_report(place(program))
    assert rep.layers[0].blocks == 2 and rep.layers[0].invocations == 2
    assert cost_report(program).layers[0].blocks == 2  # unplaced: the pieces placement would make


def test_window_conv_costs_scale_with_positions_and_hop() -> None:
    geom = ConvGeometry(in_shape=(10, 8, 1), kernel_h=3, kernel_w=3, stride_h=1, stride_w=2, pad_left=1)
    layer = ArrayLayer(name="conv", kind=LayerKind.CONV2D, inputs=(INPUT,),
                       weights=np.ones((9, 4), np.int8), bias_cells=np.zeros((8, 4), np.int8), shift=8, conv=geom)
    program = Program(name="w", mode=ProgramMode.WINDOW, input_width=8, input_frames=10, ops=(layer,), labels=(),
                      metadata={"hop_frames": 5})
    rep = cost_report(program)
    oh, ow = geom.out_hw
    assert rep.layers[0].positions == oh * ow
    assert rep.macs == oh * ow * 9 * 4
    assert rep.macs_per_frame == pytest.approx(rep.macs / 5)
    assert rep.frame_share == pytest.approx(rep.npu_time_us / 5 / 10_000)
    one = cost_report(dataclasses.replace(program, metadata={}))
    assert one.hop_frames == 1 and one.frame_share == pytest.approx(5 * rep.frame_share)


def test_tiny_program_uses_a_negligible_share_of_real_time() -> None:
    rep = cost_report(tiny_stream_program())
    assert 0 < rep.frame_share < 1e-3
