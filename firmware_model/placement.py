"""Placement of array layers onto the chip's array, its checks, and a placement table.

Every layer is cut into *pieces* (rectangles of weight rows + bias rows by output columns):

* too wide: split by output columns into the fewest ranges of at most ``usable_cols`` columns,
  of equal width (+-1);
* too tall: each column range is split by weight rows so that every piece fits one row region; the
  first piece (``in_rows[0] == 0``) also holds the layer's bias rows, right after its weight rows.

Pieces never cross the row-region split (``ChipSpec.row_region_split``) and never use the reserved
columns. The packer is a deterministic skyline (bottom-left) packer per row region: pieces are
taken tallest first (then widest, then program order) and each goes to the lowest free position of
any region (ties: first region, then leftmost column). A piece that finds no free rectangle is
halved (columns first, then rows; the bias rows stay with the piece holding weight row 0) and the
halves are placed in turn, up to 6 times. Placement never changes the ideal
arithmetic (row blocks' partial sums are added exactly before the shift); it matters for the
non-ideal mode (one read per block, weak columns).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from wtmkws.firmware_model.program import ArrayLayer, Block, Program, ProgramError
from wtmkws.firmware_model.spec import ChipSpec

__all__ = ["PlacementError", "place", "check_placement", "placement_rows", "layer_pieces", "unplace"]


_MAX_SPLIT_DEPTH = 6
"""How many times the packer may halve a piece that finds no free rectangle."""


class PlacementError(ProgramError):
    """A program does not fit the array (too many layers, cells over budget, a piece with no room)."""


def layer_pieces(layer: ArrayLayer, spec: ChipSpec) -> list[tuple[tuple[int, int], tuple[int, int], int]]:
    """Cut a layer into pieces that each fit one row region and the usable columns.

    Args:
        layer: the array layer.
        spec: the chip spec.

    Returns:
        ``[(in_rows, out_cols, bias_rows), ...]`` half-open ranges of logical rows/outputs.

    Raises:
        PlacementError: the bias rows alone do not fit a row region.
    """
    region = spec.region_rows
    r_b = layer.n_bias_rows
    if r_b >= region:
        raise PlacementError(f"layer {layer.name!r} has {r_b} bias rows; a row region holds {region}")
    pieces = []
    n_col = -(-layer.n_outputs // spec.usable_cols)
    edges = [layer.n_outputs * k // n_col for k in range(n_col + 1)]
    for c0, c1 in zip(edges[:-1], edges[1:]):
        r0 = 0
        first = True
        while r0 < layer.n_rows:
            room = region - (r_b if first else 0)
            r1 = min(r0 + room, layer.n_rows)
            pieces.append(((r0, r1), (c0, c1), r_b if first else 0))
            first = False
            r0 = r1
    return pieces


def unplace(program: Program) -> Program:
    """A copy of the program with every array layer's blocks removed."""
    ops = tuple(dataclasses.replace(op, blocks=()) if isinstance(op, ArrayLayer) else op for op in program.ops)
    return dataclasses.replace(program, ops=ops)


def _budget_checks(program: Program, spec: ChipSpec) -> None:
    layers = program.array_layers
    usable = spec.usable_cells
    total = sum(layer.cells for layer in layers)
    if len(layers) > spec.max_layers:
        raise PlacementError(
            f"program {program.name!r} has {len(layers)} array layers but {spec.name} holds at most "
            f"{spec.max_layers} ({total:,} cells of {usable:,})",
            hint="merge or remove layers; all resident networks share the 40 layers")
    used = 0
    for layer in layers:
        if layer.cells > usable:
            raise PlacementError(
                f"layer {layer.name!r} needs {layer.cells:,} cells ({layer.n_rows} rows + "
                f"{layer.n_bias_rows} bias rows x {layer.n_outputs} outputs), more than the whole "
                f"usable array ({usable:,} cells)", hint="make the layer smaller")
        if used + layer.cells > usable:
            raise PlacementError(
                f"layer {layer.name!r} needs {layer.cells:,} cells but only {usable - used:,} are free "
                f"(program needs {total:,} of {usable:,})", hint="shrink the model or prune layers")
        used += layer.cells


