"""SASRec vs UniSRec vs MoRec, each base / +ERL / +PRL, on ml-100k item text.

The ReaRec paper's Table 3 compares id-based and text-based backbones. This
script trains each (model, seed) on MovieLens-100K leave-one-out with the
items' text features (all-MiniLM-L6-v2 over "The item information is as
follows:" + title / year / genres, `rearec_keras.text.item_text_features`)
and reports, on the test users (full ranking over all 1,682 items):

* NDCG@20 and Recall@20 over all test users;
* Recall@20 on test targets that are rare in training (at most
  `--rare-max-count` training occurrences);
* with `--cold-fraction`, a cold-start run per model: that fraction of the
  items (drawn among test targets) is removed from training
  (`data.hold_out_items`) and Recall@20 is measured on the test users
  whose target is one of them (chance level: 20 / 1,682 = 0.0119).

CPU budget: `--train-targets-per-user T` keeps each user's last T training
targets (all by default) and `--epochs` is a fixed budget (no early
stopping; the last epoch is tested). Results are appended to `--out`
(JSON), so a killed run resumes where it stopped.

    python benchmarks/text_backbones.py --seeds 0,1,2 --epochs 10 \\
        --train-targets-per-user 10 --cold-fraction 0.1 --out text_backbones.json
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import rearec_keras  # noqa: E402
from rearec_keras import data  # noqa: E402
from rearec_keras.backbones import feature_backbones  # noqa: E402
from rearec_keras.backbones import get_backbone  # noqa: E402
from rearec_keras.datasets import load_movielens  # noqa: E402

BACKBONES = ("sasrec", *feature_backbones())
MODELS = [f"{b}{m}" for b in BACKBONES for m in ("", "-erl", "-prl")]


def last_targets_per_user(part, count):
    """The last `count` examples of every user (rows are chronological
    within a user)."""
    order = np.lexsort((np.arange(len(part)), part.user_ids))
    users = part.user_ids[order]
    first = np.r_[0, np.flatnonzero(np.diff(users)) + 1]
    sizes = np.diff(np.r_[first, len(users)])
    from_end = np.repeat(first + sizes, sizes) - np.arange(len(users))  # 1 = last
    return part.subset(np.sort(order[from_end <= count]))


def build(name, split, features, args):
    backbone, _, method = name.partition("-")
    spec = get_backbone(backbone)
    cls = spec.model_class(reasoning=bool(method))
    kwargs = dict(max_length=args.max_length, hidden_dim=args.hidden_dim)
    if method:
        kwargs.update(learning=method, reasoning_steps=args.reasoning_steps,
                      kl_weight=args.kl_weight)
    if spec.item_features:
        kwargs["item_features"] = features
    return cls(split.num_items, **kwargs)


def recall_on(ranks, mask, k=20):
    if not mask.any():
        return None
    return float((ranks[mask] <= k).mean())


def run_one(name, seed, split, features, args, cold=False):
    keras.utils.set_random_seed(seed)
    model = build(name, split, features, args)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    start = time.perf_counter()
    history = model.fit(split.train.as_dataset(args.batch_size, shuffle=True, seed=seed),
                        epochs=args.epochs, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    result, ranks = rearec_keras.evaluate(model, split.test, ks=(20,), batch_size=1024,
                                          return_ranks=True)
    ranks = np.asarray(ranks)
    counts = split.train_item_counts()
    targets = split.test.targets
    out = {
        "model": name, "seed": seed, "cold": cold, "epochs": args.epochs,
        "train_examples": len(split.train), "train_seconds": round(seconds, 1),
        "final_loss": float(history.history["loss"][-1]),
        "ndcg@20": float(result["ndcg@20"]), "recall@20": float(result["recall@20"]),
        "rare_cases": int((counts[targets] <= args.rare_max_count).sum()),
        "recall@20_rare": recall_on(ranks, counts[targets] <= args.rare_max_count),
    }
    if cold:
        held = np.asarray(split.settings["held_out_items"])
        mask = np.isin(targets, held)
        out.update(cold_items=len(held), cold_cases=int(mask.sum()),
                   **{"recall@20_cold": recall_on(ranks, mask),
                      "recall@20_warm": recall_on(ranks, ~mask)})
    return out


def table(results, names, keys):
    header = "| model | " + " | ".join(keys) + " |"
    lines = [header, "|---|" + "---|" * len(keys)]
    for name in names:
        rows = [r for r in results if r["model"] == name]
        if not rows:
            continue
        cells = []
        for k in keys:
            values = np.array([r[k] for r in rows if r.get(k) is not None], dtype=float)
            if len(values) == 0:
                cells.append("–")
            elif len(values) == 1:
                cells.append(f"{values[0]:.4f}")
            else:
                cells.append(f"{values.mean():.4f} ± {values.std(ddof=1):.4f}")
        lines.append(f"| {name} (n={len(rows)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--hidden-dim", type=int, default=64)
    p.add_argument("--max-length", type=int, default=50)
    p.add_argument("--reasoning-steps", type=int, default=2)
    p.add_argument("--kl-weight", type=float, default=0.05)
    p.add_argument("--train-targets-per-user", type=int, default=None)
    p.add_argument("--rare-max-count", type=int, default=10)
    p.add_argument("--pca-dim", type=int, default=None)
    p.add_argument("--cold-fraction", type=float, default=None)
    p.add_argument("--cold-models", default="sasrec,unisrec,morec,sasrec-prl,unisrec-prl,morec-prl")
    p.add_argument("--out", default=None, help="JSON file of results (resumed)")
    args = p.parse_args()

    from rearec_keras.text import item_text_features

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    cold_names = [n.strip() for n in args.cold_models.split(",") if n.strip()]
    unknown = set(names + cold_names) - set(MODELS)
    if unknown:
        p.error(f"unknown model(s) {sorted(unknown)}; choose from {MODELS}")
    split = data.leave_one_out(load_movielens("ml-100k"), max_length=args.max_length)
    start = time.perf_counter()
    features = item_text_features(split, pca_dim=args.pca_dim)
    print(f"item text features {features.shape} in {time.perf_counter() - start:.1f}s",
          flush=True)
    if args.train_targets_per_user:
        split.train = last_targets_per_user(split.train, args.train_targets_per_user)
    print(f"backend={keras.backend.backend()} {split}", flush=True)
    results = []
    if args.out and os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)

    def save():
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)

    plan = [(n, int(s), False) for s in args.seeds.split(",") for n in names]
    cold_split = None
    if args.cold_fraction:
        cold_split = data.hold_out_items(split, fraction=args.cold_fraction, seed=0)
        print(f"cold start: {cold_split.report[-1]}", flush=True)
        plan += [(n, 0, True) for n in cold_names]
    for name, seed, cold in plan:
        if any(r["model"] == name and r["seed"] == seed and r["cold"] == cold for r in results):
            continue
        r = run_one(name, seed, cold_split if cold else split, features, args, cold=cold)
        results.append(r)
        print(json.dumps(r), flush=True)
        save()
    warm = [r for r in results if not r["cold"]]
    print(f"\nml-100k test, {args.epochs} epochs"
          + (f", last {args.train_targets_per_user} train targets per user"
             if args.train_targets_per_user else "")
          + f"; rare = at most {args.rare_max_count} training occurrences")
    print(table(warm, names, ["ndcg@20", "recall@20", "recall@20_rare"]))
    if cold_split is not None:
        cold = [r for r in results if r["cold"]]
        print(f"\ncold start: {len(cold_split.settings['held_out_items'])} items held out of "
              "training, Recall@20 on test users whose target is one of them (seed 0)")
        print(table(cold, cold_names, ["recall@20_cold", "recall@20_warm", "ndcg@20"]))


if __name__ == "__main__":
    main()
