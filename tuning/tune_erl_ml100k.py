"""Tune ReaSASRec-ERL on MovieLens-100K: the KL weight λ (and K) over the
paper's grid, selected on validation NDCG@20.

    python tuning/tune_erl_ml100k.py --algorithm grid --max-trials 0

Writes `runs/tune-ml-100k-erl/`: trials.csv, sensitivity.png (the paper's
Fig. 6: NDCG@20 against λ), best/best.keras and summary.md with the gain of
the best trial over the default (λ=0.05) trained with the same budget.
Re-running the same command continues the study.
"""

from _common import parse_args
from _common import reasoning_steps

from rearec_keras.experiments.config import RunConfig
from rearec_keras.tuning import paper_search_space
from rearec_keras.tuning import run_study

args = parse_args(__doc__.split("\n")[0], "erl", default_trials=15)
config = RunConfig(dataset="ml-100k", backbone="sasrec", learning="erl",
                   epochs=args.epochs, patience=args.patience)
space = paper_search_space("erl")  # λ ∈ {0.001, 0.005, 0.01, 0.05, 0.1}, K ∈ {1,2,3}
space["reasoning_steps"] = reasoning_steps(args.reasoning_steps)
summary = run_study(config, args.out, algorithm=args.algorithm, search_space=space,
                    max_trials=args.max_trials or None, baseline=not args.no_baseline)
print(open(f"{args.out}/summary.md").read())
