"""Serving latency: the exported SavedModel's `top_k` vs eager `recommend`.

ReaSASRec at d=64 (2 layers, L=50) over an ml-100k-sized catalog (1,682
items), random weights, K = 0 and K = 2. Each model is exported with
`export_serving`, read back with `tf.saved_model.load` and timed on
`top_k(histories, k)` at batch 1 and 256; `model.recommend` (eager Keras:
numpy checks, one encoder pass, numpy top-k) is timed on the same batches.
Calls are interleaved round-robin (see `_timing.py`), so slow drifts of the
machine hit every column alike. Prints p50 / p99 in milliseconds and the
ratio of the medians.

    python benchmarks/serving_latency.py [--rounds 200] [--k 10]
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _timing import interleaved_samples  # noqa: E402
from rearec_keras.models import ReaSASRec  # noqa: E402
from rearec_keras.models import SASRec  # noqa: E402
from rearec_keras.serving import export_serving  # noqa: E402

NUM_ITEMS = 1682  # ml-100k
MAX_LENGTH = 50


def random_histories(batch, rng):
    """Left-padded histories of uniform random length 1..MAX_LENGTH."""
    out = np.zeros((batch, MAX_LENGTH), np.int32)
    for row in range(batch):
        n = int(rng.integers(1, MAX_LENGTH + 1))
        out[row, -n:] = rng.integers(1, NUM_ITEMS + 1, size=n)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden-dim", type=int, default=64)
    p.add_argument("--rounds", type=int, default=200, help="timed calls per cell at batch 1")
    p.add_argument("--rounds-large", type=int, default=40, help="timed calls per cell at batch 256")
    p.add_argument("--k", type=int, default=10)
    args = p.parse_args()

    rng = np.random.default_rng(0)
    batches = {1: random_histories(1, rng), 256: random_histories(256, rng)}
    keras.utils.set_random_seed(0)
    models = {
        0: SASRec(NUM_ITEMS, max_length=MAX_LENGTH, hidden_dim=args.hidden_dim),
        2: ReaSASRec(NUM_ITEMS, max_length=MAX_LENGTH, hidden_dim=args.hidden_dim,
                     reasoning_steps=2, learning="prl"),
    }
    print(f"backend={keras.backend.backend()}, d={args.hidden_dim}, {NUM_ITEMS} items, L={MAX_LENGTH}, "
          f"k={args.k}; {args.rounds} (batch 1) / {args.rounds_large} (batch 256) interleaved rounds")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        loaded = {}
        for K, model in models.items():
            model.build((None, MAX_LENGTH))
            export_serving(model, os.path.join(tmp, f"k{K}"))
            loaded[K] = tf.saved_model.load(os.path.join(tmp, f"k{K}"))
        k = tf.constant(args.k, tf.int32)
        for batch, histories in batches.items():
            h = tf.constant(histories)
            calls = {}
            for K, model in models.items():
                calls[("savedmodel", K)] = (
                    lambda fn=loaded[K].top_k: fn(h, k)["ids"].numpy())
                calls[("recommend", K)] = (
                    lambda m=model: m.recommend(histories, k=args.k))
            # Same answers, then warm up (first calls build graphs and caches).
            for K, model in models.items():
                same = np.mean(calls[("savedmodel", K)]() == calls[("recommend", K)]()[0])
                print(f"K={K}, batch {batch}: top-k ids equal to recommend's: {100 * same:.1f}%")
            for call in calls.values():
                for _ in range(3):
                    call()
            samples = interleaved_samples(calls, args.rounds if batch == 1 else args.rounds_large)
            for K in models:
                s, r = samples[("savedmodel", K)] * 1e3, samples[("recommend", K)] * 1e3
                rows.append((K, batch, np.median(s), np.percentile(s, 99), np.median(r),
                             np.percentile(r, 99)))
    print("| K | batch | SavedModel top_k p50 (ms) | p99 (ms) | Keras recommend p50 (ms) | p99 (ms) "
          "| recommend / SavedModel (p50) |")
    print("|---|---|---|---|---|---|---|")
    for K, batch, s50, s99, r50, r99 in sorted(rows):
        print(f"| {K} | {batch} | {s50:.2f} | {s99:.2f} | {r50:.2f} | {r99:.2f} | {r50 / s50:.1f}x |")


if __name__ == "__main__":
    main()
