"""
Title: Text backbones: ReaUniSRec (and ReaMoRec) on MovieLens-100K item text
Description: Encode every movie's text (title, year, genres in the ReaRec
    paper's template) once with all-MiniLM-L6-v2, train latent reasoning on
    a UniSRec backbone (a mixture of whitening experts over the frozen text
    vectors) with PRL, test with full ranking and recommend by title.
    (`rearec-keras train --backbone unisrec` does the same with a run
    directory; `--text-features FILE.npy` brings features of your own.)

The first run encodes the 1,682 titles (about a minute on CPU; needs the
`text` extra) and caches them under ~/.keras/rearec_keras/text_features
(or $REAREC_KERAS_CACHE); later runs load them from disk.

Run:
    python examples/text_backbones.py                   # ReaUniSRec-PRL, K=2
    python examples/text_backbones.py --backbone morec --epochs 50
    python examples/text_backbones.py --epochs 1 --max-train-examples 512   # smoke run
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
from rearec_keras.text import item_text_features  # noqa: E402


# Every registered method that reasons (ERL, PRL, the ablations, plug-ins).
REASONING_METHODS = [m for m in methods.method_names() if methods.get_method(m).reasons]

def main(argv=None):
    parser = argparse.ArgumentParser(description="Train ReaUniSRec / ReaMoRec on ml-100k text.")
    parser.add_argument("--backbone", default="unisrec", choices=rearec_keras.backbones.feature_backbones())
    parser.add_argument("--learning", default="prl", choices=REASONING_METHODS)
    parser.add_argument("--reasoning-steps", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--pca-dim", type=int, default=None,
                        help="reduce the 384 text dimensions by PCA first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-examples", type=int, default=None,
                        help="train on a random subset (for a quick smoke run)")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    split = data.leave_one_out(load_movielens("ml-100k"), max_length=50)
    print(split)
    # One row per item in the split's id order (row i-1 = item i), cached.
    features = item_text_features(split, pca_dim=args.pca_dim, verbose=1)
    print(f"item text features: {features.shape}")
    train = split.train
    if args.max_train_examples:
        rng = np.random.default_rng(args.seed)
        train = train.subset(rng.choice(len(train), args.max_train_examples, replace=False))

    models = rearec_keras.models
    cls = models.ReaUniSRec if args.backbone == "unisrec" else models.ReaMoRec
    model = cls(
        split.num_items,
        item_features=features,
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
    name = type(model).__name__
    print(f"\n{name}-{args.learning.upper()} test (full ranking over {split.num_items} items, "
          f"{len(split.test)} users):")
    for key in ("ndcg@20", "recall@20"):
        print(f"  {key:10s} {test[key]:.4f}")

    titles = dict(zip(split.items["item_id"], split.items["title"]))
    history = split.test.histories[:1]
    print(f"\nuser {split.user_vocab[int(split.test.user_ids[0])]}, last movies watched:")
    for i in [int(v) for v in history[0] if v != 0][-5:]:
        print(f"  {titles.get(i, i)}")
    ids, scores = model.recommend(history, k=5, exclude_history=True)
    print("top-5 recommendations:")
    for i, s in zip(ids[0], scores[0]):
        print(f"  {s:7.3f}  {titles.get(int(i), i)}")
    return test


if __name__ == "__main__":
    main()
