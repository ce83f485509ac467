import math

import keras
import numpy as np
import pytest

from rearec_keras.losses import EnsembleDiversityLoss
from rearec_keras.losses import MultiStepCrossEntropy
from rearec_keras.losses import default_diversity_cap
from rearec_keras.losses import ensemble_diversity
from rearec_keras.losses import pairwise_step_divergence

RNG = np.random.default_rng(0)
B, S, N = 3, 3, 6  # K = 2, six real items
LOGITS = RNG.normal(scale=2.0, size=(B, S, N + 1)).astype("float32")


def as_np(x):
    return keras.ops.convert_to_numpy(x)


def np_softmax(z):
    z = np.asarray(z, "float64")[..., 1:]
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_kl(p, q):
    return float(np.sum(p * (np.log(p) - np.log(q))))


def np_js(p, q):
    m = (p + q) / 2
    return 0.5 * np_kl(p, m) + 0.5 * np_kl(q, m)


def test_pairwise_kl_matches_hand_computation():
    matrix = as_np(pairwise_step_divergence(LOGITS, "kl"))
    p = np_softmax(LOGITS)
    for b in range(B):
        for i in range(S):
            for j in range(S):
                expected = 0.0 if i == j else np_kl(p[b, j], p[b, i])
                assert matrix[b, i, j] == pytest.approx(expected, abs=1e-5)


def test_pairwise_js_matches_hand_computation():
    matrix = as_np(pairwise_step_divergence(LOGITS, "js"))
    p = np_softmax(LOGITS)
    for b in range(B):
        for i in range(S):
            for j in range(S):
                expected = 0.0 if i == j else np_js(p[b, i], p[b, j])
                assert matrix[b, i, j] == pytest.approx(expected, abs=1e-6)


def test_bounded_kl_value():
    p = np_softmax(LOGITS)
    cap = math.log(N)
    assert default_diversity_cap(N) == pytest.approx(cap)
    expected = [
        np.mean(
            [cap * np.tanh(np_kl(p[b, j], p[b, i]) / cap)
             for i in range(S) for j in range(S) if i != j]
        )
        for b in range(B)
    ]
    np.testing.assert_allclose(as_np(ensemble_diversity(LOGITS)), expected, rtol=1e-5)
    loss = EnsembleDiversityLoss(reduction=None)
    np.testing.assert_allclose(as_np(loss(None, LOGITS)), -np.array(expected), rtol=1e-5)
    # With a huge cap it is the released code's mean detached KL.
    raw = [
        np.mean([np_kl(p[b, j], p[b, i]) for i in range(S) for j in range(S) if i != j])
        for b in range(B)
    ]
    np.testing.assert_allclose(
        as_np(ensemble_diversity(LOGITS, cap=1e6)), raw, rtol=1e-5
    )


@pytest.mark.parametrize("divergence", ["kl", "js"])
def test_diversity_non_negative(divergence):
    logits = RNG.normal(scale=3.0, size=(8, 4, 10)).astype("float32")
    assert np.all(as_np(pairwise_step_divergence(logits, divergence)) >= 0)
    values = as_np(ensemble_diversity(logits, divergence))
    assert values.shape == (8,)
    assert np.all(values >= 0) and np.all(values > 0)


@pytest.mark.parametrize("divergence", ["kl", "js"])
def test_zero_when_all_steps_identical(divergence):
    logits = np.repeat(LOGITS[:, :1], S, axis=1)
    np.testing.assert_allclose(as_np(ensemble_diversity(logits, divergence)), 0.0, atol=1e-6)
    np.testing.assert_allclose(
        as_np(EnsembleDiversityLoss(divergence)(None, logits)), 0.0, atol=1e-6
    )


