"""The vectorized datapath blocks: transforms, context gathering, im2col, exact products, shifts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wtmkws.firmware_model import datapath as dp
from wtmkws.firmware_model.program import Activation, ConvGeometry, InputMode, InputTransform
from wtmkws.firmware_model.spec import wtm2101

SPEC = wtm2101()


def test_direct_transform_magnifies_and_clips_at_255() -> None:
    v = np.array([0, 1, 63, 64, 127])
    out = dp.transform_codes(v, InputTransform(mode=InputMode.DIRECT, magnify=2), SPEC)
    assert out.tolist() == [0, 4, 252, 255, 255]


def test_offset_transform_adds_128() -> None:
    v = np.array([-128, -1, 0, 127])
    assert dp.transform_codes(v, InputTransform(mode=InputMode.OFFSET), SPEC).tolist() == [0, 127, 128, 255]


def test_pn_transform_splits_positive_and_negative_parts() -> None:
    v = np.array([[-3, 0, 5], [100, -128, 1]])
    out = dp.transform_codes(v, InputTransform(mode=InputMode.PN, magnify=1), SPEC)
    assert out.tolist() == [[0, 0, 10, 6, 0, 0], [200, 0, 2, 0, 255, 0]]


def test_gather_context_follows_stored_offset_order() -> None:
    codes = np.arange(12).reshape(6, 2)
    out = dp.gather_context(codes, (1, -1, 0))
    # output frame k uses frames k + c - min(c): c=1 -> k+2, c=-1 -> k, c=0 -> k+1
    assert out.shape == (4, 6)
    assert out[0].tolist() == [4, 5, 0, 1, 2, 3]
    assert dp.gather_context(codes[:2], (-2, 0, 2)).shape == (0, 6)


def test_im2col_matches_explicit_loops_with_padding_and_strides(rng: np.random.Generator) -> None:
    x = rng.integers(0, 256, size=(2, 5, 4, 3))
    g = ConvGeometry(in_shape=(5, 4, 3), kernel_h=3, kernel_w=2, stride_h=2, stride_w=1, pad_top=1,
                     pad_bottom=2, pad_left=1, pad_right=0, pad_code=77)
    cols = dp.im2col(x, g)
    oh, ow = g.out_hw
    assert cols.shape == (2, oh, ow, 3 * 2 * 3)
    for n in range(2):
        for oy in range(oh):
            for ox in range(ow):
                want = []
                for ky in range(3):
                    for kx in range(2):
                        iy, ix = oy * 2 + ky - 1, ox + kx - 1
                        want += x[n, iy, ix].tolist() if 0 <= iy < 5 and 0 <= ix < 4 else [77] * 3
                assert cols[n, oy, ox].tolist() == want


@settings(deadline=None, max_examples=40)
@given(rows=st.integers(1, 3000), outs=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       extreme=st.booleans())
def test_exact_matmul_equals_int64_arithmetic(rows: int, outs: int, seed: int, extreme: bool) -> None:
    rng = np.random.default_rng(seed)
    if extreme:  # worst case magnitudes: forces the chunked float32 + float64 path
        w = rng.choice(np.array([-128, 127], dtype=np.int8), size=(rows, outs))
        x = np.full((3, rows), 255)
    else:
        w = rng.integers(-128, 128, size=(rows, outs)).astype(np.int8)
        x = rng.integers(0, 256, size=(3, rows))
    bias = 128 * rng.integers(-128 * 16, 127 * 16, size=outs)
    mm = dp.ExactMatmul.build(w, bias, 255)
    got = mm(x)
    want = x.astype(np.int64) @ w.astype(np.int64) + bias
    assert np.array_equal(got.astype(np.int64), want)


def test_shift_floors_toward_minus_infinity_and_saturates() -> None:
    acc = np.array([-257.0, -256.0, -1.0, 0.0, 255.0, 256.0 * 200, -256.0 * 200])
    assert dp.shift_saturate(acc, 8, SPEC).tolist() == [-2, -1, -1, 0, 0, 127, -128]
    assert dp.shift_saturate(acc.astype(np.int64), 8, SPEC).tolist() == [-2, -1, -1, 0, 0, 127, -128]


def test_table_activation_indexes_twos_complement_byte() -> None:
    table = np.arange(256).astype(np.uint8).astype(np.int8)  # table[i] = int8(i)
    y = np.array([-128, -1, 0, 5, 127])
    assert dp.apply_activation(y, Activation.TABLE, table).tolist() == [-128, -1, 0, 5, 127]
    assert dp.apply_activation(y, Activation.RELU, None).tolist() == [0, 0, 0, 5, 127]


def test_digital_ops_floor_and_clip() -> None:
    assert dp.affine_requantize(np.array([-3, 3, 100]), 3, 1, 1, SPEC).tolist() == [-4, 5, 127]
    assert dp.add_op(np.array([-5, 100]), np.array([2, 100]), 1, 1, 0, 1, SPEC).tolist() == [-2, 100]
    v = np.arange(16).reshape(1, 4, 4, 1)
    assert dp.pool_op(v, kind="max", pool_h=2, pool_w=2, stride_h=2, stride_w=2, multiplier=1, offset=0,
                      shift=0, spec=SPEC)[0, :, :, 0].tolist() == [[5, 7], [13, 15]]
    assert dp.argmax_op(np.array([[1, 3, 3], [-1, -2, -1]])).tolist() == [1, 0]


def test_exact_matmul_rejects_nothing_within_chip_sizes() -> None:
    w = np.full((2 * 1792, 4), -128, dtype=np.int8)
    mm = dp.ExactMatmul.build(w, np.zeros(4, dtype=np.int64), 255)
    assert not mm.single_f32
    x = np.full((1, 2 * 1792), 255)
    assert mm(x)[0, 0] == -128 * 255 * 2 * 1792


@pytest.mark.parametrize("mag", [0, 3, 7])
def test_pn_with_magnify_keeps_codes_in_range(mag: int) -> None:
    v = np.arange(-128, 128)
    out = dp.transform_codes(v, InputTransform(mode=InputMode.PN, magnify=mag), SPEC)
    assert out.min() >= 0 and out.max() <= 255
