"""
Title: Compare Base, ERL and PRL over several seeds
Description: Trains SASRec (no reasoning), ReaSASRec-ERL and ReaSASRec-PRL
    with the same settings for each seed, each in its own resumable run
    directory, and prints a mean ± std table with relative gains over the
    base model, like the paper's Table 2. Same as
    `rearec-keras compare --methods base,erl,prl --seeds 0,1,2`.

Run (CPU: hours for 3 x 3 full runs; see --epochs):
    python examples/compare_methods.py --seeds 0,1,2
    python examples/compare_methods.py --seeds 0 --epochs 2 --out runs/compare-quick
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rearec_keras.experiments import RunConfig  # noqa: E402
from rearec_keras.experiments import compare  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description="Base vs ERL vs PRL.")
    parser.add_argument("--methods", default="base,erl,prl")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--backbone", default="sasrec", choices=["sasrec", "bert4rec"])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--data-path", default=None)
    parser.add_argument("--max-length", type=int, default=50)
    parser.add_argument("--out", default="runs/compare-example")
    args = parser.parse_args(argv)

    config = RunConfig(
        dataset=args.dataset, data_path=args.data_path, backbone=args.backbone,
        epochs=args.epochs, hidden_dim=args.hidden_dim, max_length=args.max_length,
    )
    table = compare(
        config,
        methods=args.methods.split(","),
        seeds=[int(s) for s in args.seeds.split(",")],
        out_dir=args.out,
        verbose=1,
    )
    print(table)
    return table


if __name__ == "__main__":
    main()
