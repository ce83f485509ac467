"""DTRec (HPS + learned halting) and its ablations next to SASRec and
ReaSASRec-ERL/PRL on ml-100k leave-one-out, full ranking, one budget for all
(the LARES comparison's: `benchmarks/lares.py`), plus per-user KL halting
applied to the trained PRL.

Prints test N@10/N@20/R@10/R@20, the mean reasoning steps per user, and the
wall-clock of halting inference relative to the same eager loop run to
fixed depth (and to the compiled fixed-depth `score`).

    python benchmarks/dtrec.py --epochs 8 --subset 20000 --max-length 20
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from lares import METRICS  # noqa: E402
from lares import make as make_baseline  # noqa: E402
from lares import test_row  # noqa: E402
from lares import train  # noqa: E402
from rearec_keras import DTRec  # noqa: E402
from rearec_keras import data  # noqa: E402
from rearec_keras import halting  # noqa: E402
from rearec_keras.datasets import load_movielens  # noqa: E402
from rearec_keras.evaluation import ranking_metrics  # noqa: E402
from rearec_keras.evaluation import target_ranks  # noqa: E402

NEVER = {"threshold": -1.0}
VARIANTS = {
    "DTRec (HPS + learned halting)": {},
    "DTRec without ARH (fixed depth)": {"halting_head": False},
    "DTRec without HPS (item CE + halting)": {"hps_weight": 0.0},
}


def make(name, num_items, args, seed):
    if name not in VARIANTS:  # SASRec, ReaSASRec ERL / PRL: as in the LARES comparison
        return make_baseline(name, num_items, args, seed)
    keras.utils.set_random_seed(seed)
    model = DTRec(num_items, **VARIANTS[name], hidden_dim=args.dim, max_length=args.max_length)
    model.build((None, args.max_length))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def halting_row(model, part, mode, thresholds, batch_size=512):
    """Metrics, mean steps and seconds of halting vs the eager loop at fixed
    depth vs the compiled `score`."""
    h, y = part.histories, part.targets
    start = time.perf_counter()
    model.score(h, batch_size=batch_size)
    compiled = time.perf_counter() - start
    start = time.perf_counter()
    model.score_with_halting(h, "kl", NEVER, batch_size=batch_size)
    eager_fixed = time.perf_counter() - start
    start = time.perf_counter()
    scores, steps = model.score_with_halting(h, mode, thresholds, batch_size=batch_size)
    seconds = time.perf_counter() - start
    metrics = ranking_metrics(target_ranks(scores, y), ks=(10, 20))
    return [metrics[m] for m in METRICS], float(steps.mean()), seconds / eager_fixed, \
        seconds / compiled


def kl_threshold_on_validation(model, split):
    """The KL threshold with the fewest mean steps whose validation N@20 is
    at least fixed depth's (quantiles of the observed KL)."""
    h, y = split.valid.histories, split.valid.targets
    signals = halting.halting_signals(model.step_scores(h), model.reasoning_states(h))
    kl = np.asarray(keras.ops.convert_to_numpy(signals["kl"])).ravel()
    fixed = ranking_metrics(target_ranks(model.score(h), y), ks=(20,))["ndcg@20"]
    best = (model.reasoning_steps, -1.0)
    for threshold in np.quantile(kl, np.linspace(0.05, 0.95, 19)):
        scores, steps = model.score_with_halting(h, "kl", {"threshold": float(threshold)})
        ndcg = ranking_metrics(target_ranks(scores, y), ks=(20,))["ndcg@20"]
        if ndcg >= fixed and steps.mean() < best[0]:
            best = (float(steps.mean()), float(threshold))
    return best[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--max-length", type=int, default=20)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--subset", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    split = data.leave_one_out(load_movielens("ml-100k"), max_length=args.max_length)
    part = split.train if not args.subset else split.train.subset(np.arange(args.subset))
    print(f"{args.epochs} epochs on {len(part.targets):,} training rows, history "
          f"{args.max_length}, d={args.dim}, best validation epoch (N@20) tested, seed "
          f"{args.seed}", flush=True)
    rows, trained = {}, {}
    for name in ("SASRec", "ReaSASRec ERL", "ReaSASRec PRL", *VARIANTS):
        model = make(name, split.num_items, args, args.seed)
        curve = []
        rate, _ = train(model, part, split, args.epochs, args.batch_size, args.seed, curve)
        depth = getattr(model, "reasoning_steps", 0)
        rows[name] = (test_row(model, split), float(depth), None, None, rate)
        trained[name] = model
        print(f"  {name}: {rows[name][0]} (valid N@20 per epoch {curve})", flush=True)
        if name in VARIANTS and model.method.halting_head:
            metrics, steps, vs_eager, vs_compiled = halting_row(
                model, split.test, "learned", {"threshold": 0.5})
            rows[name + ", halting at λ >= 0.5"] = (metrics, steps, vs_eager, vs_compiled, rate)
    prl = trained["ReaSASRec PRL"]
    threshold = kl_threshold_on_validation(prl, split)
    metrics, steps, vs_eager, vs_compiled = halting_row(prl, split.test, "kl",
                                                        {"threshold": threshold})
    rows[f"ReaSASRec PRL + KL halting (θ = {threshold:.4g}, chosen on validation)"] = (
        metrics, steps, vs_eager, vs_compiled, rows["ReaSASRec PRL"][4])
    print("\n| model | N@10 | N@20 | R@10 | R@20 | mean steps | halting time vs eager fixed "
          "depth | vs compiled fixed depth | train examples/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (metrics, steps, vs_eager, vs_compiled, rate) in rows.items():
        timing = (f"{vs_eager:.2f}x | {vs_compiled:.2f}x" if vs_eager is not None else "– | –")
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in metrics)
              + f" | {steps:.2f} | {timing} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
