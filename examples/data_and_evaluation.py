"""
Title: From real interactions to trustworthy full-ranking numbers
Description: Load MovieLens-100K, preprocess it, split it leave-one-out and
    evaluate two reference baselines with the full-ranking evaluator.

Run:
    python examples/data_and_evaluation.py [--implicit] [--max-length 50]

The two baselines need no training and give the floor any sequential model
must clear on the same split:

* MostPop scores every item by how often it is a training target.
* A first-order Markov chain scores items by how often they followed the
  user's newest item in the training examples (ties broken by popularity).
"""

import argparse
import json
import logging

import numpy as np

import rearec_keras
from rearec_keras import data
from rearec_keras.datasets import load_movielens


def most_pop(split):
    counts = split.train_item_counts().astype(np.float32)
    counts[0] = -np.inf  # padding never wins

    def score(histories):
        return np.broadcast_to(counts, (len(histories), len(counts)))

    return score


def markov_chain(split):
    n = split.num_items + 1
    last = split.train.histories[:, -1]
    transitions = np.zeros((n, n), dtype=np.float32)
    np.add.at(transitions, (last, split.train.targets), 1.0)
    popularity = split.train_item_counts().astype(np.float32)
    tie_break = popularity / (popularity.max() + 1.0)

    def score(histories):
        scores = transitions[histories[:, -1]] + tie_break
        scores[:, 0] = -np.inf
        return scores

    return score


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--implicit", action="store_true",
                        help="keep ratings > 3 and apply a 5-core (the paper's recipe)")
    parser.add_argument("--max-length", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    dataset = load_movielens("ml-100k")
    print(dataset)
    if args.implicit:
        dataset = data.preprocess(dataset, rating_threshold=3, k_core=5)
    split = data.leave_one_out(dataset, max_length=args.max_length)
    print(split)
    print(json.dumps(split.statistics()["examples"]))

    rows = []
    for name, scorer in (("MostPop", most_pop(split)), ("Markov", markov_chain(split))):
        for part in (split.valid, split.test):
            metrics = rearec_keras.evaluate(scorer, part, ks=(10, 20))
            rows.append((name, part.name, metrics))
    keys = ["ndcg@10", "ndcg@20", "recall@10", "recall@20", "mrr@20"]
    print(f"\n{'model':8s} {'part':5s} " + " ".join(f"{k:>9s}" for k in keys))
    for name, part, metrics in rows:
        print(f"{name:8s} {part:5s} " + " ".join(f"{metrics[k]:9.4f}" for k in keys))


if __name__ == "__main__":
    main()
