"""Tune ReaSASRec-PRL on MovieLens-100K: base temperature τ and decay α
(and K) over the paper's grids, selected on validation NDCG@20.

    python tuning/tune_prl_ml100k.py --algorithm random --max-trials 20

Writes `runs/tune-ml-100k-prl/`: trials.csv, sensitivity.png (the paper's
Fig. 6: NDCG@20 against τ and α), best/best.keras and summary.md with the
gain of the best trial over the defaults (τ=0.07, α=5) trained with the
same budget. Re-running the same command continues the study.
"""

import sys

from _common import main as tune


def main(argv=None):
    # τ ∈ {0.05, 0.1, 0.5, 1, 2, 5}, α ∈ {1, 1.2, 1.5, 2, 5, 10}, K ∈ {1, 2, 3}.
    return tune(argv, __doc__.split("\n")[0], "prl", default_trials=20)


if __name__ == "__main__":
    main(sys.argv[1:])
