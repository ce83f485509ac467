"""LARES (SPT, then filter + RPT) next to SASRec and ReaSASRec-ERL/PRL on
ml-100k leave-one-out, full ranking, one script, one budget for all.

Prints, measured in this run:
- training examples/s of each model relative to SASRec, LARES' RPT phase
  included (SPT runs three forward passes per batch at sampled depths, RPT
  G rollouts plus G reference passes, as released), interleaved rounds, and
  two rows that show where SPT's time goes: SPT at a fixed depth k̄, and one
  pass at k̄ without the alignment terms (2 + 2k̄ layers over every
  position: the arithmetic a single LARES forward needs);
- inference cost of LARES at depth k̄ relative to SASRec (batched
  full-catalog scoring of the test users);
- with `--epochs E > 0`: every model trained E epochs (the best validation
  epoch, N@20, tested), the validation N@20 of every epoch (is a model still
  learning when the budget ends?), LARES' RPT for `--rpt-epochs` epochs on
  the filtered rows from SPT's best epoch, each LARES variant's test-time
  depth sweep k in {1, 2, 4, 8, 12, 16} (same weights), and test
  N@10/N@20/R@10/R@20 of each.

    python benchmarks/lares.py --batches 20                      # speed only
    python benchmarks/lares.py --epochs 8 --rpt-epochs 2 --subset 30000 \\
        --max-length 20 --lares-dropouts 0.5,0.2                 # + quality

LARES variants: `--lares-dropouts` (the released 0.5 and others) and
`--lares-state-inits` (`normal` as released; `normal_zero` scores without
noise). RPT runs on the first variant. `--seeds 0,1,2` repeats the quality
part per seed (mean and per-seed values).
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
from rearec_keras.methods.lares import filter_training_rows  # noqa: E402
from rearec_keras.models import ReaSASRec  # noqa: E402
from rearec_keras.models import SASRec  # noqa: E402

DEPTHS = (1, 2, 4, 8, 12, 16)
METRICS = ("ndcg@10", "ndcg@20", "recall@10", "recall@20")


def make(name, num_items, args, seed=0, dropout=None, state_init="normal", **lares):
    keras.utils.set_random_seed(seed)
    common = dict(hidden_dim=args.dim, max_length=args.max_length)
    if name == "SASRec":
        model = SASRec(num_items, **common)
    elif name.startswith("ReaSASRec"):
        model = ReaSASRec(num_items, learning=name.split()[1].lower(), **common)
    else:
        extra = {} if dropout is None else dict(dropout=dropout, attention_dropout=dropout)
        model = LARES(num_items, state_init=state_init, rpt=True, **extra, **lares, **common)
        model.set_phase("spt", pin=True)
    model.build((None, args.max_length))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def batches(model, part, batch_size, seed=0):
    if isinstance(model, LARES):
        return PositiveBatches(part, batch_size, shuffle=True, seed=seed)
    return part.as_dataset(batch_size, shuffle=True, seed=seed)


def valid_ndcg20(model, split):
    return rearec_keras.evaluate(model, split.valid, ks=(20,), metrics=("ndcg",))["ndcg@20"]


def train(model, part, split, epochs, batch_size, seed, curve):
    """`epochs` epochs, the best validation epoch's weights restored;
    returns (examples/s of the fits after the first, best validation N@20)."""
    best, best_weights, seconds = -1.0, None, 0.0
    for epoch in range(epochs):
        start = time.perf_counter()
        # initial_epoch: the model's phases (PRL's noise warm-up, DTRec's
        # prototype warm-up) follow the epoch number.
        model.fit(batches(model, part, batch_size, seed=seed * 1000 + epoch),
                  initial_epoch=epoch, epochs=epoch + 1, verbose=0, shuffle=False)
        if epoch > 0 or epochs == 1:  # the first epoch traces (unless it is the only one)
            seconds += time.perf_counter() - start
        valid = valid_ndcg20(model, split)
        curve.append(valid)
        if valid > best:
            best, best_weights = valid, model.get_weights()
    model.set_weights(best_weights)
    return max(epochs - 1, 1) * len(part.targets) / seconds, best


def test_row(model, split):
    res = rearec_keras.evaluate(model, split.test, ks=(10, 20))
    return [res[m] for m in METRICS]


def depth_sweep(model, split):
    out = []
    for k in DEPTHS:
        res = rearec_keras.evaluate(model, split.test, ks=(10,), metrics=("ndcg",),
                                    score_fn=lambda m, h, k=k: m.score(h, steps=k))
        out.append(res["ndcg@10"])
    return out


def speed(split, args):
    n = args.batches * args.batch_size
    timed = split.train.subset(np.arange(n))
    zoo = {name: make(name, split.num_items, args)
           for name in ("SASRec", "ReaSASRec ERL", "ReaSASRec PRL", "LARES SPT")}
    rpt = make("LARES", split.num_items, args)
    rpt.set_phase("rpt", pin=True)
    zoo["LARES RPT"] = rpt
    # Where SPT's time goes: its three passes at sampled depths against one
    # pass at the fixed depth k̄ (2 + 2k̄ layers over every position).
    zoo["LARES SPT, depth fixed at k̄"] = make("LARES", split.num_items, args,
                                               depth_sampler="constant")
    zoo["LARES, one pass at k̄ (no alignment)"] = make(
        "LARES", split.num_items, args, depth_sampler="constant", trajectory_weight=0.0,
        step_weight=0.0)
    print(f"backend={keras.backend.backend()}, d={args.dim}, max_length={args.max_length}, "
          f"batch {args.batch_size}, {args.batches} batches per timing, {args.rounds} rounds")
    for model in zoo.values():  # untimed: tracing and warm-up
        model.fit(batches(model, timed, args.batch_size), epochs=1, verbose=0, shuffle=False)
    cpu = {name: [] for name in zoo}

    def fit(name, model):
        # CPU time too: Keras' adapter for a PyDataset (LARES' batches) can
        # leave the process idle for a while around each fit.
        start = time.process_time()
        model.fit(batches(model, timed, args.batch_size), epochs=1, verbose=0, shuffle=False)
        cpu[name].append(time.process_time() - start)

    train_s = interleaved_medians(
        {name: (lambda name=name, m=m: fit(name, m)) for name, m in zoo.items()}, args.rounds)
    cpu_s = {name: float(np.median(t)) for name, t in cpu.items()}
    histories = split.test.histories
    for model in zoo.values():
        model.predict(histories[:512], batch_size=512, verbose=0)
    infer = interleaved_medians(
        {name: (lambda m=m: m.predict(histories, batch_size=512, verbose=0))
         for name, m in zoo.items() if not name.startswith("LARES") or name == "LARES SPT"},
        args.rounds)
    print("| model | train examples/s | vs SASRec | per CPU-second | vs SASRec | test scoring s "
          "| vs SASRec |")
    print("|---|---|---|---|---|---|---|")
    for name in zoo:
        rate, per_cpu = n / train_s[name], n / cpu_s[name]
        cost = (f"{infer[name]:.3f} | {infer[name] / infer['SASRec']:.2f}x" if name in infer
                else "(as SPT) |")
        print(f"| {name} | {rate:,.0f} | {rate / (n / train_s['SASRec']):.2f}x | {per_cpu:,.0f} "
              f"| {per_cpu / (n / cpu_s['SASRec']):.2f}x | {cost} |", flush=True)


def quality(split, args, seed):
    part = split.train if args.subset is None else split.train.subset(np.arange(args.subset))
    rows, curves, rates = {}, {}, {}
    for name in args.baselines:
        model = make(name, split.num_items, args, seed)
        curves[name] = []
        rates[name], _ = train(model, part, split, args.epochs, args.batch_size, seed,
                               curves[name])
        rows[name] = test_row(model, split)
        print(f"  seed {seed} {name}: {rows[name]}", flush=True)
    sweeps = {}
    first = True
    for init in args.lares_state_inits:
        for dropout in args.lares_dropouts:
            name = f"LARES SPT (dropout {dropout}, T_0 {init})"
            model = make("LARES", split.num_items, args, seed, dropout=dropout, state_init=init)
            curves[name] = []
            rates[name], _ = train(model, part, split, args.epochs, args.batch_size, seed,
                                   curves[name])
            rows[name] = test_row(model, split)
            sweeps[name] = depth_sweep(model, split)
            print(f"  seed {seed} {name}: {rows[name]}", flush=True)
            if first and args.rpt_epochs > 0:
                first = False
                kept, record = filter_training_rows(model, part)
                print(f"  RPT filter: {record['kept']:,} of {record['rows']:,} rows kept "
                      f"(top {record['top_k']}, {record['passes']} passes)", flush=True)
                model.set_phase("rpt", pin=True)  # frozen reference = SPT's best weights
                rpt_name = name.replace("SPT", "SPT + RPT")
                curves[rpt_name] = []
                rates[rpt_name], _ = train(model, part.subset(kept), split, args.rpt_epochs,
                                           args.batch_size, seed, curves[rpt_name])
                rows[rpt_name] = test_row(model, split)
                sweeps[rpt_name] = depth_sweep(model, split)
                print(f"  seed {seed} {rpt_name}: {rows[rpt_name]}", flush=True)
    return rows, curves, rates, sweeps


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", type=int, default=20, help="training batches timed per model")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--max-length", type=int, default=50,
                   help="history length of every model (LARES' released runs: 20)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--no-speed", action="store_true", help="skip the speed table")
    p.add_argument("--epochs", type=int, default=0, help="quality budget (0: speed only)")
    p.add_argument("--rpt-epochs", type=int, default=0, help="LARES RPT epochs after SPT")
    p.add_argument("--subset", type=int, default=None,
                   help="train on the first N training rows (quality budget)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds of the quality part")
    p.add_argument("--baselines", default="SASRec,ReaSASRec ERL,ReaSASRec PRL",
                   help="the non-LARES models of the quality part (SASRec is always first)")
    p.add_argument("--lares-dropouts", default="0.5",
                   help="LARES SPT variants' dropout (the released: 0.5)")
    p.add_argument("--lares-state-inits", default="normal",
                   help="LARES SPT variants' T_0 (normal as released, normal_zero, zero)")
    args = p.parse_args()
    args.lares_dropouts = [float(v) for v in args.lares_dropouts.split(",")]
    args.lares_state_inits = args.lares_state_inits.split(",")
    args.baselines = ["SASRec"] + [b for b in args.baselines.split(",") if b and b != "SASRec"]

    split = data.leave_one_out(load_movielens("ml-100k"), max_length=args.max_length)
    if not args.no_speed:
        speed(split, args)
    if args.epochs <= 0:
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = len(split.train.targets) if args.subset is None else args.subset
    print(f"\nquality: {args.epochs} epochs on {rows:,} training rows (RPT: "
          f"{args.rpt_epochs} more on the filtered rows), max_length {args.max_length}, "
          f"best validation epoch (N@20) tested, seeds {seeds}", flush=True)
    results = [quality(split, args, seed) for seed in seeds]
    names = list(results[0][0])
    print("\n| model | N@10 | N@20 | R@10 | R@20 | train examples/s | vs SASRec |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        mean = np.mean([r[0][name] for r in results], axis=0)
        rate = np.mean([r[2][name] for r in results])
        base = np.mean([r[2]["SASRec"] for r in results])
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in mean)
              + f" | {rate:,.0f} | {rate / base:.2f}x |")
    if len(seeds) > 1:
        print("\nper seed, N@10: " + "; ".join(
            f"{name}: " + ", ".join(f"{r[0][name][0]:.4f}" for r in results) for name in names))
    print("\nvalidation N@20 per epoch (seed %d):" % seeds[0])
    for name, curve in results[0][1].items():
        print(f"  {name}: " + " ".join(f"{v:.4f}" for v in curve))
    print("\ntest-time depth sweep, test N@10 (seed %d), k = %s:" % (seeds[0], DEPTHS))
    for name, sweep in results[0][3].items():
        print(f"  {name}: " + " ".join(f"{v:.4f}" for v in sweep))


if __name__ == "__main__":
    main()
