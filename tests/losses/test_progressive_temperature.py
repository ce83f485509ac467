import keras
import numpy as np
import pytest

from rearec_keras.losses import ProgressiveTemperature
from rearec_keras.losses import progressive_temperature_values
from rearec_keras.losses import progressive_temperatures


def test_schedule_paper_example():
    taus = progressive_temperatures(3, base_temperature=1.0, temperature_decay=2.0)
    assert keras.backend.standardize_dtype(taus.dtype) == "float32"
    assert tuple(taus.shape) == (4,)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(taus), np.float32([8, 4, 2, 1])
    )


def test_schedule_code_defaults():
    taus = keras.ops.convert_to_numpy(progressive_temperatures(2, 0.07, 5.0))
    np.testing.assert_array_equal(taus, np.float32([1.75, 0.35, 0.07]))
    # Defaults of the function are the code's.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(progressive_temperatures(2)), taus
    )
    np.testing.assert_allclose(
        progressive_temperature_values(2, 0.07, 5.0), [1.75, 0.35, 0.07],
        rtol=1e-12,
    )


def test_schedule_k0_and_no_annealing():
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(progressive_temperatures(0, 0.5, 3.0)), [0.5]
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(progressive_temperatures(3, 0.5, 1.0)),
        np.float32([0.5] * 4),
    )


@pytest.mark.parametrize("tau", [0.0, -0.1, float("nan")])
def test_rejects_non_positive_base_temperature(tau):
    with pytest.raises(ValueError, match="base_temperature"):
        progressive_temperatures(2, base_temperature=tau, temperature_decay=2.0)


@pytest.mark.parametrize("alpha", [0.99, 0.0, -2.0])
def test_rejects_decay_below_one(alpha):
    with pytest.raises(ValueError, match=r"temperature_decay.*>= 1.*" + str(alpha)):
        progressive_temperatures(2, base_temperature=1.0, temperature_decay=alpha)


@pytest.mark.parametrize("k", [-1, 1.5, True])
def test_rejects_bad_reasoning_steps(k):
    with pytest.raises(ValueError, match="reasoning_steps"):
        progressive_temperatures(k, base_temperature=1.0, temperature_decay=2.0)


def test_layer_divides_each_step():
    layer = ProgressiveTemperature(3, base_temperature=1.0, temperature_decay=2.0)
    x = np.arange(4 * 2 * 3, dtype="float32").reshape(2, 4, 3)
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(
        out, x / np.float32([8, 4, 2, 1]).reshape(1, 4, 1), rtol=1e-7
    )
    assert layer.temperatures == [8.0, 4.0, 2.0, 1.0]


def test_layer_float32_output_for_half_inputs():
    layer = ProgressiveTemperature(1, base_temperature=0.5, temperature_decay=2.0)
    x = keras.ops.ones((2, 2, 5), dtype="bfloat16")
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out)[0, :, 0], [1.0, 2.0]
    )


def test_layer_rejects_wrong_number_of_steps():
    layer = ProgressiveTemperature(2)
    with pytest.raises(ValueError, match="3 reasoning steps"):
        layer(np.zeros((2, 4, 5), "float32"))


def test_layer_config_round_trip():
    layer = ProgressiveTemperature(
        2, base_temperature=0.3, temperature_decay=1.5, name="taus"
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(restored, ProgressiveTemperature)
    assert restored.get_config() == layer.get_config()
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored(x)),
        keras.ops.convert_to_numpy(layer(x)),
    )
