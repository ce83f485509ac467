"""Reasoning position embedding `P^R` of ReaRec."""

import keras
from keras import ops

from rearec_keras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="rearec_keras")
class ReasoningPositionEmbedding(keras.layers.Layer):
    """Adds the reasoning position embedding of one reasoning step.

    ReaRec feeds the encoder's last output `r_s` back as a new input token
    `r_s + P^R[s]` (paper Eq. 4, `h_{n+i} = h^L_{n+i-1} + p^R_i`). The weight
    `P^R` has one row per extra reasoning step, `[K, d]`; the 0-based row `s`
    is the paper's `p^R_{s+1}` and is used to build the input of reasoning
    step `s + 1`.

    Args:
        reasoning_steps: int >= 1. Number of extra reasoning steps `K`.
        hidden_dim: int >= 1. Hidden size `d`.
        initializer: initializer of the `[K, d]` weight. Defaults to
            `RandomNormal(stddev=0.02)` (official code).
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `[batch, d]` or `[batch, 1, d]`: the previous
            step's output `r_s`.
        step: Python int in `[0, reasoning_steps)`: which row of `P^R` to add.

    Returns:
        `inputs + P^R[step]`, same shape as `inputs`.

    Example:

    ```python
    rpe = ReasoningPositionEmbedding(reasoning_steps=2, hidden_dim=64)
    r0 = np.random.rand(8, 64).astype("float32")
    next_input = rpe(r0, step=0)  # r0 + P^R[0]
    ```

    Reference:
        - [Tang et al., 2025](https://arxiv.org/abs/2503.22675), §3.1.2.
    """

    def __init__(
        self,
        reasoning_steps: int,
        hidden_dim: int,
        initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # K >= 1: with K=0 there is no reasoning position embedding.
        self.reasoning_steps = check_int("reasoning_steps", reasoning_steps, 1)
        self.hidden_dim = check_int("hidden_dim", hidden_dim, 1)
        if initializer is None:
            initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.reasoning_steps, self.hidden_dim),
            initializer=self.initializer,
        )
        self.built = True

    def call(self, inputs, step):
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(
                f"`step` must be a Python int in [0, {self.reasoning_steps}). "
                f"Received: step={step!r}"
            )
        if not 0 <= step < self.reasoning_steps:
            raise ValueError(
                f"`step` must be in [0, {self.reasoning_steps}) (one row per "
                f"reasoning step, reasoning_steps={self.reasoning_steps}). "
                f"Received: step={step}"
            )
        row = ops.cast(self.embeddings[step], inputs.dtype)
        return inputs + row

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reasoning_steps": self.reasoning_steps,
                "hidden_dim": self.hidden_dim,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
