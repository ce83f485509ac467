"""Run by test_jax_data_parallel.py in a fresh process (not a test module).

JAX backend with the host CPU split into 2 devices: for each case, trains
the same tiny model from the same initial weights on the same global
batches (2 SGD steps) on one device and under `keras.distribution.
DataParallel` over 2 devices. Prints one JSON line.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

from rearec_keras import distribute  # noqa: E402

distribute.simulate_cpu_devices(2)

import _common as C  # noqa: E402
import keras  # noqa: E402

CASES = ("erl_code", "erl_paper", "prl_code", "prl_noise", "lares_spt", "lares_rpt")  # all


def fit(strategy, case, init, x, y):
    with distribute.distribution_scope(strategy):
        model = C.make_model(case)
        model.set_weights(init)
        model.compile(optimizer=keras.optimizers.SGD(C.LEARNING_RATE))
        C.enter_phase(model, case)
        history = model.fit(x, y, batch_size=C.GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0)
    return float(history.history["loss"][0]), model


def main(cases=None):
    import jax

    x, y = C.data()
    parallel = distribute.make_strategy("data_parallel")
    results = {"backend": keras.backend.backend(), "devices": len(jax.devices()),
               "replicas": distribute.num_replicas(parallel), "cases": {}}
    for case in cases.split(",") if cases else CASES:
        init = C.initial_weights(C.make_model(case))
        loss1, one = fit(None, case, init, x, y)
        loss2, two = fit(parallel, case, init, x, y)
        results["cases"][case] = {
            "loss_1_device": loss1,
            "loss_2_devices": loss2,
            "max_weight_diff": C.max_abs_diff(one.get_weights(), two.get_weights()),
            "max_weight_update": C.max_abs_diff(one.get_weights(), init),
            "sharded_weights": str(two.trainable_weights[0].value.sharding),
        }
    return C.emit(results)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
