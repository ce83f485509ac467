"""Training throughput on ml-100k and achieved FLOP rate vs a matmul peak.

For d = 64 and 256, trains SASRec (K=0), ReaSASRec-ERL (K=2) and
ReaSASRec-PRL (K=2, noisy twin on) for a fixed number of batches and reports
examples/s and each model's ratio to SASRec's (issue 19's targets: ERL >=
0.8x, PRL >= 0.45x). The ratio is taken within each round of the interleaved
timing and printed as the median over rounds with its range, and how many
rounds met the target. The forward FLOPs per example are counted
analytically (projections, FFN, attention over the prefix, one cached row
per reasoning step, catalog logits; PRL's twin doubles the encoder part); a
training step is taken as 3x the forward pass. The matmul peak is a float32
2048x2048 matmul timed in the same run, so the fraction is machine-relative.

    python benchmarks/training_throughput.py [--batches 30] [--batch-size 256]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from _timing import encoder_flops  # noqa: E402
from _timing import interleaved_samples  # noqa: E402
from _timing import round_ratios  # noqa: E402
from rearec_keras import data  # noqa: E402
from rearec_keras.data.pipeline import make_dataset  # noqa: E402
from rearec_keras.datasets import load_movielens  # noqa: E402
from rearec_keras.models import ReaSASRec  # noqa: E402
from rearec_keras.models import SASRec  # noqa: E402


ERL = "ReaSASRec ERL K=2"
PRL = "ReaSASRec PRL K=2 (twin on)"
# Issue 19's targets, as examples/s relative to SASRec in the same round.
TARGETS = {ERL: 0.8, PRL: 0.45}


def forward_flops(model, length, num_items):
    """Analytic forward FLOPs (2 x multiply-adds) of one training example."""
    encoder = encoder_flops(model, length)
    if model.uses_noise:
        encoder *= 2  # the noisy twin runs the whole encoder again
    K = getattr(model, "reasoning_steps", 0)
    # Every step is scored (ERL's pooled scores are the mean of the steps').
    logit_rows = 1 if K == 0 else K + 1
    return encoder + 2 * logit_rows * (num_items + 1) * model.hidden_dim


def matmul_peak(size=2048, repeats=10):
    a = keras.random.normal((size, size))
    b = keras.random.normal((size, size))
    ops.convert_to_numpy(ops.matmul(a, b))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ops.convert_to_numpy(ops.matmul(a, b))
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--dims", default="64,256")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    split = data.leave_one_out(load_movielens("ml-100k"), max_length=50)
    n = args.batches * args.batch_size
    x, y = split.train.histories[:n], split.train.targets[:n]
    # The library's own input pipeline (what `rearec-keras train` feeds),
    # in a fixed order.
    batches = make_dataset(x, y, batch_size=args.batch_size)
    peak = matmul_peak()
    print(f"backend={keras.backend.backend()}; float32 2048^3 matmul peak: {peak / 1e9:.0f} GFLOP/s")
    print("| d | model | examples/s | vs SASRec: median of per-round ratios [range] | GFLOP/s "
          "| of peak |")
    print("|---|---|---|---|---|---|")
    for d in [int(v) for v in args.dims.split(",")]:
        models = {}
        for name, cls, kwargs in (
            ("SASRec", SASRec, {}),
            (ERL, ReaSASRec, {"learning": "erl"}),
            (PRL, ReaSASRec,
             {"learning": "prl", "noise_warmup_epochs": 0}),
        ):
            keras.utils.set_random_seed(0)
            model = cls(split.num_items, hidden_dim=d, **kwargs)
            model.compile(optimizer="adam")
            # One untimed epoch: tracing, allocation and oneDNN warm-up.
            model.fit(batches, epochs=1, verbose=0)
            assert model.noise_active == model.uses_noise
            models[name] = model
        # Each model trains one epoch per round, round-robin.
        samples = interleaved_samples(
            {name: (lambda m=model: m.fit(batches, epochs=1, verbose=0))
             for name, model in models.items()},
            args.rounds,
        )
        ratios = round_ratios(samples, "SASRec")
        for name, model in models.items():
            rate = n / float(np.median(samples[name]))
            flops = 3 * forward_flops(model, 50, split.num_items) * rate
            r = ratios[name]
            target = TARGETS.get(name)
            verdict = "" if target is None else (
                f" (target >= {target}x: met in {int(np.sum(r >= target))} of {len(r)} rounds)")
            print(f"| {d} | {name} | {rate:,.0f} | {np.median(r):.3f}x [{r.min():.3f}–{r.max():.3f}]"
                  f"{verdict} | {flops / 1e9:.1f} | {flops / peak:.1%} |", flush=True)


if __name__ == "__main__":
    main()
