"""Tune ReaSASRec-PRL on MovieLens-100K: base temperature τ and decay α
(and K) over the paper's grids, selected on validation NDCG@20.

    python tuning/tune_prl_ml100k.py                       # random, 20 trials
    python tuning/tune_prl_ml100k.py --algorithm bayesian --space reasoning_steps=2

Any `rearec-keras tune` flag may follow. Writes `runs/tune-ml-100k-prl/`:
trials.csv, sensitivity.png (the paper's Fig. 6: NDCG@20 against τ and α),
best/best.keras and summary.md with the gain of the best trial over the
defaults (τ=0.07, α=5) trained with the same budget. Re-running the same
command continues the study.
"""

import sys

from _common import main as tune


def main(argv=None):
    # τ ∈ {0.05, 0.1, 0.5, 1, 2, 5}, α ∈ {1, 1.2, 1.5, 2, 5, 10}, K ∈ {1, 2, 3}.
    return tune(argv, "prl", max_trials=20)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
