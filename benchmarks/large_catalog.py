"""Full vs sampled softmax on synthetic catalogs of 10k, 100k and 1M items.

Each (catalog, softmax) cell trains ReaSASRec (d=64, L=50, 2 layers, K=2,
ERL by default) in its own process on synthetic Zipf-distributed histories
and reports training examples/s (timed after a warm-up epoch that traces
the step) and the process's peak resident memory (`ru_maxrss`, whole
process: TensorFlow, data, weights, Adam slots, activations). The last
columns are the ratios against the full softmax of the same catalog,
measured in this run. Evaluation is not timed here: it stays exact full
ranking (streamed over item chunks, see `compute_ranks(item_chunk_size=)`).

    python benchmarks/large_catalog.py [--items 10000,100000,1000000]
        [--softmax full,in_batch,uniform,popularity] [--steps 8]
        [--learning erl] [--num-negatives 1024]

A cell that fails (e.g. out of memory) is reported as such instead of
stopping the table.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _child(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from rearec_keras import ReaSASRec

    n, batch, L = args.num_items, args.batch_size, 50
    rng = np.random.default_rng(0)
    # Zipf-like popularity (exponent 1) over the catalog.
    weights = 1.0 / np.arange(1, n + 1)
    weights /= weights.sum()
    size = batch * args.steps
    items = rng.choice(n, size=(size, L + 1), p=weights) + 1
    histories, targets = items[:, :-1].astype("int32"), items[:, -1].astype("int32")
    counts = np.bincount(targets, minlength=n + 1)
    keras.utils.set_random_seed(0)
    model = ReaSASRec(
        n, max_length=L, hidden_dim=64, reasoning_steps=args.steps_k, learning=args.learning,
        negatives=args.softmax, num_negatives=args.num_negatives,
        item_frequencies=None if args.softmax in ("full", "uniform") else counts,
        noise_warmup_epochs=0,
    )
    model.build((None, L))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    warm = batch * min(2, args.steps)
    model.fit(histories[:warm], targets[:warm], batch_size=batch, epochs=1, verbose=0,
              shuffle=False)
    start = time.perf_counter()
    history = model.fit(histories, targets, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    loss = history.history["loss"][-1]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "examples_per_s": size / seconds,
        "peak_gib": peak_kib / 2**20,
        "loss": float(loss),
        "finite": bool(np.isfinite(loss)),
    }))


def _run_cell(args, num_items, softmax):
    command = [
        sys.executable, os.path.abspath(__file__), "--child",
        "--num-items", str(num_items), "--softmax-one", softmax,
        "--steps", str(args.steps), "--batch-size", str(args.batch_size),
        "--learning", args.learning, "--k", str(args.steps_k),
        "--num-negatives", str(args.num_negatives),
    ]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["?"]
        oom = [line for line in lines if "OOM when allocating" in line]
        if oom:
            shape = oom[0].split("shape")[1].split(" and")[0] if "shape" in oom[0] else ""
            return {"error": f"out of memory (allocating a {shape.strip()} tensor)"}
        if proc.returncode == -9:
            return {"error": "killed by the OS (SIGKILL: out of memory)"}
        return {"error": f"exit {proc.returncode}: {lines[-1][:80]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="10000,100000,1000000")
    parser.add_argument("--softmax", default="full,in_batch,uniform,popularity")
    parser.add_argument("--steps", type=int, default=8, help="timed training batches per cell")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--learning", default="erl", choices=("erl", "prl"))
    parser.add_argument("--k", dest="steps_k", type=int, default=2)
    parser.add_argument("--num-negatives", type=int, default=1024)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--num-items", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--softmax-one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.softmax = args.softmax_one
        _child(args)
        return 0

    print(f"ReaSASRec-{args.learning.upper()} K={args.steps_k}, d=64, L=50, batch "
          f"{args.batch_size}, {args.steps} timed batches, M={args.num_negatives} sampled "
          f"negatives; peak = process max RSS")
    print(f"{'items':>9} {'softmax':>10} {'ex/s':>9} {'peak GiB':>9} {'loss':>8} "
          f"{'speed vs full':>14} {'memory vs full':>15}")
    for num_items in [int(v) for v in args.items.split(",")]:
        full = None
        for softmax in args.softmax.split(","):
            r = _run_cell(args, num_items, softmax)
            if "error" in r:
                print(f"{num_items:>9} {softmax:>10} {r['error']}")
                continue
            if softmax == "full":
                full = r
            speed = f"{r['examples_per_s'] / full['examples_per_s']:.1f}x" if full else "-"
            memory = f"{r['peak_gib'] / full['peak_gib']:.2f}x" if full else "-"
            print(f"{num_items:>9} {softmax:>10} {r['examples_per_s']:>9.0f} "
                  f"{r['peak_gib']:>9.2f} {r['loss']:>8.3f} {speed:>14} {memory:>15}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
