"""Attention masks for items + reasoning slots (True = may attend).

Layout: the `L` item slots of a left-padded history come first (padding on
the left, newest item in slot `L - 1`), then the reasoning slots `L .. L+K-1`
(reasoning token `j`, 1-based, sits in slot `L - 1 + j`). Every mask here is
a bool tensor whose last axis indexes keys; padding keys are never visible,
item slots never see reasoning slots, and a reasoning slot sees every real
item, every earlier reasoning slot and itself. The latter rule is the same
for SASRec (causal) and BERT4Rec (prefix / bidirectional) backbones.

All functions use `keras.ops` only and accept bool or integer masks.
"""

from keras import ops

from rearec_keras.utils.validation import check_int

ITEM_ATTENTION_MODES = ("causal", "bidirectional")


def _check_mode(mode):
    if mode not in ITEM_ATTENTION_MODES:
        raise ValueError(
            f"`mode` must be one of {ITEM_ATTENTION_MODES}. Received: mode={mode!r}"
        )


def _as_bool(padding_mask):
    padding_mask = ops.convert_to_tensor(padding_mask)
    if len(padding_mask.shape) != 2:
        raise ValueError(
            "`padding_mask` must have shape [batch, L]. Received shape "
            f"{tuple(padding_mask.shape)}"
        )
    return ops.cast(padding_mask, "bool")


def _lower_triangular(n):
    idx = ops.arange(n)
    return ops.expand_dims(idx, 1) >= ops.expand_dims(idx, 0)


def item_attention_mask(padding_mask, mode="causal"):
    """Self-attention mask over the item slots.

    Args:
        padding_mask: bool/int tensor `[batch, L]`, True/non-zero for a real
            item.
        mode: `"causal"` (SASRec: query `i` sees real keys `j <= i`) or
            `"bidirectional"` (BERT4Rec: query sees every real key).

    Returns:
        A bool tensor `[batch, L, L]` (`[b, query, key]`). Padding keys are
        never visible, so under the causal mask a padding query (left of every
        real item) sees nothing; the attention layer must keep such rows
        finite.

    Example:

    ```python
    item_attention_mask(np.array([[0, 1, 1]], bool), "causal")[0]
    # [[F, F, F],
    #  [F, T, F],
    #  [F, T, T]]
    ```
    """
    _check_mode(mode)
    valid = _as_bool(padding_mask)
    length = ops.shape(valid)[1]
    keys = ops.expand_dims(valid, 1)  # [B, 1, L]
    if mode == "causal":
        tri = ops.expand_dims(_lower_triangular(length), 0)  # [1, L, L]
        return ops.logical_and(keys, tri)
    return ops.broadcast_to(keys, (ops.shape(valid)[0], length, length))


def reasoning_step_mask(padding_mask, num_reasoning_slots):
    """Mask of one new reasoning token decoded with a KV cache.

    The new token is the `num_reasoning_slots`-th reasoning slot: the cache
    already holds the `L` item slots and `num_reasoning_slots - 1` earlier
    reasoning slots. It sees every real item, every earlier reasoning slot
    and itself. Identical for causal and prefix (bidirectional) backbones.

    Args:
        padding_mask: bool/int tensor `[batch, L]`.
        num_reasoning_slots: Python int >= 1, the 1-based index of the new
            reasoning token.

    Returns:
        A bool tensor `[batch, 1, L + num_reasoning_slots]`.
    """
    check_int("num_reasoning_slots", num_reasoning_slots, 1)
    valid = _as_bool(padding_mask)
    reasoning = ops.ones((ops.shape(valid)[0], num_reasoning_slots), "bool")
    return ops.expand_dims(ops.concatenate([valid, reasoning], axis=1), 1)


def full_attention_mask(padding_mask, num_reasoning, mode="causal"):
    """Mask for a non-cached pass over items + `num_reasoning` reasoning slots.

    Item rows follow `item_attention_mask(padding_mask, mode)` and never see
    reasoning slots; reasoning row `j` sees every real item and reasoning
    slots `<= j`. Running an encoder once on `[items; reasoning inputs]` with
    this mask reproduces cached incremental decoding exactly (in eval mode).

    Args:
        padding_mask: bool/int tensor `[batch, L]`.
        num_reasoning: Python int >= 0, number of reasoning slots `K`.
        mode: `"causal"` or `"bidirectional"` (item-slot rule).

    Returns:
        A bool tensor `[batch, L + K, L + K]`.
    """
    check_int("num_reasoning", num_reasoning, 0)
    items = item_attention_mask(padding_mask, mode)  # [B, L, L]
    if num_reasoning == 0:
        return items
    valid = _as_bool(padding_mask)
    batch, length = ops.shape(valid)[0], ops.shape(valid)[1]
    k = num_reasoning
    item_rows = ops.concatenate(
        [items, ops.zeros((batch, length, k), "bool")], axis=2
    )
    reasoning_rows = ops.concatenate(
        [
            ops.broadcast_to(ops.expand_dims(valid, 1), (batch, k, length)),
            ops.broadcast_to(
                ops.expand_dims(_lower_triangular(k), 0), (batch, k, k)
            ),
        ],
        axis=2,
    )
    return ops.concatenate([item_rows, reasoning_rows], axis=1)
