"""UniSRec's parametric whitening `W (x − b)` (Hou et al., 2022, Eq. 2)."""

from __future__ import annotations

import keras
from keras import ops

from rearec_keras.utils.validation import check_int
from rearec_keras.utils.validation import check_rate


def _normal():
    return keras.initializers.RandomNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="rearec_keras")
class ParametricWhitening(keras.layers.Layer):
    """UniSRec's parametric whitening `y = W (Dropout(x) − b)`.

    A learned translation `b ∈ R^F` (zeros at init) and a linear map
    `W ∈ R^{F×d}` without bias (N(0, 0.02) at init), which adapt frozen
    text features whose distribution is anisotropic to the recommender's
    space (Hou et al., 2022, §2.2.1).

    Args:
        output_dim: `d`.
        dropout: dropout on the input features (UniSRec: 0.2).
    """

    def __init__(self, output_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = check_int("output_dim", output_dim, 1)
        self.dropout = check_rate("dropout", dropout)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        features = int(input_shape[-1])
        self.bias = self.add_weight(shape=(features,), initializer="zeros", name="bias")
        self.kernel = self.add_weight(
            shape=(features, self.output_dim), initializer=_normal(), name="kernel"
        )
        self.built = True

    def call(self, x, training=False):
        x = self.dropout_layer(ops.cast(x, self.compute_dtype), training=training)
        return ops.matmul(x - ops.cast(self.bias, x.dtype), ops.cast(self.kernel, x.dtype))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"output_dim": self.output_dim, "dropout": self.dropout})
        return config
