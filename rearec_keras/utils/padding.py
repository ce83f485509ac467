"""Masking of the padding item (id 0) in score matrices."""

from keras import ops

# Added to the padding column (item id 0) before every softmax. Finite, so
# that `0 * logit` never produces NaN, and far below any real float32 logit.
PADDING_LOGIT = -1e9


def mask_padding_column(logits):
    """Replaces column 0 (padding item) of `logits[..., N + 1]` by -1e9."""
    num_columns = logits.shape[-1]
    if num_columns is not None and num_columns < 2:
        raise ValueError(
            "Logits need at least 2 columns (column 0 is padding, items are "
            f"1..N). Received logits of shape {tuple(logits.shape)}."
        )
    column = ops.arange(ops.shape(logits)[-1])
    return ops.where(
        ops.equal(column, 0), ops.cast(PADDING_LOGIT, logits.dtype), logits
    )
