"""Distributed tuning with KerasTuner's chief/worker mode on one machine:
a chief process serving the oracle and two workers training trials, all on
127.0.0.1, sharing one study directory.

    python tuning/distributed_loopback.py            # tiny ERL study on ml-100k
    python tuning/distributed_loopback.py --workers 3 -- --learning prl --max-trials 6

Arguments after `--` go to `rearec-keras tune`. Prints which worker ran
which trial (from trials.csv) and where the logs of each process are.
"""

import argparse

import pandas as pd

from rearec_keras.tuning.distributed import launch_local

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--workers", type=int, default=2)
parser.add_argument("--out", default="runs/tune-distributed")
parser.add_argument("tune_args", nargs="*", help="arguments of rearec-keras tune (after --)")
args = parser.parse_args()

tune_args = args.tune_args or [
    "--learning", "erl", "--algorithm", "random", "--max-trials", "4", "--epochs", "1",
    "--hidden-dim", "32", "--intermediate-dim", "64", "--no-baseline",
]
codes = launch_local(tune_args, args.out, num_workers=args.workers)
print(f"exit codes: {codes}")
table = pd.read_csv(f"{args.out}/trials.csv")
print(table[["trial_id", "worker", "seconds"] + [c for c in table if c.startswith("val_ndcg")]]
      .to_string(index=False))
print(f"trials per worker: {table['worker'].value_counts().to_dict()}")
print(f"logs: {args.out}/logs/")
