import keras
import numpy as np
import pytest

from rearec_keras.losses import MultiStepCrossEntropy
from rearec_keras.losses import progressive_temperature_values

# B=2 examples, K=2 (3 steps), N=4 items (+ padding column 0).
LOGITS = np.array(
    [
        [[9.0, 1.0, 2.0, 0.5, -1.0], [3.0, 0.0, 1.5, 2.0, 1.0], [-2.0, 2.0, -1.0, 0.0, 0.3]],
        [[0.0, 0.2, 0.1, -0.3, 1.2], [5.0, -1.0, 0.0, 1.0, 2.0], [1.0, 0.5, 0.5, 3.0, -2.0]],
    ],
    dtype="float32",
)
TARGETS = np.array([2, 4])
TAUS = [4.0, 2.0, 1.0]


def np_ce(row, target, tau):
    """Cross-entropy by hand: softmax over the real items 1..N only."""
    z = np.asarray(row, "float64")[1:] / tau
    return np.log(np.sum(np.exp(z - z.max()))) + z.max() - z[target - 1]


def per_step_ce(logits, targets, taus):
    return np.array(
        [
            [np_ce(logits[b, k], targets[b], taus[k]) for k in range(logits.shape[1])]
            for b in range(logits.shape[0])
        ]
    )


def as_np(x):
    return keras.ops.convert_to_numpy(x)


def test_paper_variant_sums_steps_with_temperatures():
    ce = per_step_ce(LOGITS, TARGETS, TAUS)
    loss = MultiStepCrossEntropy(temperatures=TAUS, reduction=None)
    np.testing.assert_allclose(as_np(loss(TARGETS, LOGITS)), ce.sum(1), rtol=1e-6)
    # Default reduction: mean over the batch.
    mean = MultiStepCrossEntropy(temperatures=TAUS)(TARGETS, LOGITS)
    np.testing.assert_allclose(as_np(mean), ce.sum(1).mean(), rtol=1e-6)


def test_paper_variant_step_weights():
    ce = per_step_ce(LOGITS, TARGETS, TAUS)
    loss = MultiStepCrossEntropy(
        temperatures=TAUS, step_weights=[0.5, 0.0, 2.0], reduction=None
    )
    np.testing.assert_allclose(
        as_np(loss(TARGETS, LOGITS)), ce @ np.array([0.5, 0.0, 2.0]), rtol=1e-6
    )


def test_code_variant_weighting():
    ce = per_step_ce(LOGITS, TARGETS, TAUS)
    expected = ce[:, 2] + ce[:, :2].mean(1)
    loss = MultiStepCrossEntropy(temperatures=TAUS, variant="code", reduction=None)
    np.testing.assert_allclose(as_np(loss(TARGETS, LOGITS)), expected, rtol=1e-6)
    weighted = MultiStepCrossEntropy(
        temperatures=TAUS, variant="code", progressive_weight=0.3, reduction=None
    )
    np.testing.assert_allclose(
        as_np(weighted(TARGETS, LOGITS)),
        ce[:, 2] + 0.3 * ce[:, :2].mean(1),
        rtol=1e-6,
    )
    assert weighted.step_weights_for(3) == pytest.approx([0.15, 0.15, 1.0])


def test_scalar_and_default_temperatures():
    ce1 = per_step_ce(LOGITS, TARGETS, [1.0] * 3)
    np.testing.assert_allclose(
        as_np(MultiStepCrossEntropy(reduction=None)(TARGETS, LOGITS)),
        ce1.sum(1),
        rtol=1e-6,
    )
    ce07 = per_step_ce(LOGITS, TARGETS, [0.07] * 3)
    np.testing.assert_allclose(
        as_np(MultiStepCrossEntropy(temperatures=0.07, reduction=None)(TARGETS, LOGITS)),
        ce07.sum(1),
        rtol=1e-5,
    )


def test_accepts_progressive_schedule_tensor_and_column_targets():
    from rearec_keras.losses import progressive_temperatures

    loss = MultiStepCrossEntropy(
        temperatures=progressive_temperatures(2, 0.5, 2.0), reduction=None
    )
    ce = per_step_ce(LOGITS, TARGETS, [2.0, 1.0, 0.5])
    np.testing.assert_allclose(
        as_np(loss(TARGETS[:, None], LOGITS)), ce.sum(1), rtol=1e-6
    )


