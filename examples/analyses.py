"""
Title: The paper's analyses of a trained ReaRec model
Description: Trains (or reuses) a ReaSASRec run and writes the ReaRec
    paper's analyses as PNG + CSV: performance per reasoning step (Fig. 5),
    user/item subgroups (Fig. 4), cosine similarity of the reasoning states
    (Fig. 9), target-rank trajectories (Fig. 8) and the best-step-per-user
    oracle (Fig. 2). Same as `rearec-keras analyze RUN_DIR`.

Run:
    python examples/analyses.py                         # trains runs/analyses-example first
    python examples/analyses.py --run-dir runs/main     # analyse an existing run
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rearec_keras.experiments import RunConfig  # noqa: E402
from rearec_keras.experiments import analyze  # noqa: E402
from rearec_keras.experiments import load_run  # noqa: E402
from rearec_keras.experiments import prepare_data  # noqa: E402
from rearec_keras.experiments import train_run  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description="ReaRec analyses of a run.")
    parser.add_argument("--run-dir", default="runs/analyses-example")
    parser.add_argument("--learning", default="prl")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--data-path", default=None)
    parser.add_argument("--max-length", type=int, default=50)
    args = parser.parse_args(argv)

    if os.path.exists(os.path.join(args.run_dir, "metrics.json")):  # analyse a finished run
        config, model = load_run(args.run_dir)
        _, split = prepare_data(config)
    else:
        config = RunConfig(
            dataset=args.dataset, data_path=args.data_path, learning=args.learning,
            epochs=args.epochs, hidden_dim=args.hidden_dim, max_length=args.max_length,
        )
        dataset, split = prepare_data(config)
        train_run(config, args.run_dir, verbose=1, split=split, dataset=dataset)
        _, model = load_run(args.run_dir)
    results, files = analyze(model, split, os.path.join(args.run_dir, "analysis"),
                             title=config.describe())
    for row in results["performance"]:
        print(f"{row['step']:>6}: NDCG@20 {row['ndcg@20']:.4f}  Recall@20 {row['recall@20']:.4f}")
    print("oracle:", results["oracle"][-1])
    for group in results["subgroups"]:
        steps = [group[k] for k in group if k.startswith("ndcg@20_r")]
        print(f"{group['group']} ({group['by']} {group['min']}-{group['max']}): "
              + " ".join(f"{v:.4f}" for v in steps))
    for name, path in files.items():
        print(f"{name}: {path}")
    return results, files


if __name__ == "__main__":
    main()
