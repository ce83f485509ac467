"""Run by test_losses_distribution.py in a fresh process (not a test module).

Configures 2 logical CPU devices before TensorFlow initialises them, then
trains one SGD step of a tiny subclassed model whose `compute_loss` sums the
three ReaRec losses, once under `MirroredStrategy` on 2 replicas and once on
a single device, from the same initial weights and the same global batch.
Prints one JSON line with the losses and the updated weights.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from rearec_keras.losses import EnsembleDiversityLoss  # noqa: E402
from rearec_keras.losses import MultiStepCrossEntropy  # noqa: E402
from rearec_keras.losses import ReasoningContrastiveLoss  # noqa: E402
from rearec_keras.losses import progressive_temperature_values  # noqa: E402

BATCH, FEATURES, K, DIM, ITEMS = 8, 5, 2, 4, 7
TAU = 0.5


class TinyReasoner(keras.Model):
    """Features -> K+1 states; tied item table; the three losses."""

    def __init__(self, rcl_groups=1, plain_mean=False, **kwargs):
        super().__init__(**kwargs)
        self.rcl_groups = rcl_groups
        self.plain_mean = plain_mean
        self.encoder = keras.layers.Dense((K + 1) * DIM)
        self.perturb = keras.layers.Dense((K + 1) * DIM)
        self.ce = MultiStepCrossEntropy(
            temperatures=progressive_temperature_values(K, TAU, 2.0),
            variant="code",
            reduction=None if plain_mean else "sum_over_batch_size",
        )
        self.diversity = EnsembleDiversityLoss()
        self.rcl = ReasoningContrastiveLoss(temperature=TAU)

    def build(self, input_shape):
        self.items = self.add_weight(
            shape=(ITEMS + 1, DIM), initializer="random_normal", name="items"
        )
        self.encoder.build(input_shape)
        self.perturb.build(input_shape)

    def call(self, x):
        clean = ops.reshape(self.encoder(x), (-1, K + 1, DIM))
        noisy = clean + 0.1 * ops.reshape(self.perturb(x), (-1, K + 1, DIM))
        return {"clean": clean, "noisy": noisy}

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        clean, noisy = y_pred["clean"], y_pred["noisy"]
        logits = ops.einsum("bkd,nd->bkn", clean, self.items)
        ce = self.ce(y, logits)
        if self.plain_mean:  # the pitfall: no replica scaling
            ce = ops.mean(ce)
        loss = ce + 0.1 * self.diversity(None, logits / TAU)
        size = BATCH // self.rcl_groups
        rcl = [
            self.rcl(None, (clean[g * size:(g + 1) * size],
                            noisy[g * size:(g + 1) * size]))
            for g in range(self.rcl_groups)
        ]
        return loss + sum(rcl) / float(self.rcl_groups)


def train_one_step(strategy, weights, x, y, **model_kwargs):
    with strategy.scope():
        model = TinyReasoner(**model_kwargs)
        model.build((None, FEATURES))
        if weights is not None:
            model.set_weights(weights)
        model.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=False)
    initial = [w.copy() for w in model.get_weights()]
    history = model.fit(
        x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0
    )
    return history.history["loss"][0], initial, model.get_weights()


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, FEATURES)).astype("float32")
    y = rng.integers(1, ITEMS + 1, size=(BATCH,)).astype("int32")
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    mirrored = tf.distribute.MirroredStrategy(devices[:2])
    single = tf.distribute.get_strategy()

    results = {"replicas": mirrored.num_replicas_in_sync}
    # 2 replicas: each replica's in-batch negatives are its half of the batch.
    loss2, init, w2 = train_one_step(mirrored, None, x, y)
    # 1 replica, same weights and global batch, RCL over the same two halves.
    loss1, _, w1 = train_one_step(single, init, x, y, rcl_groups=2)
    results["loss_2_replicas"] = float(loss2)
    results["loss_1_replica"] = float(loss1)
    results["max_weight_diff"] = max(
        float(np.max(np.abs(a - b))) for a, b in zip(w1, w2)
    )
    results["max_weight_update"] = max(
        float(np.max(np.abs(a - b))) for a, b in zip(w1, init)
    )
    # Sensitivity check: a plain mean in compute_loss is not replica-scaled.
    plain2, _, p2 = train_one_step(mirrored, init, x, y, plain_mean=True)
    plain1, _, p1 = train_one_step(
        single, init, x, y, plain_mean=True, rcl_groups=2
    )
    results["plain_mean_2_replicas"] = float(plain2)
    results["plain_mean_1_replica"] = float(plain1)
    results["plain_mean_weight_diff"] = max(
        float(np.max(np.abs(a - b))) for a, b in zip(p1, p2)
    )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
