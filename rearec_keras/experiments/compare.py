"""Base vs ERL vs PRL over several seeds: a mean ± std table like the
paper's Table 2, with relative gains over the base model. Any backbone,
the text ones (`unisrec`, `morec`) included: their item features are
computed once for all runs."""

import csv
import json
from pathlib import Path

import numpy as np

from rearec_keras import distribute
from rearec_keras.experiments.config import ConfigError
from rearec_keras.experiments.runner import item_features_for
from rearec_keras.experiments.runner import metric_columns
from rearec_keras.experiments.runner import prepare_data
from rearec_keras.methods import method_names
from rearec_keras.training import setup_for
from rearec_keras.experiments.runner import train_run


def compare(base_config, methods, seeds, out_dir, verbose=1):
    """Trains `methods` x `seeds` (each its own resumable run directory under
    `out_dir`), writes `compare.csv` / `compare.md` and returns the table.

    The first method is the reference of the relative gains (use `base`).
    """
    methods = list(methods)
    for m in methods:
        if m not in method_names():
            raise ConfigError(
                f"unknown method {m!r} in --methods; choose from {', '.join(method_names())}")
    if not methods or not seeds:
        raise ConfigError("compare needs at least one method and one seed")
    # First: multi_worker sets up its collective ops before any TensorFlow op.
    strategy = setup_for(base_config).strategy
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = metric_columns(base_config.ks)
    keys = [key for key, _ in columns]
    results = {}
    data = None  # (dataset, split, item features): the same for every method and seed
    for method in methods:
        for seed in seeds:
            # Each method at its own defaults where the flags set none (LARES: K=4).
            config = base_config.for_method(method, seed=int(seed))
            run_dir = out_dir / f"{method}-seed{seed}"
            if verbose:
                print(f"== {config.describe()} seed {seed} -> {run_dir}", flush=True)
            if data is None and not (run_dir / "metrics.json").exists():
                dataset, split = prepare_data(base_config, verbose)
                # Text backbones: the features are computed (or read) once.
                data = dataset, split, item_features_for(base_config, split, verbose)
            dataset, split, features = data or (None, None, None)
            metrics = train_run(config, run_dir, verbose=verbose, split=split, dataset=dataset,
                                item_features=features)
            results[method, seed] = metrics["test"]["final"]
    rows, csv_rows = [], []
    reference = {k: np.mean([results[methods[0], s][k] for s in seeds]) for k in keys}
    for method in methods:
        name = base_config.for_method(method).describe()
        cells = []
        for k in keys:
            values = np.array([results[method, s][k] for s in seeds])
            mean = values.mean()
            std = values.std(ddof=1) if len(values) > 1 else 0.0
            cell = f"{mean:.4f} ± {std:.4f}"
            if method != methods[0] and reference[k] > 0:
                cell += f" ({100 * (mean / reference[k] - 1):+.1f}%)"
            cells.append(cell)
            csv_rows.append({"method": name, "metric": k, "mean": mean, "std": std,
                             "seeds": len(seeds),
                             "gain_vs_first": mean / reference[k] - 1 if reference[k] else None,
                             **{f"seed{s}": results[method, s][k] for s in seeds}})
        rows.append([name] + cells)
    header = ["model"] + [label for _, label in columns]
    table = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    table += "\n".join("| " + " | ".join(r) + " |" for r in rows)
    table = (f"test metrics, mean ± std over seeds {', '.join(map(str, seeds))} "
             f"(gain vs {rows[0][0]} in parentheses)\n\n" + table)
    if not distribute.is_chief(strategy):  # multi_worker: the chief writes the table
        return table
    (out_dir / "compare.md").write_text(table + "\n")
    with open(out_dir / "compare.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(csv_rows[0]))
        writer.writeheader()
        writer.writerows(csv_rows)
    (out_dir / "compare.json").write_text(
        json.dumps({f"{m}-seed{s}": v for (m, s), v in results.items()}, indent=2)
    )
    return table