def place(program: Program, *, spec: ChipSpec | None = None) -> Program:
    """Place every array layer of a program onto the array.

    Args:
        program: the program (any existing placement is discarded).
        spec: chip spec; the program's chip when None.

    Returns:
        A new Program whose array layers carry their blocks.

    Raises:
        PlacementError: too many layers, cells over budget, or no free rectangle for a piece;
            the message names the layer and the numbers.
        ProgramError: the program is otherwise invalid.
    """
    from wtmkws.firmware_model.validate import validate_program

    spec = spec or program.spec
    _budget_checks(program, spec)
    bare = unplace(program)
    validate_program(bare)
    regions = spec.row_regions
    cols = spec.usable_cols
    sky = [np.zeros(cols, dtype=np.int64) for _ in regions]
    pieces = []
    for li, layer in enumerate(bare.array_layers):
        ps = layer_pieces(layer, spec)
        for pi, (rows, outs, r_b) in enumerate(ps):
            pieces.append((li, pi, len(ps), layer, rows, outs, r_b))
    order = sorted(pieces, key=lambda p: (-(p[4][1] - p[4][0] + p[6]), -(p[5][1] - p[5][0]), p[0], p[1]))
    blocks: dict[int, list[tuple[int, Block]]] = {}
    state = {"free": spec.usable_cells, "seq": 0}

    def try_place(h: int, w: int) -> tuple[int, int, int] | None:
        best = None
        for ri, (a, b) in enumerate(regions):
            if h > b - a or w > cols:
                continue
            tops = sliding_window_view(sky[ri], w).max(axis=1)
            ok = np.flatnonzero(tops + h <= b - a)
            if ok.size == 0:
                continue
            x = int(ok[np.argmin(tops[ok])])
            y = int(tops[x])
            if best is None or y < best[0]:
                best = (y, ri, x)
        return best

    def put(li: int, rows: tuple[int, int], outs: tuple[int, int], r_b: int, depth: int) -> bool:
        h = rows[1] - rows[0] + r_b
        w = outs[1] - outs[0]
        best = try_place(h, w)
        if best is not None:
            y, ri, x = best
            sky[ri][x:x + w] = y + h
            state["free"] -= h * w
            blk = Block(row0=regions[ri][0] + y, col0=spec.reserved_cols + x, in_rows=rows, out_cols=outs,
                        bias_rows=r_b)
            blocks.setdefault(li, []).append((state["seq"], blk))
            state["seq"] += 1
            return True
        if depth >= _MAX_SPLIT_DEPTH:
            return False
        # no room for the whole piece: split it (columns first, then rows) and place the halves
        if w >= 2:
            mid = (outs[0] + outs[1]) // 2
            return put(li, rows, (outs[0], mid), r_b, depth + 1) and put(li, rows, (mid, outs[1]), r_b, depth + 1)
        if rows[1] - rows[0] >= 2:
            mid = (rows[0] + rows[1]) // 2
            return put(li, (rows[0], mid), outs, r_b, depth + 1) and put(li, (mid, rows[1]), outs, 0, depth + 1)
        return False

    for li, pi, n_pieces, layer, rows, outs, r_b in order:
        free_before = state["free"]
        if not put(li, rows, outs, r_b, 0):
            h = rows[1] - rows[0] + r_b
            w = outs[1] - outs[0]
            raise PlacementError(
                f"layer {layer.name!r} piece {pi + 1} of {n_pieces} needs {h} rows x {w} columns but no "
                f"free rectangle that size is left, even split further ({free_before:,} of "
                f"{spec.usable_cells:,} cells still free, fragmented)",
                hint="shrink the model or split it into smaller layers")
    ops = []
    li = 0
    for op in bare.ops:
        if isinstance(op, ArrayLayer):
            ordered = sorted((b for _, b in blocks[li]), key=lambda b: (b.out_cols, b.in_rows))
            ops.append(dataclasses.replace(op, blocks=tuple(ordered)))
            li += 1
        else:
            ops.append(op)
    return dataclasses.replace(bare, ops=tuple(ops))


