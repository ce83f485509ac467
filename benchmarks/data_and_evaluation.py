"""Speed of the foundation pieces, as ratios measured in one run.

1. Ranking: our count-based `target_ranks` vs `keras_rs.metrics.NDCG`
   (which sorts the catalog and needs dense one-hot labels), same scores,
   catalogs of 1,682 (ml-100k) and 100,000 items. Both give the same NDCG.
2. Input pipeline: examples/s of `SplitPart.as_dataset` (index shuffle +
   batched gather) vs `from_tensor_slices(...).shuffle(n).batch(...)`, and
   vs the examples/s of a SASRec-sized step it must feed (a transformer
   block with d=64, L=50 over ml-100k's 1,682 items).

Run: python benchmarks/data_and_evaluation.py
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import keras_rs  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from rearec_keras import data  # noqa: E402
from rearec_keras.datasets import load_movielens  # noqa: E402
from rearec_keras.evaluation import ranking_metrics  # noqa: E402
from rearec_keras.evaluation import target_ranks  # noqa: E402


def best_of(fn, repeats=3):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def ranking_benchmark(num_items, batch=256):
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((batch, num_items + 1)).astype(np.float32)
    targets = rng.integers(1, num_items + 1, size=batch).astype(np.int32)
    # Plant a signal so that NDCG is far from 0 and the agreement means something.
    scores[np.arange(batch), targets] += rng.uniform(2.0, 4.5, size=batch).astype(np.float32)
    labels = np.zeros((batch, num_items), np.float32)
    labels[np.arange(batch), targets - 1] = 1.0
    rank_fn = tf.function(lambda s, t: target_ranks(s, t))
    ours = best_of(lambda: rank_fn(scores, targets).numpy())

    def keras_rs_ndcg():
        metric = keras_rs.metrics.NDCG(k=10, shuffle_ties=False)
        metric.update_state(labels, scores[:, 1:])
        return float(metric.result())

    theirs = best_of(keras_rs_ndcg)
    ndcg_ours = ranking_metrics(np.asarray(rank_fn(scores, targets)), ks=(10,))["ndcg@10"]
    print(
        f"ranking {num_items:>7,} items, batch {batch}: ours {ours * 1e3:8.1f} ms, "
        f"keras_rs.NDCG {theirs * 1e3:8.1f} ms, ratio {theirs / ours:6.1f}x; "
        f"NDCG@10 ours {ndcg_ours:.4f} vs keras-rs {keras_rs_ndcg():.4f}"
    )


def pipeline_benchmark():
    split = data.leave_one_out(load_movielens("ml-100k"), max_length=50)
    part = split.train
    n = len(part)

    def epoch(ds):
        for _ in ds:
            pass

    ours = best_of(lambda: epoch(part.as_dataset(256, shuffle=True, seed=0)))
    slices = tf.data.Dataset.from_tensor_slices((part.histories, part.targets))
    baseline = best_of(
        lambda: epoch(slices.shuffle(n, seed=0).batch(256).prefetch(tf.data.AUTOTUNE))
    )
    print(
        f"pipeline: as_dataset {n / ours:,.0f} ex/s, from_tensor_slices+shuffle "
        f"{n / baseline:,.0f} ex/s (ratio {baseline / ours:.1f}x)"
    )

    # A SASRec-sized forward/backward step to compare against.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((50,), dtype="int32")
    x = keras.layers.Embedding(split.num_items + 1, 64)(inputs)
    attn = keras.layers.MultiHeadAttention(2, 32)(x, x, use_causal_mask=True)
    x = keras.layers.LayerNormalization()(x + attn)
    x = keras.layers.LayerNormalization()(x + keras.layers.Dense(64)(keras.layers.Dense(256, "gelu")(x)))
    logits = keras.layers.Dense(split.num_items + 1)(x[:, -1])
    model = keras.Model(inputs, logits)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    sub = part.subset(np.arange(256 * 40))
    ds = sub.as_dataset(256, shuffle=True, seed=0)
    model.fit(ds, epochs=1, verbose=0, shuffle=False)  # warm-up / trace
    t = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0, shuffle=False)
    model_rate = len(sub) / (time.perf_counter() - t)
    print(
        f"model step (1 block, d=64, L=50): {model_rate:,.0f} ex/s -> the pipeline is "
        f"{(n / ours) / model_rate:,.0f}x faster than the model it feeds"
    )


if __name__ == "__main__":
    for items in (1_682, 100_000):
        ranking_benchmark(items)
    pipeline_benchmark()
