"""
Title: Quickstart: ReaSASRec on MovieLens-100K with the library API
Description: Load real data, split leave-one-out, train latent reasoning (K
    steps) on a SASRec backbone with ERL or PRL, select on validation
    NDCG@20, test with full ranking, score with each reasoning state and
    recommend. (`rearec-keras train` does the same with a run directory.)

Run (CPU: about 1-1.5 min per epoch; early stopping usually ends it within
30 epochs):
    python examples/quickstart.py                       # ERL, K=2
    python examples/quickstart.py --learning prl --epochs 50
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import rearec_keras  # noqa: E402
from rearec_keras import methods  # noqa: E402
from rearec_keras import data  # noqa: E402
from rearec_keras.datasets import load_movielens  # noqa: E402


# Every registered method that reasons (ERL, PRL, the ablations, plug-ins).
REASONING_METHODS = [m for m in methods.method_names() if methods.get_method(m).reasons]

def main(argv=None):
    parser = argparse.ArgumentParser(description="Train ReaSASRec on ml-100k.")
    parser.add_argument("--learning", default="erl", choices=REASONING_METHODS)
    parser.add_argument("--reasoning-steps", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-examples", type=int, default=None,
                        help="train on a random subset (for a quick smoke run)")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    split = data.leave_one_out(load_movielens("ml-100k"), max_length=50)
    train = split.train
    if args.max_train_examples:
        rng = np.random.default_rng(args.seed)
        train = train.subset(rng.choice(len(train), args.max_train_examples, replace=False))
    print(split)

    model = rearec_keras.ReaSASRec(
        split.num_items,
        hidden_dim=args.hidden_dim,
        reasoning_steps=args.reasoning_steps,
        learning=args.learning,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(
        train.as_dataset(args.batch_size, shuffle=True, seed=args.seed),
        epochs=args.epochs,
        shuffle=False,
        verbose=2,
        callbacks=[
            rearec_keras.RankingEvaluationCallback(split.valid, ks=(10, 20)),
            keras.callbacks.EarlyStopping(
                monitor="val_ndcg@20", mode="max", patience=args.patience,
                restore_best_weights=True,
            ),
        ],
    )
    test = rearec_keras.evaluate(model, split.test, ks=(10, 20))
    print("\ntest (full ranking over %d items, %d users):" % (split.num_items, len(split.test)))
    for key in ("ndcg@10", "ndcg@20", "recall@10", "recall@20"):
        print(f"  {key:10s} {test[key]:.4f}")
    for steps in range(model.reasoning_steps + 1):
        per_step = rearec_keras.evaluate(
            None, split.test, ks=(20,),
            score_fn=lambda _, h, s=steps: model.score(h, steps=s, pooling="last"),
        )
        print(f"  reasoning state r_{steps}: ndcg@20 {per_step['ndcg@20']:.4f}")
    ids, scores = model.recommend(split.test.histories[:1], k=5, exclude_history=True)
    titles = None
    if split.items is not None and "title" in split.items:
        titles = dict(zip(split.items["item_id"], split.items["title"]))
    print("\ntop-5 for the first test user:")
    for i, s in zip(ids[0], scores[0]):
        print(f"  {s:7.3f}  {titles.get(int(i), i) if titles is not None else i}")
    return test


if __name__ == "__main__":
    main()
