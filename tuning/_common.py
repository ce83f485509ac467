"""Shared command line of the ml-100k tuning scripts."""

import argparse


def parse_args(description, learning, default_trials):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--algorithm", default="random",
                        choices=("grid", "random", "bayesian", "hyperband"))
    parser.add_argument("--max-trials", type=int, default=default_trials,
                        help="trials (grid: default the whole grid when 0)")
    parser.add_argument("--epochs", type=int, default=30, help="most epochs per trial")
    parser.add_argument("--patience", type=int, default=5, help="early stopping inside trials")
    parser.add_argument("--reasoning-steps", default="1,2,3",
                        help="K values to search (one value fixes K)")
    parser.add_argument("--out", default=f"runs/tune-ml-100k-{learning}")
    parser.add_argument("--no-baseline", action="store_true")
    return parser.parse_args()


def reasoning_steps(text):
    values = [int(v) for v in text.split(",") if v.strip()]
    return values if len(values) > 1 else values[0]
