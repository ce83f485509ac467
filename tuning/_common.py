"""Shared command line of the ml-100k tuning scripts."""

import argparse

from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import scalar_type
from rearec_keras.tuning import paper_search_space
from rearec_keras.tuning import run_study


def _setting(text):
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    kind = scalar_type(key) if key in RunConfig.__dataclass_fields__ else None
    try:
        return key, (kind(value) if kind in (int, float) else value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key} takes a number, got {value!r}") from None


def main(argv, description, learning, default_trials):
    """Parses the flags, runs the study on the paper's grid for `learning`
    and prints its summary; returns the summary dict."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--algorithm", default="random",
                        choices=("grid", "random", "bayesian", "hyperband"))
    parser.add_argument("--max-trials", type=int, default=default_trials,
                        help="trials to run (0: the whole grid)")
    parser.add_argument("--epochs", type=int, default=30, help="most epochs per trial")
    parser.add_argument("--patience", type=int, default=5, help="early stopping inside trials")
    parser.add_argument("--reasoning-steps", default="1,2,3",
                        help="K values to search (one value fixes K)")
    parser.add_argument("--set", action="append", type=_setting, default=[], metavar="KEY=VALUE",
                        help="any other RunConfig setting, e.g. hidden_dim=128 (repeatable)")
    parser.add_argument("--out", default=f"runs/tune-ml-100k-{learning}")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)

    config = RunConfig.from_dict(
        {"dataset": "ml-100k", "learning": learning, "epochs": args.epochs,
         "patience": args.patience, **dict(args.set)}, source="--set")
    space = paper_search_space(learning)
    steps = [int(v) for v in args.reasoning_steps.split(",") if v.strip()]
    space["reasoning_steps"] = steps if len(steps) > 1 else steps[0]
    summary = run_study(config, args.out, algorithm=args.algorithm, search_space=space,
                        max_trials=args.max_trials or None, baseline=not args.no_baseline)
    print(open(f"{args.out}/summary.md").read())
    return summary
