"""LARES' losses (Liu et al., arXiv 2505.16865; official code
`BishopLiu/LARES` `model.py` / `trainer.py`), as per-example functions of
`keras.ops` (the method averages them with Keras' batch reduction).

Self-supervised pre-training (SPT):
- `symmetric_info_nce(x, y)`: ½[InfoNCE(x→y) + InfoNCE(y→x)] over the
  `B×B` similarity matrix, label = the diagonal (in-batch negatives);
  `similarity="dot"` or `"cos"`, divided by `temperature`. The trajectory
  term aligns two trajectories' final thoughts, the step term an
  intermediate thought with the final one.

Reinforcement post-training (RPT, GRPO-style):
- `ranking_reward(logits, targets, metric, k)`: Recall@k (1 if the target
  is in the top k) or NDCG@k (1/log2(rank + 1) inside the top k) of one
  rollout's last valid step;
- `group_advantages(rewards)`: `(r − mean_G r) / (std_G r + 1e-4)` per row
  over its G rollouts (unbiased std; all zero on tied rewards);
- `k3_kl(log_probs, ref_log_probs)`: `exp(ref − lp) − (ref − lp) − 1`
  (≥ 0, zero iff equal);
- `grpo_loss(log_probs, ref_log_probs, advantages, step_mask, kl_weight)`:
  per rollout `−(1/k_g) Σ_t (A_g·exp(lp − sg(lp)) − β·KL_t)` over its valid
  steps (unequal depths padded and masked).
"""

from keras import ops

from rearec_keras.utils.choices import REWARDS
from rearec_keras.utils.choices import SIMILARITIES
from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_float
from rearec_keras.utils.validation import check_int



def similarity_logits(x, y, similarity="dot", temperature=1.0):
    """`[B, B]` logits `sim(x_b, y_b') / temperature` (float32)."""
    check_choice("similarity", similarity, SIMILARITIES)
    temperature = check_float("temperature", temperature, 0.0, exclusive_minimum=True)
    x, y = ops.cast(x, "float32"), ops.cast(y, "float32")
    if similarity == "cos":
        x = x / ops.maximum(ops.norm(x, axis=-1, keepdims=True), 1e-12)
        y = y / ops.maximum(ops.norm(y, axis=-1, keepdims=True), 1e-12)
    return ops.matmul(x, ops.transpose(y)) / temperature


def symmetric_info_nce(x, y, similarity="dot", temperature=1.0):
    """Per-example symmetric InfoNCE `[B]`: ½[CE(row b of sim(x, y)) +
    CE(row b of sim(y, x))] with label b."""
    logits = similarity_logits(x, y, similarity, temperature)
    diagonal = ops.diagonal(logits)
    forward = ops.logsumexp(logits, axis=1) - diagonal
    backward = ops.logsumexp(logits, axis=0) - diagonal
    return 0.5 * (forward + backward)


def ranking_reward(logits, targets, metric="recall", k=10):
    """Reward `[n]` of score rows `[n, N + 1]` for their targets `[n]`:
    Recall@k (binary) or NDCG@k (`1/log2(rank + 1)` for rank ≤ k, else 0).
    The rank counts the items scoring strictly higher than the target, plus
    one (the released code's `topk` over all rows; ties go to the target)."""
    check_choice("reward", metric, REWARDS)
    check_int("reward_k", k, 1)
    logits = ops.cast(logits, "float32")
    targets = ops.cast(targets, "int32")
    target_scores = ops.take_along_axis(logits, ops.expand_dims(targets, -1), axis=-1)
    rank = 1 + ops.sum(ops.cast(logits > target_scores, "int32"), axis=-1)
    hit = ops.cast(rank <= k, "float32")
    if metric == "recall":
        return hit
    return hit / (ops.log(ops.cast(rank, "float32") + 1.0) / ops.log(2.0))


def group_advantages(rewards, epsilon=1e-4):
    """GRPO advantages of rewards `[B, G]` (G rollouts per row): centred
    and scaled per row by the unbiased standard deviation."""
    rewards = ops.cast(rewards, "float32")
    group = rewards.shape[-1]
    if group is not None and group < 2:
        raise ValueError(f"GRPO needs at least 2 rollouts per row (group_size), got {group}.")
    mean = ops.mean(rewards, axis=-1, keepdims=True)
    var = ops.sum(ops.square(rewards - mean), axis=-1, keepdims=True) / (
        ops.cast(ops.shape(rewards)[-1], "float32") - 1.0)
    return (rewards - mean) / (ops.sqrt(var) + epsilon)


def k3_kl(log_probs, ref_log_probs):
    """Schulman's k3 estimator of KL(π ‖ π_ref) from the sampled
    log-probabilities: `exp(ref − lp) − (ref − lp) − 1` (≥ 0, 0 iff equal)."""
    delta = ops.cast(ref_log_probs, "float32") - ops.cast(log_probs, "float32")
    return ops.exp(delta) - delta - 1.0


def grpo_loss(log_probs, ref_log_probs, advantages, step_mask, kl_weight=1.0):
    """Per-rollout RPT loss `[n]`.

    Args:
        log_probs: `[n, S]` the policy's log-probability of the target at
            each step of the rollout (padded steps arbitrary).
        ref_log_probs: `[n, S]` the frozen reference's, same depth.
        advantages: `[n]` the rollout's group advantage.
        step_mask: `[n, S]` True for the rollout's valid steps.
        kl_weight: β.

    Returns `−(1/k) Σ_{t ≤ k} (A·exp(lp − sg(lp)) − β·KL_t)`: the ratio is 1
    in value (one on-policy update) but carries the policy gradient.
    """
    check_float("kl_weight", kl_weight, 0.0)
    log_probs = ops.cast(log_probs, "float32")
    ref_log_probs = ops.convert_to_tensor(ref_log_probs, "float32")
    mask = ops.cast(step_mask, "float32")
    ratio = ops.exp(log_probs - ops.stop_gradient(log_probs))
    per_step = ops.expand_dims(ops.cast(advantages, "float32"), -1) * ratio
    per_step = per_step - kl_weight * k3_kl(log_probs, ops.stop_gradient(ref_log_probs))
    steps = ops.maximum(ops.sum(mask, axis=-1), 1.0)
    return -ops.sum(per_step * mask, axis=-1) / steps


__all__ = [
    "REWARDS",
    "SIMILARITIES",
    "grpo_loss",
    "group_advantages",
    "k3_kl",
    "ranking_reward",
    "similarity_logits",
    "symmetric_info_nce",
]
