import keras
import numpy as np
import pytest

from rearec_keras.layers import full_attention_mask
from rearec_keras.layers import item_attention_mask
from rearec_keras.layers import reasoning_step_mask

T, F = True, False
PADDING = np.array([[0, 1, 1], [1, 1, 1]], dtype=bool)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_causal_item_mask_by_hand():
    mask = _np(item_attention_mask(PADDING, "causal"))
    assert mask.dtype == bool
    np.testing.assert_array_equal(
        mask[0], [[F, F, F], [F, T, F], [F, T, T]]
    )
    np.testing.assert_array_equal(
        mask[1], [[T, F, F], [T, T, F], [T, T, T]]
    )


def test_bidirectional_item_mask_by_hand():
    mask = _np(item_attention_mask(PADDING, "bidirectional"))
    np.testing.assert_array_equal(
        mask[0], [[F, T, T], [F, T, T], [F, T, T]]
    )
    np.testing.assert_array_equal(mask[1], np.ones((3, 3), bool))


def test_integer_padding_mask_is_accepted():
    mask = _np(item_attention_mask(PADDING.astype("int32"), "causal"))
    np.testing.assert_array_equal(mask, _np(item_attention_mask(PADDING)))


def test_reasoning_step_mask_by_hand():
    mask = _np(reasoning_step_mask(PADDING, 1))
    assert mask.shape == (2, 1, 4)
    np.testing.assert_array_equal(mask[0], [[F, T, T, T]])
    np.testing.assert_array_equal(mask[1], [[T, T, T, T]])
    mask = _np(reasoning_step_mask(PADDING, 3))
    assert mask.shape == (2, 1, 6)
    np.testing.assert_array_equal(mask[0], [[F, T, T, T, T, T]])


def test_full_mask_by_hand():
    mask = _np(full_attention_mask(PADDING, 2, "causal"))
    assert mask.shape == (2, 5, 5)
    np.testing.assert_array_equal(
        mask[0],
        [
            [F, F, F, F, F],
            [F, T, F, F, F],
            [F, T, T, F, F],
            [F, T, T, T, F],
            [F, T, T, T, T],
        ],
    )
    mask = _np(full_attention_mask(PADDING, 2, "bidirectional"))
    np.testing.assert_array_equal(
        mask[0],
        [
            [F, T, T, F, F],
            [F, T, T, F, F],
            [F, T, T, F, F],
            [F, T, T, T, F],
            [F, T, T, T, T],
        ],
    )
    np.testing.assert_array_equal(
        mask[1],
        [
            [T, T, T, F, F],
            [T, T, T, F, F],
            [T, T, T, F, F],
            [T, T, T, T, F],
            [T, T, T, T, T],
        ],
    )


@pytest.mark.parametrize("mode", ["causal", "bidirectional"])
def test_full_mask_is_consistent_with_step_masks(mode):
    pad = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1]], bool)
    k = 3
    full = _np(full_attention_mask(pad, k, mode))
    np.testing.assert_array_equal(full[:, :4, :4], _np(item_attention_mask(pad, mode)))
    assert not full[:, :4, 4:].any()  # items never see reasoning slots
    for j in range(1, k + 1):
        row = full[:, 3 + j : 4 + j, : 4 + j]
        np.testing.assert_array_equal(row, _np(reasoning_step_mask(pad, j)))
    np.testing.assert_array_equal(
        _np(full_attention_mask(pad, 0, mode)), _np(item_attention_mask(pad, mode))
    )


def test_mask_errors():
    with pytest.raises(ValueError, match="mode"):
        item_attention_mask(PADDING, "prefix")
    with pytest.raises(ValueError, match="num_reasoning_slots"):
        reasoning_step_mask(PADDING, 0)
    with pytest.raises(ValueError, match="num_reasoning"):
        full_attention_mask(PADDING, -1)
    with pytest.raises(ValueError, match=r"\[batch, L\]"):
        item_attention_mask(np.ones((3,), bool))
