"""Private helpers shared by the ReaRec losses (not part of the public API)."""


def check_step_logits(logits, argument="y_pred"):
    """Checks `[B, K + 1, N + 1]` logits with a static step axis."""
    if len(logits.shape) != 3:
        raise ValueError(
            f"`{argument}` must be per-step logits of shape [B, K + 1, N + 1]."
            f" Received shape {tuple(logits.shape)}."
        )
    if logits.shape[1] is None:
        raise ValueError(
            f"The step axis (axis 1, K + 1) of `{argument}` must be static. "
            f"Received shape {tuple(logits.shape)}."
        )
    return logits.shape[1]


_BATCH_MEAN = None


def batch_mean(values, sample_weight=None):
    """`values` `[B]` (per-example losses) reduced like a Keras loss:
    `sum(w·v) / B` ("sum_over_batch_size"), so that under `tf.distribute`
    it is scaled by 1/replicas like the compiled losses (a plain mean is
    not, and would count every replica's term again in the summed
    gradient)."""
    global _BATCH_MEAN
    if _BATCH_MEAN is None:
        import keras

        class _PerExample(keras.losses.Loss):
            def call(self, y_true, y_pred):
                return y_pred

        _BATCH_MEAN = _PerExample(name="batch_mean")
    return _BATCH_MEAN(values, values, sample_weight=sample_weight)  # y_true unused
