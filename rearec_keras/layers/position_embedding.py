"""Item position embedding for left-padded histories."""

import keras
from keras import ops

from rearec_keras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="rearec_keras")
class LeftPaddedPositionEmbedding(keras.layers.Layer):
    """Position embedding that counts positions from the oldest real item.

    Histories are left-padded: the newest item sits in the last column and
    padding (`padding_mask == False`) fills the first `L - len` columns. As in
    the official ReaRec code, the position id of a real slot is
    `cumsum(valid) - 1`, so the oldest real item gets id `0` and the newest one
    gets `len - 1` (not `L - 1`). Every padding slot uses the dedicated row
    `max_length` of the table, which therefore has `max_length + 1` rows. The
    padding row is randomly initialised like the other rows (it never reaches a
    real item's output: padding keys are masked in attention).

    Args:
        max_length: int >= 1. The longest history the layer accepts (`L`).
        hidden_dim: int >= 1. Size of each position vector (`d`).
        initializer: initializer of the `[max_length + 1, hidden_dim]` table.
            Defaults to `RandomNormal(stddev=0.02)` (official code).
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` and `trainable`.

    Call arguments:
        padding_mask: bool tensor `[batch, L]`, `True` for a real item. `L`
            must be at most `max_length`.

    Returns:
        A float tensor `[batch, L, hidden_dim]`: the position vector of every
        slot.

    Example:

    ```python
    layer = LeftPaddedPositionEmbedding(max_length=50, hidden_dim=64)
    histories = np.array([[0, 0, 7, 3], [4, 1, 2, 9]])
    layer.position_ids(histories != 0)  # [[50, 50, 0, 1], [0, 1, 2, 3]]
    positions = layer(histories != 0)   # [2, 4, 64]
    ```

    Reference:
        - [Tang et al., 2025](https://arxiv.org/abs/2503.22675), Eq. 2;
          official code `TangJiakai/ReaRec`.
    """

    def __init__(
        self,
        max_length: int,
        hidden_dim: int,
        initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_length = check_int("max_length", max_length, 1)
        self.hidden_dim = check_int("hidden_dim", hidden_dim, 1)
        if initializer is None:
            initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.max_length + 1, self.hidden_dim),
            initializer=self.initializer,
        )
        self.built = True

    @property
    def padding_position_id(self):
        """The table row used by every padding slot (`max_length`)."""
        return self.max_length

    def _check_length(self, padding_mask):
        length = padding_mask.shape[-1]
        if length is not None and length > self.max_length:
            raise ValueError(
                f"The history length L={length} exceeds `max_length`="
                f"{self.max_length} of {self.__class__.__name__} "
                f"'{self.name}'. Truncate the histories to at most "
                f"{self.max_length} items or build a larger table."
            )

    def position_ids(self, padding_mask):
        """Position ids of a left-padded batch.

        Args:
            padding_mask: bool tensor `[batch, L]`, `True` for a real item.

        Returns:
            An int32 tensor `[batch, L]`: `cumsum(valid) - 1` for real slots
            (oldest real item `0`, newest `len - 1`) and `max_length` for
            padding slots.
        """
        padding_mask = ops.convert_to_tensor(padding_mask)
        self._check_length(padding_mask)
        valid = ops.cast(padding_mask, "bool")
        positions = ops.cumsum(ops.cast(valid, "int32"), axis=-1) - 1
        return ops.where(
            valid, positions, ops.full_like(positions, self.max_length)
        )

    def call(self, padding_mask):
        ids = self.position_ids(padding_mask)
        return ops.take(self.embeddings, ids, axis=0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_length": self.max_length,
                "hidden_dim": self.hidden_dim,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