def _check_layer_blocks(program: Program, layer: ArrayLayer, spec: ChipSpec) -> None:
    where = f"layer {layer.name!r}"
    if not layer.blocks:
        raise ProgramError(f"{where} is not placed", hint="place the program first")
    cover = np.zeros((layer.n_rows, layer.n_outputs), dtype=np.int32)
    for b in layer.blocks:
        if not (0 <= b.in_rows[0] < b.in_rows[1] <= layer.n_rows and 0 <= b.out_cols[0] < b.out_cols[1]
                <= layer.n_outputs):
            raise ProgramError(f"{where} block rows {b.in_rows} cols {b.out_cols} outside the layer's "
                               f"{layer.n_rows} rows x {layer.n_outputs} outputs")
        want = layer.n_bias_rows if b.in_rows[0] == 0 else 0
        if b.bias_rows != want:
            raise ProgramError(f"{where} block at rows {tuple(b.in_rows)} holds {b.bias_rows} bias rows "
                               f"(expected {want})")
        cover[b.in_rows[0]:b.in_rows[1], b.out_cols[0]:b.out_cols[1]] += 1
    if cover.min() != 1 or cover.max() != 1:
        bad = np.argwhere(cover != 1)[0]
        n = int(cover[bad[0], bad[1]])
        raise ProgramError(f"{where} blocks cover weight row {bad[0]}, output {bad[1]} {n} times (expected "
                           f"once; {int((cover == 1).sum()):,} of {cover.size:,} cells covered once)")
    for b in layer.blocks:
        r1, c1 = b.row0 + b.n_rows, b.col0 + b.n_cols
        if b.row0 < 0 or r1 > spec.array_rows or b.col0 < spec.reserved_cols or c1 > spec.array_cols:
            raise ProgramError(f"{where} block at rows {b.row0}..{r1 - 1}, columns {b.col0}..{c1 - 1} is "
                               f"outside the usable area (rows 0..{spec.array_rows - 1}, columns "
                               f"{spec.reserved_cols}..{spec.array_cols - 1})")
        if not any(a <= b.row0 and r1 <= z for a, z in spec.row_regions):
            raise ProgramError(f"{where} block at rows {b.row0}..{r1 - 1} crosses the row-region split "
                               f"at {spec.row_region_split}")


def check_placement(program: Program, *, spec: ChipSpec | None = None) -> None:
    """Check that every array layer is placed, tiled exactly, in bounds, in one region, no overlap.

    Args:
        program: a placed program.
        spec: chip spec; the program's chip when None.

    Raises:
        ProgramError: the first problem, naming the layer(s) and the cells.
    """
    spec = spec or program.spec
    layers = program.array_layers
    if len(layers) > spec.max_layers:
        raise PlacementError(f"program {program.name!r} has {len(layers)} array layers but {spec.name} "
                             f"holds at most {spec.max_layers}")
    owner = np.zeros((spec.array_rows, spec.array_cols), dtype=np.int16)
    for li, layer in enumerate(layers, start=1):
        _check_layer_blocks(program, layer, spec)
        for bi, b in enumerate(layer.blocks):
            view = owner[b.row0:b.row0 + b.n_rows, b.col0:b.col0 + b.n_cols]
            hit = np.argwhere(view != 0)
            if hit.size:
                r, c = int(hit[0][0]), int(hit[0][1])
                other = layers[int(view[r, c]) - 1].name
                raise ProgramError(f"layer {layer.name!r} block {bi} overlaps layer {other!r} at row "
                                   f"{b.row0 + r}, column {b.col0 + c}",
                                   hint="re-place the program (placement.place)")
            view[...] = li


def placement_rows(program: Program) -> list[dict]:
    """One row per placed block, for tables and JSON reports.

    Args:
        program: a placed program.

    Returns:
        Dicts with ``layer, block, region, row0, rows, col0, cols, in_rows, out_cols, bias_rows,
        cells`` (ints; ranges as [start, stop) lists).
    """
    spec = program.spec
    out = []
    for layer in program.array_layers:
        for bi, b in enumerate(layer.blocks):
            region = next((i for i, (a, z) in enumerate(spec.row_regions) if a <= b.row0 < z), -1)
            out.append({"layer": layer.name, "block": bi, "region": region, "row0": b.row0,
                        "rows": b.n_rows, "col0": b.col0, "cols": b.n_cols, "in_rows": list(b.in_rows),
                        "out_cols": list(b.out_cols), "bias_rows": b.bias_rows,
                        "cells": b.n_rows * b.n_cols})
    return out
