"""Frozen item features as a saved, non-trainable table (text backbones)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from rearec_keras.utils.validation import check_int


def check_item_features(item_features, num_items=None) -> np.ndarray:
    """Validates an item feature matrix and returns it as float32
    `[num_items + 1, F]` with a zero padding row 0.

    Accepts `[num_items, F]` (row `i - 1` describes item `i`) or
    `[num_items + 1, F]` (row `i` describes item `i`; row 0 is replaced by
    zeros). Raises `ValueError` naming the problem (shape, or the first
    item with a non-finite value).
    """
    arr = np.asarray(keras.ops.convert_to_numpy(item_features))
    if arr.ndim != 2 or arr.shape[1] < 1 or arr.shape[0] < 1:
        raise ValueError(
            f"`item_features` must be a 2-D matrix [num_items, feature_dim]; got shape {arr.shape}."
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"`item_features` must be numeric, got dtype {arr.dtype}.")
    if num_items is not None and arr.shape[0] not in (num_items, num_items + 1):
        raise ValueError(
            f"`item_features` has {arr.shape[0]} rows but the catalog has num_items={num_items} "
            f"items: pass [num_items, F] = [{num_items}, F] (row i-1 is item i) or "
            f"[num_items + 1, F] with row 0 for padding."
        )
    arr = arr.astype(np.float32)
    if num_items is None or arr.shape[0] == num_items:
        arr = np.concatenate([np.zeros((1, arr.shape[1]), np.float32), arr])
    else:
        arr = arr.copy()
        arr[0] = 0.0
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        item = int(np.argmax(bad))
        raise ValueError(
            f"`item_features` of item {item} (row {item - 1} of a [num_items, F] matrix) "
            "contain NaN or inf."
        )
    return arr


@keras.saving.register_keras_serializable(package="rearec_keras")
class ItemFeatureTable(keras.layers.Layer):
    """A frozen item feature matrix stored as a non-trainable weight.

    Args:
        num_items: catalog size `N` (items `1..N`, 0 is padding).
        feature_dim: feature size `F`.
        item_features: `[N, F]` or `[N + 1, F]` (see `check_item_features`),
            or the string `"weights"` to create a zero placeholder that a
            saved model's weights fill in.

    Call returns the float32 table `[N + 1, F]` (row 0 is zero). `lookup(ids)`
    gathers rows.
    """

    def __init__(self, num_items, feature_dim, item_features="weights", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.num_items = check_int("num_items", num_items, 1)
        self.feature_dim = check_int("feature_dim", feature_dim, 1)
        self._initial = None
        if isinstance(item_features, str):
            if item_features != "weights":
                raise ValueError(
                    "`item_features` must be a matrix or 'weights'; got "
                    f"{item_features!r}."
                )
        else:
            self._initial = check_item_features(item_features, self.num_items)
            if self._initial.shape[1] != self.feature_dim:
                raise ValueError(
                    f"`item_features` have {self._initial.shape[1]} columns but "
                    f"feature_dim={self.feature_dim}."
                )

    def build(self, input_shape=None):
        init = "zeros" if self._initial is None else keras.initializers.Constant(self._initial)
        self.features = self.add_weight(
            shape=(self.num_items + 1, self.feature_dim),
            initializer=init,
            trainable=False,
            dtype="float32",
            name="features",
        )
        self._initial = None  # the weight holds it now
        self.built = True

    def call(self, ids=None):
        if ids is None:
            return ops.convert_to_tensor(self.features)
        return ops.take(self.features, ops.cast(ids, "int32"), axis=0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_items": self.num_items, "feature_dim": self.feature_dim, "item_features": "weights"}
        )
        return config
