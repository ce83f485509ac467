"""
Title: Data-parallel training with `rearec_keras.distribute`
Description: Train ReaSASRec on several devices with one global batch:
    `MirroredStrategy` under TensorFlow, `keras.distribution.DataParallel`
    under JAX. Without accelerators the CPU is split into N devices, which
    shows the mechanics (not a speed-up: the devices share the same cores).
    The model saved under the strategy reloads in a plain process.
    (`rearec-keras train --strategy mirrored --cpu-devices 2` does the same
    with a run directory.)

Run:
    python examples/distributed_training.py                    # 2 CPU devices
    python examples/distributed_training.py --cpu-devices 4 --epochs 5
    KERAS_BACKEND=jax python examples/distributed_training.py  # data_parallel
    python examples/distributed_training.py --cpu-devices 0    # real GPUs only
"""

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import rearec_keras  # noqa: E402
from rearec_keras import methods  # noqa: E402
from rearec_keras import data  # noqa: E402
from rearec_keras import distribute  # noqa: E402


# Every registered method that reasons (ERL, PRL, the ablations, plug-ins).
REASONING_METHODS = [m for m in methods.method_names() if methods.get_method(m).reasons]

def main(argv=None):
    parser = argparse.ArgumentParser(description="Data-parallel ReaSASRec training.")
    parser.add_argument("--strategy", default=None, choices=distribute.STRATEGIES,
                        help="default: mirrored (TensorFlow) or data_parallel (JAX)")
    parser.add_argument("--cpu-devices", type=int, default=2,
                        help="split the CPU into N devices first (0: leave the devices alone)")
    parser.add_argument("--learning", default="erl", choices=REASONING_METHODS)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256, help="global batch")
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=50)
    parser.add_argument("--data-path", help="a user_id,item_id,timestamp CSV (default: ml-100k)")
    parser.add_argument("--max-train-examples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # 1. Devices and strategy, before the backend runs anything.
    if args.cpu_devices:
        distribute.simulate_cpu_devices(args.cpu_devices)
    name = args.strategy or {"tensorflow": "mirrored", "jax": "data_parallel"}.get(
        keras.backend.backend(), "default")
    strategy = distribute.make_strategy(name)
    replicas = distribute.num_replicas(strategy)
    distribute.check_global_batch(args.batch_size, strategy)
    print(f"{keras.backend.backend()} backend, strategy {name}: {replicas} replicas, global "
          f"batch {args.batch_size} ({args.batch_size // replicas} per replica)")

    # 2. Data: the same pipeline as on one device; whole global batches only.
    keras.utils.set_random_seed(args.seed)
    if args.data_path:
        dataset = rearec_keras.datasets.load_interactions(args.data_path)
    else:
        dataset = rearec_keras.load_movielens("ml-100k")
    split = data.leave_one_out(dataset, max_length=args.max_length)
    train = split.train
    if args.max_train_examples:
        rng = np.random.default_rng(args.seed)
        train = train.subset(rng.choice(len(train), args.max_train_examples, replace=False))
    print(split)
    batches = train.as_dataset(args.batch_size, shuffle=True, seed=args.seed,
                               drop_remainder=replicas > 1)
    batches = distribute.prepare_dataset(batches, strategy)  # multi_worker: shard by data

    # 3. Create, compile and fit inside the scope.
    with distribute.distribution_scope(strategy):
        model = rearec_keras.ReaSASRec(
            split.num_items, max_length=args.max_length, hidden_dim=args.hidden_dim,
            learning=args.learning,
        )
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = model.fit(
            batches, epochs=args.epochs, shuffle=False, verbose=2,
            callbacks=[rearec_keras.RankingEvaluationCallback(
                split.valid, ks=(10, 20),
                # A direct call: Keras' predict_on_batch repeats the rows once
                # per replica for a model made under MirroredStrategy.
                score_fn=lambda m, h: m(h, training=False),
            )],
        )

    # 4. Save under the strategy, reload without it.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        plain = keras.saving.load_model(path)
    test = rearec_keras.evaluate(plain, split.test, ks=(10, 20))
    print(f"\nreloaded without the strategy: test ndcg@20 {test['ndcg@20']:.4f}, "
          f"recall@20 {test['recall@20']:.4f}")
    return {"replicas": replicas, "loss": history.history["loss"], "test": test}


if __name__ == "__main__":
    main()
