"""Cross-entropy summed over the reasoning steps (ReaRec ERL Eq. 6 / PRL)."""

import keras
import numpy as np
from keras import ops

from rearec_keras.losses._utils import check_step_logits
from rearec_keras.utils.padding import mask_padding_column
from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_float

from rearec_keras.utils.choices import LOSS_VARIANTS as VARIANTS  # noqa: E402


def _to_float_list(values, argument):
    """Sequence / numpy array / tensor -> list of Python floats."""
    if hasattr(values, "shape") and not isinstance(values, np.ndarray):
        values = ops.convert_to_numpy(values)
    array = np.asarray(values, dtype="float64")
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"`{argument}` must be a non-empty 1-D list of floats (one per "
            f"reasoning step 0..K). Received: {argument}={values!r}"
        )
    return [float(v) for v in array]


@keras.saving.register_keras_serializable(package="rearec_keras")
class MultiStepCrossEntropy(keras.losses.Loss):
    """Next-item cross-entropy combined over the reasoning steps `0..K`.

    For each example and step `k` the loss computes the full-catalog
    cross-entropy `CE_k = -log softmax(logits_k / tau_k)[target]` (column 0,
    the padding item, is masked out of every softmax) and combines the steps:

    - `variant="paper"` (ReaRec Eq. 6 / PRL `L_Rec`):
      `sum_k w_k * CE_k` with `w_k = step_weights[k]` (default: all 1).
    - `variant="code"` (official `PRL.py`):
      `CE_K + progressive_weight * mean_{k<K} CE_k` — steps `0..K-1` share
      one unit of weight, the last step has its own unit.

    With `K = 0` both variants reduce to the plain cross-entropy of step 0
    (never the NaN mean over an empty set of earlier steps).

    All the math runs in float32, whatever the input dtype. The per-example
    losses `[B]` are reduced with Keras's standard reduction (default
    `"sum_over_batch_size"`), which divides by the number of replicas under
    `tf.distribute`, so the loss can be summed with others inside
    `Model.compute_loss`.

    Args:
        temperatures: `None` (all steps use 1), a float `tau > 0` used for
            every step, or a list of `K + 1` floats `[tau_0, ..., tau_K]`
            (e.g. `progressive_temperature_values(K, 0.07, 5.0)` for PRL).
            A list's length is checked against the logits at call time.
        step_weights: `None` (all 1, the paper's plain sum) or a list of
            `K + 1` non-negative floats. Only valid with `variant="paper"`.
        variant: `"paper"` or `"code"`, see above. Defaults to `"paper"`.
        progressive_weight: float `>= 0`, the weight of the averaged early
            steps in `variant="code"` (the code's `pl_weight`, default `1`).
            Must stay `1.0` with `variant="paper"`.
        reduction: Keras loss reduction. Defaults to `"sum_over_batch_size"`.
        name: loss name. Defaults to `"multi_step_cross_entropy"`.
        dtype: dtype of the reduced loss; the computation itself is float32.

    Call arguments:
        y_true: int tensor `[B]` (or `[B, 1]`) of target item ids in `1..N`.
        y_pred: float tensor `[B, K + 1, N + 1]` of per-step logits
            `R_k . E^T`, *before* the temperatures (the loss divides by
            `tau_k`). The step axis must be static.
        sample_weight: optional `[B]` weights, as in any Keras loss.

    Example:

    ```python
    loss = MultiStepCrossEntropy(
        temperatures=progressive_temperature_values(2, 0.07, 5.0),
        variant="code",
    )
    targets = np.array([3, 1])
    logits = np.random.normal(size=(2, 3, 6)).astype("float32")  # K=2, N=5
    value = loss(targets, logits)  # scalar
    ```

    Reference:
        - [Tang et al., 2025](https://arxiv.org/abs/2503.22675), Eq. 6 and
          §3.3.1; official code `TangJiakai/ReaRec` `src/models/PRL.py`.
    """

    def __init__(
        self,
        temperatures=None,
        step_weights=None,
        variant="paper",
        progressive_weight=1.0,
        reduction="sum_over_batch_size",
        name="multi_step_cross_entropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.variant = check_choice("variant", variant, VARIANTS)
        if temperatures is None:
            self.temperatures = None
        else:
            scalar = np.ndim(temperatures) == 0
            values = _to_float_list([temperatures] if scalar else temperatures, "temperatures")
            for value in values:
                check_float("temperatures", value, 0.0, exclusive_minimum=True)
            self.temperatures = values[0] if scalar else values
        if step_weights is not None:
            if self.variant == "code":
                raise ValueError(
                    "`step_weights` can only be used with variant='paper'; "
                    "variant='code' fixes the weights to "
                    "[progressive_weight / K] * K + [1]. Received: "
                    f"step_weights={step_weights!r}"
                )
            step_weights = _to_float_list(step_weights, "step_weights")
            for value in step_weights:
                check_float("step_weights", value, 0.0)
        self.step_weights = step_weights
        progressive_weight = check_float("progressive_weight", progressive_weight, 0.0)
        if self.variant == "paper" and progressive_weight != 1.0:
            raise ValueError(
                "`progressive_weight` only applies to variant='code'; with "
                "variant='paper' use `step_weights`. Received: "
                f"progressive_weight={progressive_weight}"
            )
        self.progressive_weight = progressive_weight

    def step_temperatures(self, num_steps):
        """The `[K + 1]` temperatures used for `num_steps = K + 1` steps."""
        if self.temperatures is None:
            return [1.0] * num_steps
        if isinstance(self.temperatures, float):
            return [self.temperatures] * num_steps
        if len(self.temperatures) != num_steps:
            raise ValueError(
                f"`temperatures` has {len(self.temperatures)} entries but the "
                f"logits have {num_steps} reasoning steps (K + 1). Received: "
                f"temperatures={self.temperatures}"
            )
        return list(self.temperatures)

    def step_weights_for(self, num_steps):
        """The effective weight of each of the `num_steps = K + 1` steps."""
        if self.variant == "code":
            if num_steps == 1:
                return [1.0]
            early = self.progressive_weight / (num_steps - 1)
            return [early] * (num_steps - 1) + [1.0]
        if self.step_weights is None:
            return [1.0] * num_steps
        if len(self.step_weights) != num_steps:
            raise ValueError(
                f"`step_weights` has {len(self.step_weights)} entries but the "
                f"logits have {num_steps} reasoning steps (K + 1). Received: "
                f"step_weights={self.step_weights}"
            )
        return list(self.step_weights)

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        num_steps = check_step_logits(logits)
        temperatures = np.asarray(
            self.step_temperatures(num_steps), dtype="float32"
        ).reshape(1, num_steps, 1)
        weights = np.asarray(
            self.step_weights_for(num_steps), dtype="float32"
        ).reshape(1, num_steps)
        logits = ops.divide(logits, ops.convert_to_tensor(temperatures))
        log_probs = ops.log_softmax(mask_padding_column(logits), axis=-1)
        targets = ops.cast(ops.reshape(y_true, (-1, 1, 1)), "int32")
        targets = ops.broadcast_to(
            targets, (ops.shape(log_probs)[0], num_steps, 1)
        )
        nll = -ops.squeeze(
            ops.take_along_axis(log_probs, targets, axis=-1), axis=-1
        )
        return ops.sum(nll * ops.convert_to_tensor(weights), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "temperatures": self.temperatures,
                "step_weights": self.step_weights,
                "variant": self.variant,
                "progressive_weight": self.progressive_weight,
                "dtype": self.dtype,
            }
        )
        return config
