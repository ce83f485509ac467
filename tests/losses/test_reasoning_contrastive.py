import keras
import numpy as np
import pytest

from rearec_keras.losses import ReasoningContrastiveLoss
from rearec_keras.losses import reasoning_contrastive

RNG = np.random.default_rng(0)


def as_np(x):
    return keras.ops.convert_to_numpy(x)


def np_info_nce(clean, noisy, tau):
    """[B, K] per-step InfoNCE by hand (steps 1..K)."""
    batch, steps, _ = clean.shape
    out = np.zeros((batch, steps - 1))
    for b in range(batch):
        for k in range(1, steps):
            scores = np.array(
                [noisy[b, k] @ clean[c, k] for c in range(batch)], "float64"
            ) / tau
            out[b, k - 1] = np.log(np.sum(np.exp(scores))) - scores[b]
    return out


def test_hand_example_b2_k1():
    # Step 0 is arbitrary: it must not matter.
    clean = np.array(
        [[[9.0, 9.0], [1.0, 0.0]], [[-9.0, 3.0], [0.0, 1.0]]], "float32"
    )
    noisy = np.array(
        [[[5.0, 5.0], [0.8, 0.2]], [[7.0, -7.0], [0.5, 0.5]]], "float32"
    )
    tau = 0.5
    # Row 0: scores [0.8, 0.2] / 0.5 = [1.6, 0.4]; row 1: [0.5, 0.5] / 0.5 = [1, 1].
    row0 = np.log(np.exp(1.6) + np.exp(0.4)) - 1.6
    row1 = np.log(2.0)
    losses, logits = reasoning_contrastive(clean, noisy, temperature=tau)
    np.testing.assert_allclose(as_np(logits), [[[1.6, 0.4]], [[1.0, 1.0]]], rtol=1e-6)
    np.testing.assert_allclose(as_np(losses), [[row0], [row1]], rtol=1e-6)
    loss = ReasoningContrastiveLoss(temperature=tau)
    np.testing.assert_allclose(as_np(loss(None, (clean, noisy))), (row0 + row1) / 2, rtol=1e-6)
    other = clean.copy()
    other[:, 0] = RNG.normal(size=(2, 2))
    np.testing.assert_allclose(
        as_np(loss(None, (other, noisy))), (row0 + row1) / 2, rtol=1e-6
    )


def test_matches_hand_computation_for_k3():
    clean = RNG.normal(size=(5, 4, 3)).astype("float32")
    noisy = RNG.normal(size=(5, 4, 3)).astype("float32")
    expected = np_info_nce(clean, noisy, 0.7)
    losses, logits = reasoning_contrastive(clean, noisy, temperature=0.7)
    assert tuple(logits.shape) == (5, 3, 5)
    np.testing.assert_allclose(as_np(losses), expected, rtol=1e-5)
    mean = ReasoningContrastiveLoss(temperature=0.7, reduction=None)
    np.testing.assert_allclose(as_np(mean(None, (clean, noisy))), expected.mean(1), rtol=1e-5)
    total = ReasoningContrastiveLoss(
        temperature=0.7, reduction_over_steps="sum", reduction=None
    )
    np.testing.assert_allclose(as_np(total(None, (clean, noisy))), expected.sum(1), rtol=1e-5)
    # dict input, default batch reduction (mean).
    np.testing.assert_allclose(
        as_np(ReasoningContrastiveLoss(0.7)(None, {"clean": clean, "noisy": noisy})),
        expected.mean(),
        rtol=1e-5,
    )


def test_label_of_row_b_is_b():
    clean = RNG.normal(size=(4, 3, 5)).astype("float32")
    noisy = clean + 0.1 * RNG.normal(size=clean.shape).astype("float32")
    loss = ReasoningContrastiveLoss(temperature=0.5, reduction=None)
    base = as_np(loss(None, (clean, noisy)))
    perm = np.array([2, 0, 3, 1])
    # Permuting both batches the same way only permutes the losses.
    np.testing.assert_allclose(
        as_np(loss(None, (clean[perm], noisy[perm]))), base[perm], rtol=1e-5
    )
    # Permuting the clean candidates alone breaks the positives.
    broken = as_np(loss(None, (clean[perm], noisy)))
    assert broken.mean() > base.mean() + 1.0


