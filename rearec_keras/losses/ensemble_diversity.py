"""Bounded diversity between the per-step distributions (ReaRec ERL Eq. 7)."""

import math

import keras
import numpy as np
from keras import ops

from rearec_keras.losses._utils import check_step_logits
from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_float

from rearec_keras.utils.choices import DIVERGENCES  # noqa: E402
_LOG2 = math.log(2.0)
# exp(-1e30 - logsumexp) is exactly 0 in float32, and 0 * -1e30 is 0, not NaN.
_EXCLUDED_LOGIT = -1e30


def _check_cap(cap):
    return None if cap is None else check_float("cap", cap, 0.0, exclusive_minimum=True)


def default_diversity_cap(num_items):
    """Default KL cap: `log(num_items)` (at least `log 2`)."""
    return math.log(max(int(num_items), 2))


def _step_log_probs(logits):
    logits = ops.cast(logits, "float32")
    num_steps = check_step_logits(logits, "logits")
    if logits.shape[-1] is not None and logits.shape[-1] < 2:
        raise ValueError(
            "`logits` need at least 2 columns (column 0 is padding, items "
            f"are 1..N). Received shape {tuple(logits.shape)}."
        )
    # Column 0 (padding) gets probability exactly 0 by a mask, not a slice:
    # the slice's gradient (a full-size scatter) cost ~5 % of an ERL step.
    column = ops.arange(ops.shape(logits)[-1])
    logits = ops.where(ops.equal(column, 0), ops.cast(_EXCLUDED_LOGIT, "float32"), logits)
    return ops.log_softmax(logits, axis=-1), num_steps


def pairwise_step_divergence(logits, divergence="kl"):
    """Raw (un-bounded for `"kl"`) divergences between all pairs of steps.

    `"kl"` reproduces the official ERL code: entry `[b, i, j]` is
    `KL(p_j || sg(p_i)) = sum_n p_j[n] (log p_j[n] - log sg(p_i)[n])`, where
    `p_k = softmax(logits[b, k])` over the real items (column 0 excluded) and
    `sg` is a stop-gradient: the gradient flows through `p_j` only, the log
    side `p_i` is a constant target to move away from. `"js"` gives the
    symmetric Jensen-Shannon divergence (in nats, in `[0, log 2]`) with
    gradients through both distributions. The diagonal is zero.

    Args:
        logits: float tensor `[B, K + 1, N + 1]` of per-step logits, already
            divided by the temperature the model uses. The step axis must be
            static. Computed in float32.
        divergence: `"kl"` or `"js"`. Defaults to `"kl"`.

    Returns:
        A float32 tensor `[B, K + 1, K + 1]`.
    """
    check_choice("divergence", divergence, DIVERGENCES)
    log_probs, num_steps = _step_log_probs(logits)
    probs = ops.exp(log_probs)
    if divergence == "kl":
        target_log_probs = ops.stop_gradient(log_probs)
        # sum_n p_j log p_j  -> [B, 1, S] (indexed by j)
        neg_entropy = ops.expand_dims(ops.sum(probs * log_probs, axis=-1), 1)
        # sum_n p_j log sg(p_i) -> [B, S(i), S(j)], without a [B, S, S, N]
        # intermediate.
        cross = ops.einsum("bjn,bin->bij", probs, target_log_probs)
        divergences = ops.maximum(neg_entropy - cross, 0.0)
        off_diagonal = 1.0 - np.eye(num_steps, dtype="float32")
        return divergences * ops.convert_to_tensor(off_diagonal)
    # Jensen-Shannon, one unordered pair at a time ([B, N] memory each).
    zeros = ops.zeros_like(log_probs[:, 0, 0])
    pairs = {}
    for i in range(num_steps):
        for j in range(i + 1, num_steps):
            log_mean = ops.logaddexp(log_probs[:, i], log_probs[:, j]) - _LOG2
            kl_i = ops.sum(probs[:, i] * (log_probs[:, i] - log_mean), -1)
            kl_j = ops.sum(probs[:, j] * (log_probs[:, j] - log_mean), -1)
            js = 0.5 * (kl_i + kl_j)
            pairs[i, j] = pairs[j, i] = ops.clip(js, 0.0, _LOG2)
    rows = [
        ops.stack([pairs.get((i, j), zeros) for j in range(num_steps)], axis=-1)
        for i in range(num_steps)
    ]
    return ops.stack(rows, axis=1)