def test_kl_gradient_flows_through_p_side_only(value_and_grad):
    # entry [b, 0, 1] = KL(p_1 || sg(p_0)): step 0 is the detached side.
    _, (grad,) = value_and_grad(
        lambda x: keras.ops.sum(pairwise_step_divergence(x, "kl")[:, 0, 1]), [LOGITS[:, :2]]
    )
    np.testing.assert_array_equal(grad[:, 0], 0.0)  # detached log side
    p = np_softmax(LOGITS[:, :2])
    for b in range(B):
        kl_b = np_kl(p[b, 1], p[b, 0])
        expected = p[b, 1] * (np.log(p[b, 1]) - np.log(p[b, 0]) - kl_b)
        np.testing.assert_allclose(grad[b, 1, 1:], expected, atol=1e-6)
        assert grad[b, 1, 0] == 0.0  # padding column


def test_kl_loss_gradient_matches_detached_formula(value_and_grad):
    # For K=1 the loss (with a huge cap) is -(KL(p1||sg p0) + KL(p0||sg p1))/2
    # per example; the gradient w.r.t. step 0 comes only from KL(p0||sg p1).
    loss = EnsembleDiversityLoss(cap=1e6, reduction="sum")
    _, (grad,) = value_and_grad(lambda x: loss(None, x), [LOGITS[:, :2]])
    p = np_softmax(LOGITS[:, :2])
    for b in range(B):
        kl0 = np_kl(p[b, 0], p[b, 1])
        expected = -0.5 * p[b, 0] * (np.log(p[b, 0]) - np.log(p[b, 1]) - kl0)
        np.testing.assert_allclose(grad[b, 0, 1:], expected, atol=1e-6)
        # Without the stop-gradient the extra term (p0 - p1) / 2 would appear.
        wrong = expected - 0.5 * (p[b, 0] - p[b, 1])
        assert np.max(np.abs(grad[b, 0, 1:] - wrong)) > 1e-3


@pytest.mark.parametrize("divergence", ["kl", "js"])
def test_more_diverse_steps_lower_the_total_loss(divergence):
    # Permuting the non-target items keeps every step's CE identical while
    # making the two steps' distributions differ.
    same = np.array([[[0.0, 3.0, 1.0, 0.0, -1.0]] * 2], dtype="float32")
    diverse = np.array(
        [[[0.0, 3.0, 1.0, 0.0, -1.0], [0.0, 3.0, -1.0, 0.0, 1.0]]], dtype="float32"
    )
    target = np.array([1])
    ce = MultiStepCrossEntropy()
    np.testing.assert_allclose(as_np(ce(target, same)), as_np(ce(target, diverse)), rtol=1e-6)
    div = EnsembleDiversityLoss(divergence)
    total_same = as_np(ce(target, same) + 0.05 * div(None, same))
    total_diverse = as_np(ce(target, diverse) + 0.05 * div(None, diverse))
    assert total_diverse < total_same
    assert as_np(div(None, diverse)) < 0.0


@pytest.mark.parametrize("divergence", ["kl", "js"])
def test_gradient_step_increases_diversity(divergence, value_and_grad):
    loss = EnsembleDiversityLoss(divergence)
    before = as_np(ensemble_diversity(LOGITS, divergence))
    _, (grad,) = value_and_grad(lambda x: loss(None, x), [LOGITS])
    after = as_np(ensemble_diversity(LOGITS - 0.1 * grad, divergence))
    assert np.all(after > before)


def test_bounded_and_finite_for_extreme_distributions(value_and_grad):
    extreme = np.zeros((2, 3, N + 1), "float32")
    extreme[:, 0, 1] = 1e4
    extreme[:, 1, 2] = 1e4
    extreme[:, 2, 3] = -1e4
    raw = as_np(pairwise_step_divergence(extreme, "kl"))
    assert np.all(np.isfinite(raw)) and raw.max() > 1e3  # the released term
    cap = math.log(N)
    values = as_np(ensemble_diversity(extreme))
    assert np.all(np.isfinite(values)) and np.all(values <= cap)
    assert np.all(as_np(ensemble_diversity(extreme, cap=0.5)) <= 0.5)
    js = as_np(ensemble_diversity(extreme, "js"))
    assert np.all(np.isfinite(js)) and np.all(js <= math.log(2))
    # Disjoint one-hot steps 0 and 1 are as far apart as JS allows.
    assert as_np(pairwise_step_divergence(extreme, "js"))[0, 0, 1] == pytest.approx(
        math.log(2), abs=1e-6
    )
    for divergence in ("kl", "js"):
        loss = EnsembleDiversityLoss(divergence)
        value, (grad,) = value_and_grad(lambda x: loss(None, x), [extreme])
        assert np.isfinite(value) and value >= -cap
        assert np.all(np.isfinite(grad))