def test_perfect_alignment_with_large_norms_is_near_zero():
    basis = np.eye(4, dtype="float32")[:, None, :] * 10.0
    states = np.repeat(basis, 3, axis=1)  # [4, 3, 4], K = 2
    value = as_np(ReasoningContrastiveLoss(temperature=0.07)(None, (states, states)))
    assert 0.0 <= value < 1e-6


def test_k0_gives_zeros():
    clean = RNG.normal(size=(3, 1, 4)).astype("float32")
    losses, logits = reasoning_contrastive(clean, clean)
    assert tuple(losses.shape) == (3, 0)
    assert tuple(logits.shape) == (3, 0, 3)
    for mode in ("mean", "sum"):
        per_example = as_np(
            ReasoningContrastiveLoss(reduction_over_steps=mode, reduction=None)(
                None, (clean, clean)
            )
        )
        np.testing.assert_array_equal(per_example, np.zeros(3))
    assert as_np(ReasoningContrastiveLoss()(None, (clean, clean))) == 0.0


def test_gradients_flow_to_both_inputs(value_and_grad):
    clean = RNG.normal(size=(4, 3, 5)).astype("float32")
    noisy = RNG.normal(size=(4, 3, 5)).astype("float32")
    loss = ReasoningContrastiveLoss(temperature=0.5)
    _, grads = value_and_grad(lambda c, n: loss(None, (c, n)), [clean, noisy])
    for grad in grads:
        np.testing.assert_array_equal(grad[:, 0], 0.0)  # step 0 unused
        assert np.abs(grad[:, 1:]).min() > 0.0


def test_float32_for_bfloat16_inputs():
    clean = RNG.normal(size=(4, 2, 3)).astype("float32")
    value = ReasoningContrastiveLoss(temperature=0.1)(
        None, (keras.ops.cast(clean, "bfloat16"), keras.ops.cast(clean, "bfloat16"))
    )
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    assert np.isfinite(as_np(value))


def test_errors():
    with pytest.raises(ValueError, match="temperature"):
        ReasoningContrastiveLoss(temperature=0.0)
    with pytest.raises(ValueError, match="reduction_over_steps"):
        ReasoningContrastiveLoss(reduction_over_steps="max")
    clean = np.zeros((2, 3, 4), "float32")
    with pytest.raises(ValueError, match="same shape"):
        ReasoningContrastiveLoss()(None, (clean, np.zeros((2, 2, 4), "float32")))
    with pytest.raises(ValueError, match="noisy"):
        ReasoningContrastiveLoss()(None, {"clean": clean})
    with pytest.raises(ValueError, match=r"\(clean, noisy\)"):
        ReasoningContrastiveLoss()(None, clean)
    with pytest.raises(ValueError, match=r"\[B, K \+ 1, d\]"):
        reasoning_contrastive(clean[:, 0], clean[:, 0])


@pytest.mark.parametrize(
    "kwargs", [{}, {"temperature": 0.3, "reduction_over_steps": "sum", "reduction": "sum"}]
)
def test_config_round_trip(kwargs):
    loss = ReasoningContrastiveLoss(name="rcl", **kwargs)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, ReasoningContrastiveLoss)
    assert restored.get_config() == loss.get_config()
    clean = RNG.normal(size=(3, 3, 4)).astype("float32")
    noisy = RNG.normal(size=(3, 3, 4)).astype("float32")
    np.testing.assert_array_equal(
        as_np(restored(None, (clean, noisy))), as_np(loss(None, (clean, noisy)))
    )