def ensemble_diversity(logits, divergence="kl", cap=None):
    """Bounded ERL diversity per example (non-negative; larger = more diverse).

    The mean over the `(K + 1) K` ordered pairs of steps `i != j` of a
    bounded divergence between the per-step distributions:

    - `"kl"`: `cap * tanh(KL(p_j || sg(p_i)) / cap)` per pair, in `[0, cap)`.
      For `KL << cap` it equals the official code's detached KL to first
      order (value and gradient); large divergences saturate smoothly.
    - `"js"`: the Jensen-Shannon divergence, naturally in `[0, log 2]`.

    `K = 0` (a single step, no pairs) gives zeros, not NaN.

    Args:
        logits: float tensor `[B, K + 1, N + 1]`, already divided by the
            temperature the model uses (column 0, padding, is ignored).
        divergence: `"kl"` or `"js"`. Defaults to `"kl"`.
        cap: float `> 0`, the saturation level of `"kl"`; `None` means
            `log(N)` with `N` read from the logits' last axis. Must be `None`
            for `"js"`.

    Returns:
        A float32 tensor `[B]` with values in `[0, cap)` (`"kl"`) or
        `[0, log 2]` (`"js"`).
    """
    check_choice("divergence", divergence, DIVERGENCES)
    cap = _check_cap(cap)
    if divergence == "js" and cap is not None:
        raise ValueError(
            "`cap` only applies to divergence='kl' (Jensen-Shannon is "
            f"already bounded by log 2). Received: cap={cap}"
        )
    matrix = pairwise_step_divergence(logits, divergence)
    num_steps = matrix.shape[1]
    if divergence == "kl":
        if cap is None:
            num_columns = logits.shape[-1]
            if num_columns is None:
                raise ValueError(
                    "The item axis of `logits` must be static to derive the "
                    "default `cap = log(N)`; pass `cap` explicitly."
                )
            cap = default_diversity_cap(num_columns - 1)
        matrix = cap * ops.tanh(matrix / cap)
    num_pairs = max(num_steps * (num_steps - 1), 1)
    return ops.sum(matrix, axis=(1, 2)) / float(num_pairs)


@keras.saving.register_keras_serializable(package="rearec_keras")
class EnsembleDiversityLoss(keras.losses.Loss):
    """Negative, bounded ERL diversity between the per-step distributions.

    ERL wants the `K + 1` reasoning steps to predict *different*
    distributions. The official code subtracts
    `kl_weight * mean_{b, i != j} KL(p_j || sg(p_i))` from the loss; the KL is
    unbounded, so the optimiser can lower the loss without limit by pulling
    the steps apart (the released code diverged to NaN on ml-100k). This loss
    keeps the code's structure — detached log side, mean over ordered pairs,
    subtracted — but bounds each pair's divergence:

    - `divergence="kl"` (default): `cap * tanh(KL / cap)` per pair, with
      `cap = log(N)` by default. `tanh` is the identity to first order, so for
      `KL << cap` value and gradient match the released code; as a pair
      becomes very different its reward saturates smoothly (gradient factor
      `1 - tanh^2 -> 0`) instead of growing linearly with the logit scale,
      and the total loss is bounded below by `L_rec - kl_weight * cap`.
      `log(N)` is the KL between a one-hot and the uniform distribution over
      the `N` items — "as different as a confident guess from no guess" —
      and the scale of the cross-entropy itself (`log N` for a uniform model),
      so the reward can never exceed `kl_weight` times that scale. A hard
      clip `min(KL, cap)` would give the same bound but a gradient that
      switches off abruptly; `tanh` fades it.
    - `divergence="js"`: Jensen-Shannon divergence (symmetric, gradients
      through both steps), bounded by `log 2`.

    The loss returns the *negative* diversity per example, so
    `total = rec_loss + kl_weight * loss` is minimised by more diverse steps.
    With `K = 0` it is zero (no pairs; never NaN). The math runs in float32.
    Use `ensemble_diversity()` for the positive value (logging) and
    `pairwise_step_divergence()` for the raw, unbounded pairwise KL.

    Args:
        divergence: `"kl"` or `"js"`. Defaults to `"kl"`.
        cap: float `> 0` or `None` (= `log(N)`), the saturation level of
            `"kl"`. Must be `None` with `"js"`.
        reduction: Keras loss reduction. Defaults to `"sum_over_batch_size"`
            (mean over the batch; replica-aware under `tf.distribute`).
        name: loss name. Defaults to `"ensemble_diversity"`.
        dtype: dtype of the reduced loss; the computation itself is float32.

    Call arguments:
        y_true: ignored (pass `None`).
        y_pred: float tensor `[B, K + 1, N + 1]` of per-step logits, already
            divided by the temperature the model uses (the code: `0.07`).
            Column 0 (padding) is ignored.
        sample_weight: optional `[B]` weights.

    Example:

    ```python
    diversity = EnsembleDiversityLoss()
    logits = np.random.normal(size=(4, 3, 11)).astype("float32") / 0.07
    total = rec_loss + 0.05 * diversity(None, logits)
    ```

    Reference:
        - [Tang et al., 2025](https://arxiv.org/abs/2503.22675), Eq. 7-8;
          official code `TangJiakai/ReaRec` `src/models/ERL.py`.
    """

    def __init__(
        self,
        divergence="kl",
        cap=None,
        reduction="sum_over_batch_size",
        name="ensemble_diversity",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.divergence = check_choice("divergence", divergence, DIVERGENCES)
        self.cap = _check_cap(cap)
        if self.divergence == "js" and self.cap is not None:
            raise ValueError(
                "`cap` only applies to divergence='kl' (Jensen-Shannon is "
                f"already bounded by log 2). Received: cap={self.cap}"
            )

    def __call__(self, y_true, y_pred, sample_weight=None):
        if y_true is None:
            y_true = 0.0
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        del y_true
        return -ensemble_diversity(y_pred, self.divergence, self.cap)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "divergence": self.divergence,
                "cap": self.cap,
                "dtype": self.dtype,
            }
        )
        return config
