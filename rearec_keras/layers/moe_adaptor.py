"""UniSRec's mixture of parametric-whitening experts (Hou et al., 2022, Eq. 3)."""

from __future__ import annotations

import keras
from keras import ops

from rearec_keras.utils.validation import check_int
from rearec_keras.utils.validation import check_rate
from rearec_keras.layers.parametric_whitening import _normal


@keras.saving.register_keras_serializable(package="rearec_keras")
class MoEAdaptor(keras.layers.Layer):
    """UniSRec's mixture-of-experts adaptor over parametric whitening.

    `y = Σ_k g_k · W_k (Dropout(x) − b_k)`, `g = softmax(x W_g + ε)`, with
    `num_experts` whitening experts and a gate over the raw features
    (Hou et al., 2022, Eq. 3). Gate weights start at zero (uniform mixture).
    With `gate_noise=True` (UniSRec's default) training adds Gaussian noise
    of learned scale `softplus(x W_n) + 0.01` to the gate logits.

    One dropout mask is shared by the experts (UniSRec draws one per
    expert); that keeps the cost at one `[items, F]` mask for any number of
    experts. All experts run as one batched einsum.

    Args:
        output_dim: `d`.
        num_experts: number of whitening experts (UniSRec: 8).
        dropout: dropout on the input features (UniSRec: 0.2).
        gate_noise: noisy gating in training.
        seed: seed of the gate noise.
    """

    def __init__(self, output_dim, num_experts=8, dropout=0.2, gate_noise=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = check_int("output_dim", output_dim, 1)
        self.num_experts = check_int("num_experts", num_experts, 1)
        self.dropout = check_rate("dropout", dropout)
        self.gate_noise = bool(gate_noise)
        self.seed = seed
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        features = int(input_shape[-1])
        E, d = self.num_experts, self.output_dim
        self.bias = self.add_weight(shape=(E, features), initializer="zeros", name="bias")
        self.kernel = self.add_weight(shape=(E, features, d), initializer=_normal(), name="kernel")
        self.gate_kernel = self.add_weight(
            shape=(features, E), initializer="zeros", name="gate_kernel"
        )
        if self.gate_noise:
            self.noise_kernel = self.add_weight(
                shape=(features, E), initializer="zeros", name="noise_kernel"
            )
        self.built = True

    def gates(self, x, training=False):
        """Expert weights `[..., num_experts]` (softmax over experts)."""
        x = ops.cast(x, "float32")
        logits = ops.matmul(x, ops.cast(self.gate_kernel, "float32"))
        if training and self.gate_noise:
            scale = ops.softplus(ops.matmul(x, ops.cast(self.noise_kernel, "float32"))) + 0.01
            noise = keras.random.normal(ops.shape(logits), seed=self.seed_generator)
            logits = logits + noise * scale
        return ops.softmax(logits, axis=-1)

    def call(self, x, training=False):
        gates = ops.cast(self.gates(x, training=training), self.compute_dtype)
        x = self.dropout_layer(ops.cast(x, self.compute_dtype), training=training)
        kernel = ops.cast(self.kernel, x.dtype)
        E, F, d = self.num_experts, kernel.shape[1], self.output_dim
        # W_k (x − b_k) = x W_k − b_k W_k, all experts in one [F, E·d]
        # matmul (an einsum over `...f,efd` materialised a [n, E, F, d]
        # product in TensorFlow and ran 8-16x slower).
        stacked = ops.reshape(ops.transpose(kernel, (1, 0, 2)), (F, E * d))
        shift = ops.squeeze(ops.matmul(ops.expand_dims(ops.cast(self.bias, x.dtype), 1), kernel), 1)
        experts = ops.reshape(ops.matmul(x, stacked), (*ops.shape(x)[:-1], E, d)) - shift
        return ops.sum(ops.expand_dims(gates, -1) * experts, axis=-2)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "num_experts": self.num_experts,
                "dropout": self.dropout,
                "gate_noise": self.gate_noise,
                "seed": self.seed,
            }
        )
        return config
