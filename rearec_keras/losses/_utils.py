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
