"""HSTU's relative attention bias `rab^{p,t}`: learned position and time terms."""

import keras
from keras import ops

from rearec_keras.layers.transformer_block import _clone_initializer
from rearec_keras.utils.validation import check_int

# The released HSTU code buckets a time gap `dt` as floor(ln(max(|dt|, 1)) / 0.301).
TIME_BUCKET_DIVISOR = 0.301


def time_buckets_of(time_gaps, num_buckets):
    """Bucket indices `[...]` int32 of time gaps (any numeric tensor).

    `floor(ln(max(|dt|, 1)) / 0.301)`, clipped to `[0, num_buckets]`, as in
    the released HSTU code (gaps of 0 or 1 time unit share bucket 0; each
    later bucket is about 35 % wider than the one before).
    """
    gaps = ops.abs(ops.cast(time_gaps, "float32"))
    buckets = ops.floor(ops.log(ops.maximum(gaps, 1.0)) / TIME_BUCKET_DIVISOR)
    return ops.cast(ops.clip(buckets, 0, num_buckets), "int32")


@keras.saving.register_keras_serializable(package="rearec_keras")
class RelativeAttentionBias(keras.layers.Layer):
    """HSTU's relative attention bias over query and key slots.

    ```
    rab[b, i, j] = w_p[(j - i) + (n - 1)]  +  w_t[bucket(t[b, i] - t[b, j])]
    ```

    The position term `w_p` (`[2n - 1]`) has one learned scalar per relative
    distance between slots (distances beyond `n - 1` share the last entry);
    the optional time term `w_t` (`[time_buckets + 1]`) has one per bucket
    of the log time gap (`time_buckets_of`). Both are shared by the heads.
    The bias of a pair depends only on its two slots, so a query decoded
    with a KV cache gets exactly the row a full pass would give it. Our
    choice: a query's own timestamp `t[b, i]`; the released code pairs slot
    `i` with the next action's time `t[b, i + 1]` (the request time for the
    newest slot), which would tie a cached row to a time not known when it
    was encoded. The two agree for the newest slot, the one that is scored.

    Args:
        max_length: int >= 1. `n`, the number of slots the attention can hold.
        time_buckets: int >= 0. Time buckets; 0 (default) creates no time
            term (the released code uses 128).
        initializer: initializer of both tables. Defaults to
            `RandomNormal(stddev=0.02)` (released code).
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        query_positions: int tensor `[T]`: the slot index of each query.
        key_positions: int tensor `[S]`: the slot index of each key.
        query_timestamps / key_timestamps: optional numeric tensors
            `[batch, T]` / `[batch, S]` (both or neither; only when
            `time_buckets > 0`).

    Returns:
        float32 `[1, T, S]` (position term only) or `[batch, T, S]`.

    Example:

    ```python
    bias = RelativeAttentionBias(max_length=50)
    rab = bias(ops.arange(50), ops.arange(50))          # [1, 50, 50]
    ```

    Reference:
        - [Zhai et al., 2024](https://arxiv.org/abs/2402.17152), §3.1
          (Eq. 2, `rab^{p,t}`); released code `RelativeBucketedTimeAndPositionBasedBias`.
    """

    def __init__(self, max_length: int, time_buckets: int = 0, initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.max_length = check_int("max_length", max_length, 1)
        self.time_buckets = check_int("time_buckets", time_buckets, 0)
        if initializer is None:
            initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape=None):
        self.position_bias = self.add_weight(
            name="position_bias", shape=(2 * self.max_length - 1,),
            initializer=_clone_initializer(self.initializer),
        )
        self.time_bias = None
        if self.time_buckets > 0:
            self.time_bias = self.add_weight(
                name="time_bias", shape=(self.time_buckets + 1,),
                initializer=_clone_initializer(self.initializer),
            )
        self.built = True

    def call(self, query_positions, key_positions, query_timestamps=None, key_timestamps=None):
        n = self.max_length
        distance = (ops.expand_dims(ops.cast(key_positions, "int32"), 0)
                    - ops.expand_dims(ops.cast(query_positions, "int32"), 1))  # [T, S]
        index = ops.clip(distance, -(n - 1), n - 1) + (n - 1)
        bias = ops.expand_dims(ops.take(ops.cast(self.position_bias, "float32"), index), 0)
        if (query_timestamps is None) != (key_timestamps is None):
            raise ValueError("pass both `query_timestamps` and `key_timestamps`, or neither")
        if query_timestamps is None:
            return bias
        if self.time_bias is None:
            raise ValueError(
                "timestamps were given but this attention has no time bias "
                "(time_buckets=0); build it with time_buckets > 0 (e.g. 128)."
            )
        gaps = ops.expand_dims(query_timestamps, 2) - ops.expand_dims(key_timestamps, 1)
        buckets = time_buckets_of(gaps, self.time_buckets)  # [B, T, S]
        return bias + ops.take(ops.cast(self.time_bias, "float32"), buckets)

    def get_config(self):
        config = super().get_config()
        config.update({
            "max_length": self.max_length,
            "time_buckets": self.time_buckets,
            "initializer": keras.initializers.serialize(self.initializer),
        })
        return config
