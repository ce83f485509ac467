"""LARES (SPT) next to SASRec and ReaSASRec-ERL/PRL on ml-100k, one script.

Prints, measured in this run:
- training examples/s of each model relative to SASRec (LARES SPT runs three
  forward passes per batch at sampled depths, as released);
- inference cost of LARES at depth k̄ relative to SASRec (batched
  full-catalog scoring of the test users);
- with `--epochs E > 0`: test N@10/N@20/R@10/R@20 after E epochs (best
  validation epoch) for every model, and LARES' test-time depth sweep
  k in {1, 2, 4, 8, 12, 16} (same weights).

    python benchmarks/lares.py --batches 20            # speed only
    python benchmarks/lares.py --epochs 10 --subset 20000  # + quality on a budget
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from _timing import interleaved_medians  # noqa: E402
import rearec_keras  # noqa: E402
from rearec_keras import LARES  # noqa: E402
from rearec_keras import data  # noqa: E402
from rearec_keras.data.batches import PositiveBatches  # noqa: E402
from rearec_keras.datasets import load_movielens  # noqa: E402
from rearec_keras.models import ReaSASRec  # noqa: E402
from rearec_keras.models import SASRec  # noqa: E402

DEPTHS = (1, 2, 4, 8, 12, 16)


def models(num_items, d):
    keras.utils.set_random_seed(0)
    out = {
        "SASRec": SASRec(num_items, hidden_dim=d),
        "ReaSASRec ERL K=2": ReaSASRec(num_items, hidden_dim=d, learning="erl"),
        "ReaSASRec PRL K=2": ReaSASRec(num_items, hidden_dim=d, learning="prl"),
        "LARES SPT (k̄=4)": LARES(num_items, hidden_dim=d),
    }
    for model in out.values():
        model.build((None, 50))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return out


def batches(name, part, batch_size, seed=0):
    if name.startswith("LARES"):
        return PositiveBatches(part, batch_size, shuffle=True, seed=seed)
    return part.as_dataset(batch_size, shuffle=True, seed=seed)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", type=int, default=20, help="training batches timed per model")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=0, help="quality budget (0: speed only)")
    p.add_argument("--subset", type=int, default=None,
                   help="train on the first N training rows (quality budget)")
    args = p.parse_args()

    split = data.leave_one_out(load_movielens("ml-100k"), max_length=50)
    n = args.batches * args.batch_size
    timed = split.train.subset(np.arange(n))
    zoo = models(split.num_items, args.dim)
    print(f"backend={keras.backend.backend()}, d={args.dim}, batch {args.batch_size}, "
          f"{args.batches} batches per timing, {args.rounds} rounds")
    for name, model in zoo.items():  # untimed: tracing and warm-up
        model.fit(batches(name, timed, args.batch_size), epochs=1, verbose=0, shuffle=False)
    train = interleaved_medians(
        {name: (lambda m=m, name=name: m.fit(batches(name, timed, args.batch_size), epochs=1,
                                              verbose=0, shuffle=False))
         for name, m in zoo.items()}, args.rounds)
    histories = split.test.histories
    for model in zoo.values():
        model.predict(histories[:512], batch_size=512, verbose=0)
    infer = interleaved_medians(
        {name: (lambda m=m: m.predict(histories, batch_size=512, verbose=0))
         for name, m in zoo.items()}, args.rounds)
    print("| model | train examples/s | vs SASRec | test scoring s | vs SASRec |")
    print("|---|---|---|---|---|")
    for name in zoo:
        rate = n / train[name]
        print(f"| {name} | {rate:,.0f} | {rate / (n / train['SASRec']):.2f}x | "
              f"{infer[name]:.3f} | {infer[name] / infer['SASRec']:.2f}x |", flush=True)
    if args.epochs <= 0:
        return
    part = split.train if args.subset is None else split.train.subset(np.arange(args.subset))
    print(f"\nquality: {args.epochs} epochs on {len(part):,} training rows, best validation "
          "epoch (N@20) tested")
    print("| model | N@10 | N@20 | R@10 | R@20 |")
    print("|---|---|---|---|---|")
    for name, model in models(split.num_items, args.dim).items():
        best, best_weights = -1.0, None
        for epoch in range(args.epochs):
            model.fit(batches(name, part, args.batch_size, seed=epoch), epochs=1, verbose=0)
            valid = rearec_keras.evaluate(model, split.valid, ks=(20,))["ndcg@20"]
            if valid > best:
                best, best_weights = valid, model.get_weights()
        model.set_weights(best_weights)
        test = rearec_keras.evaluate(model, split.test, ks=(10, 20))
        print(f"| {name} | {test['ndcg@10']:.4f} | {test['ndcg@20']:.4f} | "
              f"{test['recall@10']:.4f} | {test['recall@20']:.4f} |", flush=True)
        if name.startswith("LARES"):
            sweep = []
            for k in DEPTHS:
                start = time.perf_counter()
                res = rearec_keras.evaluate(
                    model, split.test, ks=(10,),
                    score_fn=lambda m, h, k=k: m.score(h, steps=k))
                sweep.append(f"k={k}: N@10 {res['ndcg@10']:.4f} "
                             f"({time.perf_counter() - start:.1f} s)")
            lares_sweep = "; ".join(sweep)
    if args.epochs > 0:
        print(f"\nLARES test-time depth sweep: {lares_sweep}")


if __name__ == "__main__":
    main()
