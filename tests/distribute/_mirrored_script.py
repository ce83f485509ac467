"""Run by test_mirrored.py in a fresh process (not a test module).

Splits the CPU into 2 logical devices before TensorFlow initialises them,
then, for each case of `_common.CASES`, trains the same tiny model from the
same initial weights on the same global batches (2 SGD steps) on one device
and under `MirroredStrategy` on 2 replicas. Prints one JSON line with the
losses and weight differences; writes the models trained under the
strategy (`CASE.keras`) and their scores (`CASE.npy`) to `argv[1]`.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rearec_keras import distribute  # noqa: E402

distribute.simulate_cpu_devices(2)

import _common as C  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

SAVED = ("sasrec_base", "prl_noise", "bert4rec_erl", "lares_rpt")
# cases whose in-batch negatives come from each replica's rows
PER_REPLICA = ("prl_noise", "lares_spt")
# case -> the auxiliary loss the sensitivity check leaves unscaled
SENSITIVITY = {"erl_code": "diversity_loss", "prl_noise": "contrastive_loss"}


def _row_independent_noise(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Noise that is the same for every row (a fixed pattern over features),
    so that a replica's share of the batch gets the noise that the same
    rows get on one device."""
    pattern = ops.sin(ops.arange(shape[-1], dtype="float32") * 1.7 + 0.3)
    return ops.broadcast_to(ops.cast(mean + stddev * pattern, dtype or "float32"), shape)


keras.random.normal = _row_independent_noise


class _Unscaled:
    """A loss as a plain mean: without the 1/replicas scaling (the pitfall)."""

    def __init__(self, loss):
        self.loss = loss

    def __call__(self, *args, **kwargs):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return self.loss(*args, **kwargs) * float(replicas)


def fit(strategy, case, init, x, y, unscaled=None):
    with distribute.distribution_scope(strategy):
        model = C.make_model(case)
        model.set_weights(init)
        if unscaled is not None:  # e.g. "diversity_loss": that auxiliary loss, unscaled
            if not hasattr(model.method, unscaled):
                raise RuntimeError(f"the sensitivity check expects the method's {unscaled} loss")
            setattr(model.method, unscaled, _Unscaled(getattr(model.method, unscaled)))
        model.compile(optimizer=keras.optimizers.SGD(C.LEARNING_RATE))
        C.enter_phase(model, case)
        history = model.fit(x, y, batch_size=C.GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0)
    return float(history.history["loss"][0]), model


def per_replica_reference(case, init, x, y, replicas=2):
    """What 2 replicas should compute, on one device: each step, the loss and
    gradient of each half of the global batch, then one SGD step with the
    mean gradient (PRL's in-batch negatives come from the half)."""
    model = C.make_model(case)
    model.set_weights(init)
    model.noise_active = model.uses_noise
    C.enter_phase(model, case)
    losses = []
    for step in range(C.STEPS):
        rows = slice(step * C.GLOBAL_BATCH, (step + 1) * C.GLOBAL_BATCH)
        total = [tf.zeros_like(v) for v in model.trainable_weights]
        for xs, ys in zip(np.split(x[rows], replicas), np.split(y[rows], replicas)):
            with tf.GradientTape() as tape:
                loss = model.compute_loss(xs, ys, model(xs, training=True), training=True)
            grads = tape.gradient(loss, model.trainable_weights)
            total = [t + tf.convert_to_tensor(g) / replicas for t, g in zip(total, grads)]
            losses.append(float(loss))
        for v, g in zip(model.trainable_weights, total):
            v.assign(v - C.LEARNING_RATE * g)
    return float(np.mean(losses)), model


def main(out_dir, cases=None):
    out_dir = Path(out_dir)
    x, y = C.data()
    np.save(out_dir / "x.npy", x)
    mirrored = distribute.make_strategy("mirrored")
    results = {"replicas": distribute.num_replicas(mirrored), "cases": {}}
    for case in cases.split(",") if cases else C.CASES:
        init = C.initial_weights(C.make_model(case))
        loss1, one = fit(None, case, init, x, y)
        loss2, two = fit(mirrored, case, init, x, y)
        row = {
            "loss_1_replica": loss1,
            "loss_2_replicas": loss2,
            "max_weight_diff": C.max_abs_diff(one.get_weights(), two.get_weights()),
            "max_weight_update": C.max_abs_diff(one.get_weights(), init),
        }
        if case in PER_REPLICA:
            ref_loss, ref = per_replica_reference(case, init, x, y)
            row["loss_per_replica_reference"] = ref_loss
            row["max_weight_diff_vs_reference"] = C.max_abs_diff(ref.get_weights(),
                                                                 two.get_weights())
            row["max_weight_diff_global_vs_per_replica"] = C.max_abs_diff(
                ref.get_weights(), one.get_weights())
        if case in SENSITIVITY:
            # The same harness on a model whose auxiliary loss skips the
            # 1/replicas scaling: the loss and the update must differ.
            attribute = SENSITIVITY[case]
            bad_loss, bad = fit(mirrored, case, init, x, y, unscaled=attribute)
            row["unscaled_aux_loss_2_replicas"] = bad_loss
            row["unscaled_aux_weight_diff"] = C.max_abs_diff(two.get_weights(),
                                                             bad.get_weights())
        if case in SAVED:
            two.save(out_dir / f"{case}.keras")
            np.save(out_dir / f"{case}.npy", two.predict(x, verbose=0))
            # Reloaded in this process too, outside the strategy's scope.
            plain = keras.saving.load_model(out_dir / f"{case}.keras")
            row["reloaded_max_score_diff"] = float(np.max(np.abs(
                plain.predict(x, verbose=0) - np.load(out_dir / f"{case}.npy"))))
            row["reloaded_under_strategy"] = str(plain.distribute_strategy.num_replicas_in_sync)
        results["cases"][case] = row
    return C.emit(results)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
