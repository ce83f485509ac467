"""Which configuration should `rearec-keras train` run by default? Every
method the zoo has, at one budget, over several seeds, next to SASRec.

Each variant is a set of run settings (the same keys as `rearec-keras
train`); each (variant, seed) is its own resumable run directory trained by
the library's runner, so LARES trains its stages and DTRec its prototypes
exactly as `rearec-keras train --learning lares|dtrec` would. The budget: a
fixed number of epochs (patience = epochs: the best validation epoch of the
whole budget is tested) on the first `--subset` training rows, history
`--max-length`; the valid/test users are all 943.

    python benchmarks/main_job_choice.py --seeds 0,1,2 --epochs 8 --subset 20000 \\
        --max-length 20 --out runs/main_job_choice

Prints (and writes `OUT/table.md`, `OUT/results.json`) mean ± std of test
N@10/N@20/R@10/R@20 per variant, the mean relative gain over SASRec on the
four metrics, the gain per seed (SASRec of the same seed), and seconds per
run. Variants run in the order given, every seed of one before the next, so
a cut-short run still leaves complete rows.
"""

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from rearec_keras.experiments.config import RunConfig  # noqa: E402
from rearec_keras.experiments.prepare import prepare_data  # noqa: E402
from rearec_keras.experiments.reports import metric_columns  # noqa: E402
from rearec_keras.experiments.runner import train_run  # noqa: E402

VARIANTS = {
    "sasrec": {"learning": "base"},
    "erl": {"learning": "erl"},
    "prl": {"learning": "prl"},
    "prl-nowarmup": {"learning": "prl", "noise_warmup_epochs": 0},
    "prl-t1a1": {"learning": "prl", "base_temperature": 1.0, "temperature_decay": 1.0},
    "dtrec": {"learning": "dtrec"},
    "dtrec-nohps": {"learning": "dtrec", "hps_weight": 0.0},
    "lares": {"learning": "lares", "rpt": False, "dropout": 0.2},
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated, from {', '.join(VARIANTS)}; sasrec first")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--subset", type=int, default=20000, help="first N training rows (0: all)")
    p.add_argument("--max-length", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--out", default="runs/main_job_choice")
    args = p.parse_args()
    variants = args.variants.split(",")
    for v in variants:
        if v not in VARIANTS:
            p.error(f"unknown variant {v!r} in --variants; choose from {', '.join(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    base = RunConfig(max_length=args.max_length, epochs=args.epochs, patience=args.epochs,
                     batch_size=args.batch_size)
    _, split = prepare_data(base)
    if args.subset:
        split = dataclasses.replace(split, train=split.train.subset(np.arange(args.subset)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    for variant in variants:
        for seed in seeds:
            key = f"{variant}-seed{seed}"
            if key in results:
                continue
            # Each method at its own model defaults (DTRec: K=3; LARES: K=4, τ=1).
            settings = dict(VARIANTS[variant])
            config = base.for_method(settings.pop("learning"), seed=seed, **settings)
            print(f"== {key}: {config.describe()}", flush=True)
            start = time.perf_counter()
            metrics = train_run(config, out / key, verbose=2, split=split)
            results[key] = {"test": metrics["test"]["final"],
                            "seconds": time.perf_counter() - start}
            results_file.write_text(json.dumps(results, indent=2))
    text = table(results, variants, seeds)
    (out / "table.md").write_text(text + "\n")
    print(text)


def table(results, variants, seeds):
    keys = [k for k, _ in metric_columns((10, 20))]
    header = ["variant"] + [label for _, label in metric_columns((10, 20))]
    header += ["gain vs SASRec", "gain per seed", "s/run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    reference = variants[0]
    for variant in variants:
        done = [s for s in seeds if f"{variant}-seed{s}" in results]
        if not done:
            continue
        values = np.array([[results[f"{variant}-seed{s}"]["test"][k] for k in keys] for s in done])
        cells = [f"{m:.4f} ± {sd:.4f}" if len(done) > 1 else f"{m:.4f}"
                 for m, sd in zip(values.mean(0), values.std(0, ddof=min(1, len(done) - 1)))]
        gain, per_seed = "", ""
        ref = [s for s in done if f"{reference}-seed{s}" in results]
        if variant != reference and ref:
            base = np.array([[results[f"{reference}-seed{s}"]["test"][k] for k in keys]
                             for s in ref])
            mine = np.array([[results[f"{variant}-seed{s}"]["test"][k] for k in keys]
                             for s in ref])
            gain = f"{100 * np.mean(mine.mean(0) / base.mean(0) - 1):+.1f}%"
            per_seed = " ".join(f"{100 * np.mean(m / b - 1):+.1f}%" for m, b in zip(mine, base))
        seconds = np.mean([results[f"{variant}-seed{s}"]["seconds"] for s in done])
        lines.append(f"| {variant} ({len(done)} seeds) | " + " | ".join(cells)
                     + f" | {gain} | {per_seed} | {seconds:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
