"""Progressive temperature annealing for PRL (ReaRec §3.3, spec §5)."""

import keras
import numpy as np
from keras import ops

from rearec_keras.utils.validation import check_float
from rearec_keras.utils.validation import check_int


def _validate_schedule(reasoning_steps, base_temperature, temperature_decay):
    return (
        check_int("reasoning_steps", reasoning_steps, 0),
        check_float("base_temperature", base_temperature, 0.0, exclusive_minimum=True),
        # 1 disables the annealing.
        check_float("temperature_decay", temperature_decay, 1.0),
    )


def progressive_temperature_values(
    reasoning_steps, base_temperature=0.07, temperature_decay=5.0
):
    """Returns the progressive temperature schedule as a list of floats.

    Same schedule as `progressive_temperatures()`, as plain Python floats
    (computed in float64), convenient for configs such as
    `MultiStepCrossEntropy(temperatures=...)`.
    """
    k, tau, alpha = _validate_schedule(
        reasoning_steps, base_temperature, temperature_decay
    )
    return [tau * alpha ** (k - step) for step in range(k + 1)]


def progressive_temperatures(
    reasoning_steps, base_temperature=0.07, temperature_decay=5.0
):
    """Per-step temperatures `tau_k = tau * alpha ** (K - k)`, `k = 0..K`.

    Progressive temperature annealing (PRL) smooths the distributions of the
    early reasoning steps with a large temperature and sharpens them towards
    the last step, which uses the base temperature `tau`. The official code
    uses `tau = 0.07`, `alpha = 5` (`temp_scale`) and `K = 2`, giving
    `[1.75, 0.35, 0.07]`.

    Args:
        reasoning_steps: int, `K >= 0`, the number of extra reasoning steps.
            The schedule has `K + 1` entries (steps `0..K`).
        base_temperature: float `tau > 0`, the temperature of the last step.
            Defaults to `0.07` (official code; paper grid
            `{0.05, 0.1, 0.5, 1, 2, 5}`).
        temperature_decay: float `alpha >= 1`, the ratio between the
            temperatures of consecutive steps; `1` disables the annealing.
            Defaults to `5.0` (official code; paper grid
            `{1.0, 1.2, 1.5, 2, 5, 10}`).

    Returns:
        A float32 tensor of shape `[K + 1]`; entry `k` is the temperature of
        reasoning step `k` (computed in float64, then cast once).

    Raises:
        ValueError: if `K < 0`, `tau <= 0` or `alpha < 1`.

    Example:

    ```python
    progressive_temperatures(3, base_temperature=1.0, temperature_decay=2.0)
    # -> [8., 4., 2., 1.]
    ```

    Reference:
        - [Tang et al., 2025](https://arxiv.org/abs/2503.22675), §3.3.1.
    """
    values = progressive_temperature_values(
        reasoning_steps, base_temperature, temperature_decay
    )
    return ops.convert_to_tensor(np.asarray(values, dtype="float32"))


@keras.saving.register_keras_serializable(package="rearec_keras")
class ProgressiveTemperature(keras.layers.Layer):
    """Divides per-step logits by the progressive temperatures `tau_k`.

    A stateless layer that applies the PRL schedule
    `tau_k = tau * alpha ** (K - k)` to the step axis of per-step scores, so
    a model can produce `logits_k / tau_k` in one place (and in float32, even
    under a mixed-precision policy). With `temperature_decay=1` it divides
    every step by the same `base_temperature` (the code's global `tau`).

    Args:
        reasoning_steps: int `K >= 0`; inputs must have `K + 1` steps.
        base_temperature: float `tau > 0`, the last step's temperature.
            Defaults to `0.07`.
        temperature_decay: float `alpha >= 1`. Defaults to `5.0`.
        step_axis: int, the axis of the inputs that indexes the steps.
            Defaults to `1` (`[B, K + 1, ...]`).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor with `K + 1` entries on `step_axis`, e.g.
            per-step logits of shape `[B, K + 1, N + 1]`.

    Returns:
        A float32 tensor of the same shape, `inputs / tau_k` along the step
        axis.

    Example:

    ```python
    layer = ProgressiveTemperature(2, base_temperature=0.07,
                                   temperature_decay=5.0)
    scaled = layer(keras.random.normal((4, 3, 11)))  # steps / [1.75, .35, .07]
    ```

    Reference:
        - [Tang et al., 2025](https://arxiv.org/abs/2503.22675), §3.3.1.
    """

    def __init__(
        self,
        reasoning_steps,
        base_temperature=0.07,
        temperature_decay=5.0,
        step_axis=1,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        k, tau, alpha = _validate_schedule(
            reasoning_steps, base_temperature, temperature_decay
        )
        if isinstance(step_axis, bool) or not isinstance(
            step_axis, (int, np.integer)
        ):
            raise ValueError(
                f"`step_axis` must be an int. Received: step_axis={step_axis!r}"
            )
        self.reasoning_steps = k
        self.base_temperature = tau
        self.temperature_decay = alpha
        self.step_axis = int(step_axis)
        self.built = True

    @property
    def temperatures(self):
        """The schedule `[tau_0, ..., tau_K]` as Python floats."""
        return progressive_temperature_values(
            self.reasoning_steps, self.base_temperature, self.temperature_decay
        )

    def call(self, inputs):
        inputs = ops.cast(inputs, "float32")
        rank = len(inputs.shape)
        axis = self.step_axis % rank
        steps = inputs.shape[axis]
        if steps is not None and steps != self.reasoning_steps + 1:
            raise ValueError(
                f"Expected {self.reasoning_steps + 1} reasoning steps "
                f"(K={self.reasoning_steps}) on axis {self.step_axis}, got "
                f"inputs of shape {tuple(inputs.shape)}."
            )
        shape = [1] * rank
        shape[axis] = self.reasoning_steps + 1
        temperatures = np.reshape(
            np.asarray(self.temperatures, dtype="float32"), shape
        )
        return ops.divide(inputs, ops.convert_to_tensor(temperatures))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reasoning_steps": self.reasoning_steps,
                "base_temperature": self.base_temperature,
                "temperature_decay": self.temperature_decay,
                "step_axis": self.step_axis,
            }
        )
        return config