def test_padding_column_never_gets_probability():
    loss = MultiStepCrossEntropy(temperatures=TAUS, variant="code")
    base = as_np(loss(TARGETS, LOGITS))
    pushed = LOGITS.copy()
    pushed[:, :, 0] = 100.0
    np.testing.assert_allclose(as_np(loss(TARGETS, pushed)), base, rtol=1e-7)
    pushed[:, :, 0] = -100.0
    np.testing.assert_allclose(as_np(loss(TARGETS, pushed)), base, rtol=1e-7)


@pytest.mark.parametrize("variant", ["paper", "code"])
@pytest.mark.parametrize("tau", [1.0, 0.07])
def test_k0_is_plain_sparse_cross_entropy(variant, tau):
    logits = LOGITS[:, 0, :]
    masked = logits.copy()
    masked[:, 0] = -1e9
    reference = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        TARGETS, masked / tau
    )
    loss = MultiStepCrossEntropy(temperatures=[tau], variant=variant)
    value = as_np(loss(TARGETS, logits[:, None, :]))
    assert np.isfinite(value)
    np.testing.assert_allclose(value, as_np(reference), rtol=1e-6)


def test_computes_in_float32_for_bfloat16_inputs():
    half = keras.ops.cast(LOGITS, "bfloat16")
    upcast = as_np(keras.ops.cast(half, "float32"))
    loss = MultiStepCrossEntropy(temperatures=0.07, reduction=None)
    value = loss(TARGETS, half)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(
        as_np(value), per_step_ce(upcast, TARGETS, [0.07] * 3).sum(1), rtol=1e-5
    )


def test_sample_weight():
    ce = per_step_ce(LOGITS, TARGETS, TAUS).sum(1)
    loss = MultiStepCrossEntropy(temperatures=TAUS)
    value = loss(TARGETS, LOGITS, sample_weight=np.array([1.0, 0.0]))
    np.testing.assert_allclose(as_np(value), ce[0] / 2, rtol=1e-6)


def test_gradient_is_softmax_minus_onehot(value_and_grad):
    loss = MultiStepCrossEntropy(reduction="sum")
    _, (grad,) = value_and_grad(lambda x: loss(TARGETS, x), [LOGITS[:, :1]])
    grad = grad[:, 0]
    z = LOGITS[:, 0, 1:].astype("float64")
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = np.zeros_like(LOGITS[:, 0])
    expected[:, 1:] = p
    expected[np.arange(2), TARGETS] -= 1
    np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="variant"):
        MultiStepCrossEntropy(variant="both")
    with pytest.raises(ValueError, match="temperatures"):
        MultiStepCrossEntropy(temperatures=[1.0, 0.0])
    with pytest.raises(ValueError, match="temperatures"):
        MultiStepCrossEntropy(temperatures=-1.0)
    with pytest.raises(ValueError, match="step_weights"):
        MultiStepCrossEntropy(step_weights=[1.0, 1.0], variant="code")
    with pytest.raises(ValueError, match="step_weights"):
        MultiStepCrossEntropy(step_weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="progressive_weight"):
        MultiStepCrossEntropy(progressive_weight=0.5)
    with pytest.raises(ValueError, match="progressive_weight"):
        MultiStepCrossEntropy(variant="code", progressive_weight=-1.0)
    with pytest.raises(ValueError, match="2 entries but the logits have 3"):
        MultiStepCrossEntropy(temperatures=[1.0, 2.0])(TARGETS, LOGITS)
    with pytest.raises(ValueError, match=r"\[B, K \+ 1, N \+ 1\]"):
        MultiStepCrossEntropy()(TARGETS, LOGITS[:, 0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"temperatures": progressive_temperature_values(2, 0.07, 5.0), "variant": "code",
         "progressive_weight": 0.5},
        {"temperatures": 0.2, "step_weights": [1.0, 0.5, 2.0], "reduction": "sum"},
    ],
)
def test_config_round_trip(kwargs):
    loss = MultiStepCrossEntropy(name="msce", **kwargs)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, MultiStepCrossEntropy)
    assert restored.get_config() == loss.get_config()
    np.testing.assert_array_equal(
        as_np(restored(TARGETS, LOGITS)), as_np(loss(TARGETS, LOGITS))
    )
    again = MultiStepCrossEntropy.from_config(loss.get_config())
    assert again.get_config() == loss.get_config()
