"""Placement: pieces inside the usable area, one row region each, no overlaps, clear refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from programgen import dense_program, random_program, small_spec
from wtmkws.firmware_model.placement import (
    PlacementError,
    check_placement,
    layer_pieces,
    place,
    placement_rows,
)
from wtmkws.firmware_model.program import (
    INPUT,
    Activation,
    ArrayLayer,
    Block,
    LayerKind,
    Program,
    ProgramError,
    ProgramMode,
)
from wtmkws.firmware_model.spec import wtm2101

SPEC = wtm2101()


def _chain(sizes: list[tuple[int, int]], bias_rows: int = 8) -> Program:
    ops = []
    src = INPUT
    for i, (rows, outs) in enumerate(sizes):
        ops.append(ArrayLayer(name=f"fc{i}", kind=LayerKind.DENSE, inputs=(src,),
                              weights=np.ones((rows, outs), np.int8), bias_cells=np.zeros((bias_rows, outs), np.int8),
                              shift=8, activation=Activation.RELU))
        src = f"fc{i}"
    return Program(name="chain", mode=ProgramMode.STREAM, input_width=sizes[0][0], input_frames=1,
                   ops=tuple(ops), labels=())


def _sizes_chain(widths: list[int]) -> Program:
    return _chain([(widths[i], widths[i + 1]) for i in range(len(widths) - 1)])


def _assert_valid(program: Program, spec=SPEC) -> None:
    occupied = np.zeros((spec.array_rows, spec.array_cols), dtype=int)
    for layer in program.array_layers:
        for b in layer.blocks:
            assert b.col0 >= spec.reserved_cols and b.col0 + b.n_cols <= spec.array_cols
            assert any(a <= b.row0 and b.row0 + b.n_rows <= z for a, z in spec.row_regions)
            occupied[b.row0:b.row0 + b.n_rows, b.col0:b.col0 + b.n_cols] += 1
        assert sum(b.n_rows * b.n_cols for b in layer.blocks) == layer.cells
    assert occupied.max() <= 1
    check_placement(program, spec=spec)


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_programs_place_without_overlap_or_region_crossing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    program = random_program(rng, mode="stream" if seed % 2 else "window", max_rows=200, max_width=40)
    spec = small_spec()
    try:
        placed = place(program, spec=spec)
    except PlacementError:
        return  # a random program may not fit the tiny test chip; refusals are tested below
    _assert_valid(placed, spec)
    assert [layer.name for layer in placed.array_layers] == [layer.name for layer in program.array_layers]


def test_tall_and_wide_layers_are_split_per_region_and_columns() -> None:
    program = _sizes_chain([1000, 900, 10])
    placed = place(program)
    _assert_valid(placed)
    big = placed.array_layers[0]
    assert {b.out_cols for b in big.blocks if b.in_rows[0] == 0} == {(0, 450), (450, 900)}
    first = [b for b in big.blocks if b.in_rows[0] == 0]
    assert all(b.bias_rows == 8 and b.n_rows <= SPEC.region_rows for b in first)
    assert all(b.bias_rows == 0 for b in big.blocks if b.in_rows[0] != 0)
    assert len(layer_pieces(program.array_layers[0], SPEC)) == 2 * 2
    assert len(layer_pieces(_sizes_chain([3000, 1800]).array_layers[0], SPEC)) == 3 * 4


def test_too_many_layers_is_refused_naming_the_count() -> None:
    program = _sizes_chain([4] * 42)
    with pytest.raises(PlacementError, match="has 41 array layers but WTM2101 holds at most 40"):
        place(program)


def test_cells_over_budget_are_refused_naming_the_layer_and_numbers() -> None:
    program = _chain([(1776, 896), (896, 1000)])
    with pytest.raises(PlacementError, match=r"layer 'fc1' needs 904,000 cells but only 7,168 are free"):
        place(program)


def test_layer_larger_than_the_array_is_refused() -> None:
    program = _chain([(2000, 900)])
    with pytest.raises(PlacementError, match=r"layer 'fc0' needs 1,807,200 cells .* more than the whole usable"):
        place(program)


def test_fragmented_array_refuses_naming_the_piece() -> None:
    # tiny chip (2 regions of 64 rows x 128 columns): the two 40-row layers (placed first, tallest
    # first) leave 24 free rows per region, so the 30-row layer finds no rectangle tall enough,
    # however often its columns are halved
    layers = []
    for i, n in enumerate((22, 32, 32)):
        layers.append(ArrayLayer(name=f"t{i}", kind=LayerKind.TDNN, inputs=(INPUT,),
                                 weights=np.ones((n, 128), np.int8), bias_cells=np.zeros((8, 128), np.int8),
                                 shift=8, context=tuple(range(n))))
    program = Program(name="frag", mode=ProgramMode.STREAM, input_width=1, input_frames=1, ops=tuple(layers),
                      labels=())
    with pytest.raises(PlacementError, match=r"layer 't0' piece 1 of 1 needs 30 rows x 128 columns but no free"):
        place(program, spec=small_spec())


def test_check_placement_finds_overlap_and_region_crossing() -> None:
    placed = place(_sizes_chain([10, 10, 10]))
    l0, l1 = placed.array_layers
    moved = dataclasses.replace(l1, blocks=(dataclasses.replace(l1.blocks[0], row0=l0.blocks[0].row0,
                                                                 col0=l0.blocks[0].col0),))
    bad = dataclasses.replace(placed, ops=(l0, moved))
    with pytest.raises(ProgramError, match="overlaps layer 'fc0'"):
        check_placement(bad)
    crossing = dataclasses.replace(l1, blocks=(dataclasses.replace(l1.blocks[0], row0=890),))
    with pytest.raises(ProgramError, match="crosses the row-region split at 896"):
        check_placement(dataclasses.replace(placed, ops=(l0, crossing)))
    reserved = dataclasses.replace(l1, blocks=(dataclasses.replace(l1.blocks[0], col0=0),))
    with pytest.raises(ProgramError, match="outside the usable area"):
        check_placement(dataclasses.replace(placed, ops=(l0, reserved)))
    partial = dataclasses.replace(l1, blocks=(Block(row0=500, col0=500, in_rows=(0, 5), out_cols=(0, 10),
                                                    bias_rows=8),))
    with pytest.raises(ProgramError, match="blocks cover weight row 5, output 0 0 times"):
        check_placement(dataclasses.replace(placed, ops=(l0, partial)))


def test_forty_layer_program_near_budget_places() -> None:
    layers = []
    rng = np.random.default_rng(0)
    for i in range(40):
        layers.append(ArrayLayer(name=f"l{i}", kind=LayerKind.DENSE, inputs=(INPUT,),
                                 weights=rng.integers(-3, 3, size=(440, 84)).astype(np.int8),
                                 bias_cells=np.zeros((8, 84), np.int8), shift=8))
    program = Program(name="forty", mode=ProgramMode.STREAM, input_width=440, input_frames=1, ops=tuple(layers),
                      labels=())
    placed = place(program)
    _assert_valid(placed)
    assert sum(layer.cells for layer in placed.array_layers) == 1_505_280
    rows = placement_rows(placed)
    assert len(rows) == 40 and {r["region"] for r in rows} == {0, 1}


def test_place_is_deterministic() -> None:
    program = dense_program(np.random.default_rng(0), (300, 200, 100, 10))
    a, b = place(program), place(program)
    assert [layer.blocks for layer in a.array_layers] == [layer.blocks for layer in b.array_layers]
