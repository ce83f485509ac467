import keras
import numpy as np
import pytest

from rearec_keras.layers import LeftPaddedPositionEmbedding
from rearec_keras.layers import ReasoningPositionEmbedding

HISTORIES = np.array(
    [
        [0, 0, 5, 3],  # len 2
        [1, 2, 3, 4],  # len 4 (full)
        [0, 0, 0, 7],  # len 1
        [0, 9, 8, 6],  # len 3
    ]
)


def test_position_ids_by_hand():
    layer = LeftPaddedPositionEmbedding(max_length=6, hidden_dim=3)
    ids = keras.ops.convert_to_numpy(layer.position_ids(HISTORIES != 0))
    expected = np.array(
        [
            [6, 6, 0, 1],
            [0, 1, 2, 3],
            [6, 6, 6, 0],
            [6, 0, 1, 2],
        ]
    )
    np.testing.assert_array_equal(ids, expected)
    assert keras.backend.standardize_dtype(
        layer.position_ids(HISTORIES != 0).dtype
    ) == "int32"
    # The newest item (last column) always has position id len - 1.
    lengths = (HISTORIES != 0).sum(axis=1)
    np.testing.assert_array_equal(ids[:, -1], lengths - 1)


def test_call_gathers_table_rows():
    keras.utils.set_random_seed(0)
    layer = LeftPaddedPositionEmbedding(max_length=6, hidden_dim=3)
    out = keras.ops.convert_to_numpy(layer(HISTORIES != 0))
    table = keras.ops.convert_to_numpy(layer.embeddings)
    assert table.shape == (7, 3)
    assert out.shape == (4, 4, 3)
    np.testing.assert_allclose(out[0, 0], table[6])  # pad row
    np.testing.assert_allclose(out[0, 2], table[0])  # oldest real item
    np.testing.assert_allclose(out[1, 3], table[3])
    np.testing.assert_allclose(out[2, 3], table[0])


def test_default_initializer_is_normal_002():
    keras.utils.set_random_seed(0)
    layer = LeftPaddedPositionEmbedding(max_length=200, hidden_dim=64)
    layer.build((None, 200))
    table = keras.ops.convert_to_numpy(layer.embeddings)
    assert abs(table.std() - 0.02) < 0.002
    # The padding row is random too (official code), not zeros.
    assert np.abs(table[200]).sum() > 0


def test_length_above_max_length_raises():
    layer = LeftPaddedPositionEmbedding(max_length=3, hidden_dim=2)
    with pytest.raises(ValueError, match="max_length"):
        layer(HISTORIES != 0)


@pytest.mark.parametrize(
    "kwargs", [{"max_length": 0, "hidden_dim": 2}, {"max_length": 3, "hidden_dim": 0}]
)
def test_bad_constructor_args(kwargs):
    with pytest.raises(ValueError, match="must be an int >= 1"):
        LeftPaddedPositionEmbedding(**kwargs)


def test_position_embedding_config_round_trip():
    layer = LeftPaddedPositionEmbedding(max_length=5, hidden_dim=4, name="pos")
    restored = LeftPaddedPositionEmbedding.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(restored, LeftPaddedPositionEmbedding)
    assert restored.max_length == 5


def test_reasoning_position_embedding_adds_row():
    keras.utils.set_random_seed(1)
    layer = ReasoningPositionEmbedding(reasoning_steps=3, hidden_dim=4)
    x = np.random.rand(2, 4).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x, step=2))
    table = keras.ops.convert_to_numpy(layer.embeddings)
    assert table.shape == (3, 4)
    np.testing.assert_allclose(out, x + table[2], rtol=1e-6)
    x3 = x[:, None, :]
    out3 = keras.ops.convert_to_numpy(layer(x3, step=0))
    assert out3.shape == (2, 1, 4)
    np.testing.assert_allclose(out3[:, 0], x + table[0], rtol=1e-6)


@pytest.mark.parametrize("step", [-1, 3, 10])
def test_reasoning_position_step_out_of_range(step):
    layer = ReasoningPositionEmbedding(reasoning_steps=3, hidden_dim=4)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        layer(np.zeros((2, 4), "float32"), step=step)


def test_reasoning_position_bad_args():
    with pytest.raises(ValueError, match="reasoning_steps"):
        ReasoningPositionEmbedding(reasoning_steps=0, hidden_dim=4)
    with pytest.raises(ValueError, match="hidden_dim"):
        ReasoningPositionEmbedding(reasoning_steps=2, hidden_dim=-1)


def test_reasoning_position_config_round_trip():
    layer = ReasoningPositionEmbedding(reasoning_steps=2, hidden_dim=4)
    restored = ReasoningPositionEmbedding.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