def test_bounded_objective_cannot_run_away(value_and_grad):
    """The official ERL objective, `CE(mean-pooled logits) - lambda * div`.

    Scores are linear in the states, so the mean-pooled logits are the mean
    of the step logits: the steps can move apart in opposite directions at
    no CE cost. With the released, unbounded KL the loss then decreases
    without limit (what diverged to NaN on ml-100k); the bounded one stays
    above `CE - lambda * cap`.
    """
    targets = np.array([1, 2, 3, 4])
    init = RNG.normal(size=(4, 3, N + 1)).astype("float32")
    ce = MultiStepCrossEntropy()
    lam = 0.5

    def run(diversity):
        logits = keras.Variable(init)
        optimizer = keras.optimizers.Adam(0.5)

        def objective(x):
            pooled = keras.ops.mean(x, axis=1, keepdims=True)
            return ce(targets, pooled) - lam * keras.ops.mean(diversity(x))

        for _ in range(150):
            total, (grad,) = value_and_grad(objective, [as_np(logits)])
            optimizer.apply_gradients([(keras.ops.convert_to_tensor(grad), logits)])
        return total, as_np(logits)

    total, logits = run(ensemble_diversity)
    assert np.isfinite(total) and np.all(np.isfinite(logits))
    assert total >= -lam * math.log(N)

    def released(logits):
        return keras.ops.sum(pairwise_step_divergence(logits, "kl"), axis=(1, 2)) / 6.0

    total_raw, logits_raw = run(released)
    assert total_raw < -3 * lam * math.log(N)  # runs away below the bound
    assert np.abs(logits_raw).max() > np.abs(logits).max()


@pytest.mark.parametrize("divergence", ["kl", "js"])
def test_k0_gives_zero_not_nan(divergence, value_and_grad):
    logits = LOGITS[:, :1]
    loss = EnsembleDiversityLoss(divergence)
    value, (grad,) = value_and_grad(lambda x: loss(None, x), [logits])
    assert value == 0.0
    np.testing.assert_array_equal(as_np(ensemble_diversity(logits, divergence)), 0.0)
    assert grad is None or np.all(grad == 0.0)


def test_padding_column_is_ignored():
    pushed = LOGITS.copy()
    pushed[:, :, 0] = RNG.normal(scale=50.0, size=(B, S))
    for divergence in ("kl", "js"):
        np.testing.assert_allclose(
            as_np(ensemble_diversity(pushed, divergence)),
            as_np(ensemble_diversity(LOGITS, divergence)),
            rtol=1e-6,
        )


def test_float32_for_bfloat16_inputs():
    value = EnsembleDiversityLoss()(None, keras.ops.cast(LOGITS, "bfloat16"))
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    assert np.isfinite(as_np(value))


def test_errors():
    with pytest.raises(ValueError, match="divergence"):
        EnsembleDiversityLoss("cosine")
    with pytest.raises(ValueError, match="cap"):
        EnsembleDiversityLoss(cap=0.0)
    with pytest.raises(ValueError, match="cap"):
        EnsembleDiversityLoss("js", cap=1.0)
    with pytest.raises(ValueError, match=r"\[B, K \+ 1, N \+ 1\]"):
        ensemble_diversity(LOGITS[:, 0])


@pytest.mark.parametrize(
    "kwargs", [{}, {"divergence": "js"}, {"cap": 2.5, "reduction": "sum"}]
)
def test_config_round_trip(kwargs):
    loss = EnsembleDiversityLoss(name="div", **kwargs)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, EnsembleDiversityLoss)
    assert restored.get_config() == loss.get_config()
    np.testing.assert_array_equal(
        as_np(restored(None, LOGITS)), as_np(loss(None, LOGITS))
    )
