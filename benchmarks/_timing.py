"""Round-robin timing shared by the benchmark scripts."""

import time

import numpy as np


def interleaved_samples(calls, rounds):
    """Seconds of every call of each zero-argument callable, timed round-robin.

    Every round calls each function once, so slow drifts of the machine
    (other processes, clock boosts) hit all of them alike instead of biasing
    whichever was timed last. Warm up (compile) before calling this.
    """
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: np.asarray(t) for name, t in times.items()}


def round_ratios(samples, base):
    """Per-round speed ratios `base / name` from `interleaved_samples`.

    A ratio taken within one round compares calls timed seconds apart, so
    the machine's slow drift cancels; their spread over rounds is the
    ratio's own noise (not the noise of the two medians combined).
    """
    return {name: samples[base] / t for name, t in samples.items()}


def interleaved_medians(calls, rounds):
    """Median seconds of each callable (see `interleaved_samples`)."""
    return {name: float(np.median(t)) for name, t in interleaved_samples(calls, rounds).items()}


def encoder_flops(model, length, steps=None):
    """Analytic forward FLOPs (2 x multiply-adds) of one sequence through a
    SASRec-style encoder: the item pass (the last block computes keys and
    values for every slot but queries, attention output and feed-forward for
    the newest slot only) plus `steps` cached reasoning steps (one row each,
    attending to every earlier slot). `steps=None`: the model's K."""
    d, inner, layers = model.hidden_dim, model.intermediate_dim, model.num_layers
    K = getattr(model, "reasoning_steps", 0) if steps is None else steps
    per_token = 4 * d * d + 2 * d * inner  # q, k, v, o + FFN
    full_block = length * per_token + 2 * length * length * d
    last_block = length * 2 * d * d + per_token - 2 * d * d + 2 * length * d
    items = (layers - 1) * full_block + last_block
    reasoning = layers * sum(per_token + 2 * (length + s) * d for s in range(1, K + 1))
    return 2 * (items + reasoning)


def inference_flops(model, length, num_items, steps):
    """FLOPs of scoring one user at `steps` reasoning steps: the encoder plus
    one catalog product (`num_items + 1` columns)."""
    return encoder_flops(model, length, steps) + 2 * (num_items + 1) * model.hidden_dim
