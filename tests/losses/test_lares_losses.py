"""LARES' SPT and RPT loss pieces: the spec's §10 items 6-9 (lares.md)."""

import keras
import numpy as np
import pytest

from rearec_keras.losses import lares

np_ = keras.ops.convert_to_numpy


def _log_softmax(z, axis):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("similarity", ["dot", "cos"])
def test_symmetric_info_nce_is_the_mean_of_both_directions_with_the_diagonal_label(similarity):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    got = np_(lares.symmetric_info_nce(x.astype("float32"), y.astype("float32"),
                                       similarity, temperature=0.5))
    if similarity == "cos":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        y = y / np.linalg.norm(y, axis=1, keepdims=True)
    logits = x @ y.T / 0.5
    expected = -0.5 * (np.diag(_log_softmax(logits, 1)) + np.diag(_log_softmax(logits.T, 1)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # Symmetric in its two arguments.
    np.testing.assert_allclose(np_(lares.symmetric_info_nce(x, y, similarity, 0.5)),
                               np_(lares.symmetric_info_nce(y, x, similarity, 0.5)), rtol=1e-5)


def test_rewards_recall_is_binary_and_ndcg_follows_the_rank():
    scores = np.array([[-1e9, 5.0, 4.0, 3.0, 2.0]] * 3, dtype="float32")
    targets = np.array([1, 3, 4])  # ranks 1, 3, 4
    np.testing.assert_allclose(np_(lares.ranking_reward(scores, targets, "recall", k=3)),
                               [1.0, 1.0, 0.0])
    ndcg = np_(lares.ranking_reward(scores, targets, "ndcg", k=10))
    np.testing.assert_allclose(ndcg, [1.0, 0.5, 1 / np.log2(5)], rtol=1e-6)
    with pytest.raises(ValueError, match="reward"):
        lares.ranking_reward(scores, targets, "mrr")


def test_group_advantages_are_zero_mean_per_group_and_zero_on_ties():
    rewards = np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    adv = np_(lares.group_advantages(rewards))
    np.testing.assert_allclose(adv.mean(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(adv[1], 0.0)
    std = np.std(rewards[0], ddof=1)
    np.testing.assert_allclose(adv[0], (rewards[0] - 0.5) / (std + 1e-4), rtol=1e-6)
    with pytest.raises(ValueError, match="at least 2 rollouts"):
        lares.group_advantages(np.ones((3, 1)))


def test_k3_kl_is_non_negative_and_zero_iff_equal():
    lp = np.log(np.array([0.1, 0.5, 0.9, 0.3], "float32"))
    ref = np.log(np.array([0.2, 0.5, 0.4, 0.9], "float32"))
    kl = np_(lares.k3_kl(lp, ref))
    assert (kl >= 0).all()
    assert kl[1] == pytest.approx(0.0, abs=1e-7) and (kl[[0, 2, 3]] > 1e-3).all()
    np.testing.assert_allclose(np_(lares.k3_kl(lp, lp)), 0.0, atol=1e-7)


def test_grpo_loss_is_zero_with_zero_advantage_and_the_reference_equal_to_the_policy(
        value_and_grad):
    lp = np.log(np.array([[0.2, 0.3, 0.5], [0.4, 0.6, 0.0]], "float32") + 1e-9)
    mask = np.array([[True, True, True], [True, True, False]])

    def loss(lp_, adv_):
        return keras.ops.sum(lares.grpo_loss(lp_, lp_, adv_, mask, kl_weight=1.0))

    value, (grad_lp, _) = value_and_grad(loss, [lp, np.zeros(2, "float32")])
    assert value == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(grad_lp, 0.0, atol=1e-7)
    # With an advantage, the target log-probability of the valid steps gets
    # pushed up by A/k (padded steps get nothing).
    def policy(lp_):
        return keras.ops.sum(lares.grpo_loss(lp_, lp, np.array([2.0, -1.0], "float32"), mask,
                                             kl_weight=0.0))

    value, (grad,) = value_and_grad(policy, [lp])
    np.testing.assert_allclose(grad, [[-2 / 3] * 3, [0.5, 0.5, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(value, -(2.0) + 1.0, rtol=1e-6)
