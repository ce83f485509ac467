"""Run by test_multi_worker.py in fresh processes (not a test module).

`python _multi_worker_script.py single OUT` trains the ERL model of
`_common` on one device; `python _multi_worker_script.py worker OUT
[DATA_PATH]`, started once per worker with `TF_CONFIG` set, trains it under
`MultiWorkerMirroredStrategy` on the same global batches (each worker gets
its share of every batch), then, with DATA_PATH, runs `train_run` with
`strategy="multi_worker"` on that file. Each process writes
`ROLE.json` (loss, run metrics) and `ROLE.npz` (weights) to OUT.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rearec_keras import distribute  # noqa: E402

CASE = "erl_code"


def main(role, out_dir, data_path=None):
    out_dir = Path(out_dir)
    # Before any TensorFlow op: the collective ops are set up here.
    strategy = distribute.make_strategy("multi_worker" if role == "worker" else None)
    name = "single"
    if strategy is not None:
        task_type, task_id = distribute.worker_role(strategy)
        name = f"{task_type}-{task_id}"

    import _common as C
    import keras
    import numpy as np
    import tensorflow as tf

    x, y = C.data()
    init = C.initial_weights(C.make_model(CASE))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(C.GLOBAL_BATCH)
    dataset = distribute.prepare_dataset(dataset, strategy)
    with distribute.distribution_scope(strategy):
        model = C.make_model(CASE)
        model.set_weights(init)
        model.compile(optimizer=keras.optimizers.SGD(C.LEARNING_RATE))
        history = model.fit(dataset, epochs=1, verbose=0)
    # The rows each step gives this process (Keras distributes the dataset
    # the same way in fit).
    if strategy is not None:
        batches = [
            (strategy.experimental_local_results(xb)[0].numpy(),
             strategy.experimental_local_results(yb)[0].numpy())
            for xb, yb in strategy.experimental_distribute_dataset(dataset)
        ]
    else:
        batches = [(xb.numpy(), yb.numpy()) for xb, yb in dataset]
    result = {
        "name": name,
        "step_rows": [[[*map(int, r), int(t)] for r, t in zip(xb, yb)] for xb, yb in batches],
        "replicas": distribute.num_replicas(strategy),
        "is_chief": distribute.is_chief(strategy),
        "loss": float(history.history["loss"][0]),
        "max_weight_update": C.max_abs_diff(model.get_weights(), init),
    }
    np.savez(out_dir / f"{name}.npz", *model.get_weights())
    if data_path is not None:
        from rearec_keras.experiments import RunConfig
        from rearec_keras.experiments import train_run

        config = RunConfig(dataset="table", data_path=data_path, max_length=10, hidden_dim=16,
                           intermediate_dim=32, num_layers=1, batch_size=64,
                           eval_batch_size=64, epochs=1, strategy="multi_worker")
        metrics = train_run(config, out_dir / "run", verbose=0)
        result["run_test_metrics"] = metrics["test"]["final"]
        result["run_dir"] = str(distribute.worker_dir(out_dir / "run", strategy))
    (out_dir / f"{name}.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
