"""Private helpers shared by the ReaRec losses (not part of the public API)."""

import math

from keras import ops

from rearec_keras.utils.padding import PADDING_LOGIT  # noqa: F401
from rearec_keras.utils.padding import mask_padding_column  # noqa: F401


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


def check_positive_float(value, argument, allow_none=False):
    if value is None and allow_none:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{argument}` must be a float > 0. Received: {argument}={value!r}"
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"`{argument}` must be a finite float > 0. "
            f"Received: {argument}={value}"
        )
    return value


def check_choice(value, argument, allowed):
    if value not in allowed:
        raise ValueError(
            f"`{argument}` must be one of {list(allowed)}. "
            f"Received: {argument}={value!r}"
        )
    return value
