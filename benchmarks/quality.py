"""Quality of SASRec / BERT4Rec (or HSTU) with and without ReaRec reasoning on ml-100k.

Protocol (spec §7, scaled to ml-100k): leave-one-out, histories of 50,
full ranking over all items, Adam lr 1e-3, model selection on validation
NDCG@20 with early stopping (patience 10 by default), test once with the
best weights. Each (model, seed) pair is one run; the script prints the
mean ± std over seeds and the relative gain over the base model, the way
the paper's Table 2 does.

Runs on any Keras backend (training reads numpy arrays, no tf.data), e.g.
on a GPU machine with JAX: `KERAS_BACKEND=jax python benchmarks/quality.py`.

    python benchmarks/quality.py --models sasrec,sasrec-erl,sasrec-prl \\
        --seeds 0,1,2 --epochs 200 --out quality.json

Every id backbone of the registry is accepted (`--models hstu,hstu-erl,hstu-prl`);
the default runs SASRec and BERT4Rec.
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
from rearec_keras.datasets import load_movielens  # noqa: E402
from rearec_keras.backbones import backbone_names  # noqa: E402
from rearec_keras.backbones import declared_setting  # noqa: E402
from rearec_keras.backbones import get_backbone  # noqa: E402

# "backbone" (base model) or "backbone-method", from the registries (the id
# backbones: the text ones need item features).
_METHODS = ("", "-erl", "-prl")
MODELS = [f"{b}{m}" for b in backbone_names() if not get_backbone(b).item_features
          for m in _METHODS]
DEFAULT_MODELS = [f"{b}{m}" for b in ("sasrec", "bert4rec") for m in _METHODS]
KEYS = ("ndcg@10", "ndcg@20", "recall@10", "recall@20")


def run_one(name, seed, split, args):
    backbone, _, method = name.partition("-")
    cls = get_backbone(backbone).model_class(reasoning=bool(method))
    extra = {"learning": method} if method else {}
    keras.utils.set_random_seed(seed)
    kwargs = dict(
        max_length=args.max_length,
        hidden_dim=args.hidden_dim,
        dropout=args.dropout,
        attention_dropout=args.dropout,
        base_temperature=args.temperature,
        **extra,
    )
    # The backbone's own settings given as flags (HSTU: --time-buckets).
    kwargs.update({key: getattr(args, key) for key in get_backbone(backbone).setting_names
                   if hasattr(args, key)})
    if method:
        kwargs.update(
            reasoning_steps=args.reasoning_steps,
            kl_weight=args.kl_weight,
            temperature_decay=args.temperature_decay,
            noise_std=args.noise_std,
        )
    model = cls(split.num_items, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    callbacks = [
        rearec_keras.RankingEvaluationCallback(split.valid, ks=(10, 20), batch_size=1024),
        keras.callbacks.EarlyStopping(
            monitor="val_ndcg@20", mode="max", patience=args.patience, restore_best_weights=True
        ),
    ]
    start = time.perf_counter()
    history = model.fit(
        # {"histories", "timestamps"} for a model with a time bias, else the histories
        split.train.for_model(model).model_inputs(),
        split.train.targets,
        batch_size=args.batch_size,
        epochs=args.epochs,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - start
    valid_curve = history.history["val_ndcg@20"]
    best_epoch = int(np.argmax(valid_curve)) + 1
    test = rearec_keras.evaluate(model, split.test, ks=(10, 20), batch_size=1024)
    per_step = {}
    if getattr(model, "reasoning_steps", 0) > 0:
        for steps in range(model.reasoning_steps + 1):
            per_step[steps] = rearec_keras.evaluate(
                model, split.test, ks=(20,), batch_size=1024,
                score_fn=lambda _, h, s=steps: model.score(h, steps=s, pooling="last"),
            )["ndcg@20"]
    return {
        "model": name, "seed": seed, "best_epoch": best_epoch, "epochs_run": len(valid_curve),
        "best_valid_ndcg@20": float(max(valid_curve)), "train_seconds": seconds,
        "final_loss": float(history.history["loss"][-1]),
        "test": {k: float(test[k]) for k in KEYS}, "test_ndcg@20_last_state_per_step": per_step,
    }


def table(results, names):
    lines = ["| model | " + " | ".join(k.upper().replace("NDCG", "N").replace("RECALL", "R") for k in KEYS) + " | gain vs base |",
             "|---|" + "---|" * (len(KEYS) + 1)]
    means = {}
    for name in names:
        rows = [r for r in results if r["model"] == name]
        if not rows:
            continue
        values = np.array([[r["test"][k] for k in KEYS] for r in rows])
        means[name] = values.mean(axis=0)
        base = name.split("-")[0]
        gain = ""
        if name != base and base in means:
            gain = f"{100 * np.mean(means[name] / means[base] - 1):+.2f}%"
        cells = [f"{m:.4f} ± {s:.4f}" for m, s in zip(values.mean(axis=0), values.std(axis=0))]
        lines.append(f"| {name} (n={len(rows)}) | " + " | ".join(cells) + f" | {gain} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--hidden-dim", type=int, default=64)
    p.add_argument("--max-length", type=int, default=50)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--reasoning-steps", type=int, default=2)
    p.add_argument("--temperature", type=float, default=0.07)
    p.add_argument("--temperature-decay", type=float, default=5.0)
    p.add_argument("--kl-weight", type=float, default=0.05)
    p.add_argument("--noise-std", type=float, default=0.01)
    p.add_argument("--time-buckets", type=int,
                   default=declared_setting("time_buckets").default,
                   help="HSTU's time bias (0: none), fed from the split's history timestamps")
    p.add_argument("--data-path", default=None, help="folder with ml-100k files (else auto)")
    p.add_argument("--out", default=None, help="JSON file to append results to")
    args = p.parse_args()

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = set(names) - set(MODELS)
    if unknown:
        p.error(f"unknown model(s) {sorted(unknown)}; choose from {list(MODELS)}")
    split = data.leave_one_out(load_movielens("ml-100k", path=args.data_path), max_length=args.max_length)
    print(f"backend={keras.backend.backend()} {split}", flush=True)
    results = []
    if args.out and os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in names:
            if any(r["model"] == name and r["seed"] == seed for r in results):
                continue
            r = run_one(name, seed, split, args)
            results.append(r)
            print(json.dumps(r), flush=True)
            if args.out:
                with open(args.out, "w") as f:
                    json.dump(results, f, indent=1)
    print(table(results, names))


if __name__ == "__main__":
    main()
