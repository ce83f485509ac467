"""Tune ReaSASRec-PRL on MovieLens-100K: base temperature τ and decay α
(and K) over the paper's grids, selected on validation NDCG@20.

    python tuning/tune_prl_ml100k.py --algorithm random --max-trials 20

Writes `runs/tune-ml-100k-prl/`: trials.csv, sensitivity.png (the paper's
Fig. 6: NDCG@20 against τ and α), best/best.keras and summary.md with the
gain of the best trial over the defaults (τ=0.07, α=5) trained with the
same budget. Re-running the same command continues the study.
"""

from _common import parse_args
from _common import reasoning_steps

from rearec_keras.experiments.config import RunConfig
from rearec_keras.tuning import paper_search_space
from rearec_keras.tuning import run_study

args = parse_args(__doc__.split("\n")[0], "prl", default_trials=20)
config = RunConfig(dataset="ml-100k", backbone="sasrec", learning="prl",
                   epochs=args.epochs, patience=args.patience)
space = paper_search_space("prl")  # τ ∈ {0.05..5}, α ∈ {1..10}, K ∈ {1,2,3}
space["reasoning_steps"] = reasoning_steps(args.reasoning_steps)
summary = run_study(config, args.out, algorithm=args.algorithm, search_space=space,
                    max_trials=args.max_trials or None, baseline=not args.no_baseline)
print(open(f"{args.out}/summary.md").read())
