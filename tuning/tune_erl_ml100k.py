"""Tune ReaSASRec-ERL on MovieLens-100K: the KL weight λ (and K) over the
paper's grid, selected on validation NDCG@20.

    python tuning/tune_erl_ml100k.py --algorithm grid      # all 15 combinations

Any `rearec-keras tune` flag may follow. Writes `runs/tune-ml-100k-erl/`:
trials.csv, sensitivity.png (the paper's Fig. 6: NDCG@20 against λ),
best/best.keras and summary.md with the gain of the best trial over the
default (λ=0.05) trained with the same budget. Re-running the same command
continues the study.
"""

import sys

from _common import main as tune


def main(argv=None):
    # λ ∈ {0.001, 0.005, 0.01, 0.05, 0.1}, K ∈ {1, 2, 3}.
    return tune(argv, "erl", max_trials=15)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
