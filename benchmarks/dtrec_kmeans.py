"""DTRec's reclustering at a large catalog against the epoch it runs in.

Builds a DTRec over `--items` items (default 100,000; K = 3, so the levels
below the items are the geometric schedule's, e.g. 16 / 295 / 5,429
prototypes), times its K-means at the start of training (K-means++ seeding,
cold) and at a later epoch (warm start from the last centroids, after a
small change of the table, as training makes), and times DTRec's training
steps (batch 256, full softmax over the catalog) to put the reclustering
next to an epoch of `--rows` training rows:

    python benchmarks/dtrec_kmeans.py --items 100000 --rows 1000000

Prints the seconds of each level, the seconds per training row, and the
ratio `reclustering / epoch`. The epoch is extrapolated from `--batches`
timed batches (an epoch of a million rows at this catalog is hours on a
CPU); the reclustering is measured whole.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from rearec_keras import DTRec  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="training rows of the epoch the reclustering is compared with")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=6, help="timed training batches")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    model = DTRec(args.items, hidden_dim=args.dim, max_length=args.max_length)
    model.build((None, args.max_length))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    method = model.method
    print(f"{args.items:,} items, d={args.dim}, prototype levels {method.sizes}")
    print(f"settings: kmeans_iterations={method.kmeans_iterations}, kmeans_tolerance="
          f"{method.kmeans_tolerance}, kmeans_seeding_sample={method.kmeans_seeding_sample}")

    start = time.perf_counter()
    runs = method.recluster(model, seed=0)
    cold = time.perf_counter() - start
    table = model.item_embedding.embeddings
    noise = np.random.default_rng(1).normal(scale=0.01, size=tuple(table.shape))
    table.assign(keras.ops.convert_to_numpy(table) + noise.astype("float32"))
    start = time.perf_counter()
    warm_runs = method.recluster(model, seed=1)
    warm = time.perf_counter() - start
    print(f"reclustering: cold {cold:.1f} s (Lloyd iterations per level {runs}), "
          f"warm {warm:.1f} s ({warm_runs})")

    rng = np.random.default_rng(0)
    n = args.batch_size * (args.batches + 1)
    x = rng.integers(1, args.items + 1, size=(n, args.max_length)).astype("int32")
    y = rng.integers(1, args.items + 1, size=(n,)).astype("int32")
    model.fit(x[:args.batch_size], y[:args.batch_size], batch_size=args.batch_size,
              epochs=1, verbose=0)  # compiles
    start = time.perf_counter()
    model.fit(x[args.batch_size:], y[args.batch_size:], batch_size=args.batch_size, epochs=1,
              verbose=0)
    per_row = (time.perf_counter() - start) / (n - args.batch_size)
    epoch = per_row * args.rows
    print(f"training: {1e3 * per_row:.2f} ms per row -> an epoch of {args.rows:,} rows "
          f"≈ {epoch / 60:.1f} min")
    print(f"reclustering / epoch: warm {warm / epoch:.2%}, cold {cold / epoch:.2%}")
    return {"cold": cold, "warm": warm, "epoch": epoch}


if __name__ == "__main__":
    main()
