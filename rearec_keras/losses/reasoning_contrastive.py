"""Reasoning-aware contrastive learning (ReaRec PRL, InfoNCE)."""

import keras
from keras import ops

from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_float

STEP_REDUCTIONS = ("mean", "sum")


def _check_states(clean, noisy):
    clean = ops.cast(clean, "float32")
    noisy = ops.cast(noisy, "float32")
    for argument, states in (("clean", clean), ("noisy", noisy)):
        if len(states.shape) != 3 or states.shape[1] is None:
            raise ValueError(
                f"`{argument}` must be reasoning states of shape "
                "[B, K + 1, d] with a static step axis. Received shape "
                f"{tuple(states.shape)}."
            )
    for axis in (1, 2):
        if clean.shape[axis] != noisy.shape[axis]:
            raise ValueError(
                "`clean` and `noisy` must have the same shape [B, K + 1, d]. "
                f"Received {tuple(clean.shape)} and {tuple(noisy.shape)}."
            )
    return clean, noisy


def reasoning_contrastive(clean, noisy, temperature=0.07):
    """Per-step InfoNCE between noisy and clean reasoning states.

    For every row `b` and reasoning step `k = 1..K` (step 0 is excluded), the
    anchor is the noisy state `noisy[b, k]`, the candidates are the clean
    states `clean[b', k]` of the same step for all `b'` in the batch, and the
    positive is `b' = b` (the denominator includes the positive):

    `logits[b, k-1, b'] = noisy[b, k] . clean[b', k] / temperature`,
    `losses[b, k-1] = -log softmax(logits[b, k-1])[b]`.

    No stop-gradient: both inputs receive gradients. Negatives come from the
    batch the function sees (under `tf.distribute`, the per-replica batch).

    Args:
        clean: float tensor `[B, K + 1, d]`, reasoning states `r_0..r_K`.
        noisy: float tensor `[B, K + 1, d]`, the noisy twin `r~_0..r~_K`.
        temperature: float `> 0`. Defaults to `0.07` (the code uses the base
            temperature `tau`).

    Returns:
        A tuple `(losses, logits)`: float32 `[B, K]` per-step losses and
        float32 `[B, K, B]` logits (`K = 0` gives `[B, 0]` and `[B, 0, B]`).
    """
    temperature = check_float("temperature", temperature, 0.0, exclusive_minimum=True)
    clean, noisy = _check_states(clean, noisy)
    clean = clean[:, 1:, :]
    noisy = noisy[:, 1:, :]
    logits = ops.einsum("bkd,ckd->bkc", noisy, clean) / temperature
    if clean.shape[1] == 0:
        return ops.zeros_like(logits[:, :, 0]), logits
    log_probs = ops.log_softmax(logits, axis=-1)
    batch_size = ops.shape(logits)[0]
    labels = ops.reshape(ops.arange(batch_size, dtype="int32"), (-1, 1, 1))
    labels = ops.broadcast_to(labels, (batch_size, clean.shape[1], 1))
    losses = -ops.squeeze(
        ops.take_along_axis(log_probs, labels, axis=-1), axis=-1
    )
    return losses, logits


@keras.saving.register_keras_serializable(package="rearec_keras")
class ReasoningContrastiveLoss(keras.losses.Loss):
    """PRL's reasoning-aware contrastive loss (InfoNCE, in-batch negatives).

    For each example `b` and reasoning step `k = 1..K` (step 0 is not used),
    the noisy twin state `r~_k^(b)` must pick its own clean state `r_k^(b)`
    among the clean states `r_k^(b')` of the whole batch at the same step,
    scored by `r~_k^(b) . r_k^(b') / temperature` (dot product; the
    denominator includes the positive). The per-example loss combines the
    `K` step cross-entropies with a mean (official code) or a sum (paper,
    `reduction_over_steps="sum"`). No stop-gradient: both the clean and the
    noisy states get gradients. `K = 0` gives zeros. The math runs in float32.

    Negatives are the examples of the batch the loss sees. Under
    `tf.distribute` that is the per-replica batch (no cross-replica gather):
    with `R` replicas the value equals the mean of the losses of the `R`
    sub-batches computed on one device; the replica scaling of the gradient
    is handled by Keras's `"sum_over_batch_size"` reduction.

    Because `keras.losses.Loss.__call__(y_true, y_pred)` has a fixed
    signature, the two inputs travel together in `y_pred`, and `y_true` is
    ignored (pass `None`).

    Args:
        temperature: float `> 0`. Defaults to `0.07` (the code's base
            temperature).
        reduction_over_steps: `"mean"` (official code) or `"sum"` (paper
            §3.3.2 `L_RCL`). Defaults to `"mean"`.
        reduction: Keras loss reduction over the batch. Defaults to
            `"sum_over_batch_size"`.
        name: loss name. Defaults to `"reasoning_contrastive"`.
        dtype: dtype of the reduced loss; the computation itself is float32.

    Call arguments:
        y_true: ignored (pass `None`).
        y_pred: the pair `(clean, noisy)` (tuple or list) or a dict
            `{"clean": clean, "noisy": noisy}`, each a float tensor
            `[B, K + 1, d]`.
        sample_weight: optional `[B]` weights.

    Example:

    ```python
    rcl = ReasoningContrastiveLoss(temperature=0.07)
    clean = np.random.normal(size=(8, 3, 16)).astype("float32")
    noisy = clean + 0.01 * np.random.normal(size=clean.shape)
    value = rcl(None, (clean, noisy))
    ```

    Reference:
        - [Tang et al., 2025](https://arxiv.org/abs/2503.22675), §3.3.2;
          official code `TangJiakai/ReaRec` `src/models/PRL.py`.
    """

    def __init__(
        self,
        temperature=0.07,
        reduction_over_steps="mean",
        reduction="sum_over_batch_size",
        name="reasoning_contrastive",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.temperature = check_float("temperature", temperature, 0.0, exclusive_minimum=True)
        self.reduction_over_steps = check_choice(
            "reduction_over_steps", reduction_over_steps, STEP_REDUCTIONS
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        if y_true is None:
            y_true = 0.0
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        del y_true
        if isinstance(y_pred, dict):
            missing = {"clean", "noisy"} - set(y_pred)
            if missing:
                raise ValueError(
                    "`y_pred` dict must have the keys 'clean' and 'noisy'. "
                    f"Missing: {sorted(missing)}."
                )
            clean, noisy = y_pred["clean"], y_pred["noisy"]
        elif isinstance(y_pred, (tuple, list)) and len(y_pred) == 2:
            clean, noisy = y_pred
        else:
            raise ValueError(
                "`y_pred` must be the pair (clean, noisy) or a dict "
                "{'clean': ..., 'noisy': ...} of [B, K + 1, d] states. "
                f"Received: {type(y_pred).__name__}."
            )
        losses, _ = reasoning_contrastive(clean, noisy, self.temperature)
        total = ops.sum(losses, axis=-1)
        num_steps = losses.shape[1]
        if self.reduction_over_steps == "mean" and num_steps:
            total = total / float(num_steps)
        return total

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "temperature": self.temperature,
                "reduction_over_steps": self.reduction_over_steps,
                "dtype": self.dtype,
            }
        )
        return config
