"""MoRec's trainable projection of frozen modality features."""

from __future__ import annotations

import keras
from keras import ops

from rearec_keras.utils.validation import check_int
from rearec_keras.utils.validation import check_rate
from rearec_keras.layers.parametric_whitening import _normal


@keras.saving.register_keras_serializable(package="rearec_keras")
class FeatureProjection(keras.layers.Layer):
    """MoRec's trainable projection of frozen modality features.

    `y = Dropout(x) W + c` (one dense layer, N(0, 0.02) kernel, zero bias),
    or with `hidden_dim` set a two-layer MLP `GeLU(x W1 + c1) W2 + c2`
    (Yuan et al., 2023, use a dense "DNN" layer between the modality
    encoder and the sequence model).

    Args:
        output_dim: `d`.
        hidden_dim: optional hidden size of a two-layer MLP.
        dropout: dropout on the input features.
    """

    def __init__(self, output_dim, hidden_dim=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = check_int("output_dim", output_dim, 1)
        self.hidden_dim = None if hidden_dim is None else check_int("hidden_dim", hidden_dim, 1)
        self.dropout = check_rate("dropout", dropout)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.hidden = None
        if self.hidden_dim is not None:
            self.hidden = keras.layers.Dense(
                self.hidden_dim, activation="gelu", kernel_initializer=_normal(),
                dtype=self.dtype_policy, name="hidden",
            )
        self.output_layer = keras.layers.Dense(
            self.output_dim, kernel_initializer=_normal(), dtype=self.dtype_policy, name="output"
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        if self.hidden is not None:
            self.hidden.build(shape)
            shape = (*shape[:-1], self.hidden_dim)
        self.output_layer.build(shape)
        self.built = True

    def call(self, x, training=False):
        x = self.dropout_layer(ops.cast(x, self.compute_dtype), training=training)
        if self.hidden is not None:
            x = self.hidden(x)
        return self.output_layer(x)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"output_dim": self.output_dim, "hidden_dim": self.hidden_dim, "dropout": self.dropout}
        )
        return config
