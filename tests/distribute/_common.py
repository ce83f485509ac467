"""Shared by the distribution scripts (run in fresh processes, not tests).

Tiny ReaRec models without dropout, a fixed synthetic batch stream, and
initial weights drawn from numpy (the same in every process), so that runs
on 1 and 2 replicas can be compared number for number.
"""

import json

import numpy as np

NUM_ITEMS, MAX_LENGTH, GLOBAL_BATCH, STEPS = 20, 8, 8, 2
LEARNING_RATE = 0.02
TINY = dict(
    max_length=MAX_LENGTH, hidden_dim=16, num_layers=1, num_heads=1, intermediate_dim=16,
    dropout=0.0, attention_dropout=0.0, input_dropout=0.0,
)
LARES_TINY = dict(
    num_pre_layers=1, num_core_layers=1, reasoning_steps=2, depth_sampler="constant",
    state_init="zero", base_temperature=1.0, attention_dropout=0.0,
)
# name -> (model class name, extra constructor arguments)
CASES = {
    "sasrec_base": ("SASRec", {}),
    "erl_code": ("ReaSASRec", dict(learning="erl", reasoning_steps=2, kl_weight=0.05,
                                   loss_variant="code")),
    "erl_paper": ("ReaSASRec", dict(learning="erl", reasoning_steps=2, kl_weight=0.05,
                                    loss_variant="paper")),
    "prl_code": ("ReaSASRec", dict(learning="prl", reasoning_steps=2, noise_std=0.0,
                                   temperature_decay=2.0, loss_variant="code")),
    "prl_paper": ("ReaSASRec", dict(learning="prl", reasoning_steps=2, noise_std=0.0,
                                    temperature_decay=2.0, loss_variant="paper")),
    # 2 layers: with one, the newest item's output (r_0) is the same under
    # causal and bidirectional attention.
    "bert4rec_erl": ("ReaBERT4Rec", dict(learning="erl", reasoning_steps=2, kl_weight=0.05,
                                         num_layers=2)),
    # The noisy twin from the first epoch (its contrastive term included).
    # τ = 1 so that the in-batch negatives carry weight in the softmax.
    "prl_noise": ("ReaSASRec", dict(learning="prl", reasoning_steps=2, noise_std=0.5,
                                    noise_warmup_epochs=0, base_temperature=1.0,
                                    temperature_decay=2.0)),
    # LARES without randomness (zero T_0, constant depth, no dropout).
    # SPT's CE alone: exact on any number of replicas.
    "lares_ce": ("LARES", dict(LARES_TINY, trajectory_weight=0.0, step_weight=0.0, rpt=False)),
    # SPT with both alignment terms (in-batch negatives: per replica, like
    # PRL's); the positive is the row itself (plain (x, y) data). k̄ = 1:
    # the step term (a random step) is off.
    "lares_spt": ("LARES", dict(LARES_TINY, reasoning_steps=1, trajectory_weight=0.5,
                                step_weight=0.5, rpt=False)),
    # RPT (the script pins the phase): tied rollouts, so the k3 KL to the
    # reference (its own initial weights, ≠ the policy's) drives the update.
    "lares_rpt": ("LARES", dict(LARES_TINY, rpt=True, rpt_learning_rate=LEARNING_RATE,
                                rpt_dropout=0.0, group_size=2, rpt_kl_weight=1.0)),
}


def data(seed=0):
    """`STEPS` global batches of left-padded histories and their targets."""
    rng = np.random.default_rng(seed)
    n = GLOBAL_BATCH * STEPS
    lengths = rng.integers(1, MAX_LENGTH + 1, size=n)
    x = np.zeros((n, MAX_LENGTH), dtype="int32")
    for row, length in enumerate(lengths):
        x[row, MAX_LENGTH - length:] = rng.integers(1, NUM_ITEMS + 1, size=length)
    y = rng.integers(1, NUM_ITEMS + 1, size=n).astype("int32")
    return x, y


def make_model(case):
    """The case's model, built. The global seed is reset first: random
    states the weights do not hold (PRL's noise seed) start equal too."""
    import keras

    from rearec_keras import models

    keras.utils.set_random_seed(0)
    cls_name, kwargs = CASES[case]
    model = getattr(models, cls_name)(NUM_ITEMS, **{**TINY, **kwargs})
    model.build((None, MAX_LENGTH))
    return model


def enter_phase(model, case):
    """The RPT cases train in RPT (the reference is the weights' own)."""
    if case.startswith("lares_rpt"):
        model.set_phase("rpt", pin=True)


def initial_weights(model, seed=0):
    """Float weights drawn from numpy (LayerNorm scales around 1), other
    weights (e.g. seed states) as the model made them."""
    rng = np.random.default_rng(seed)
    out = []
    for variable, value in zip(model.weights, model.get_weights()):
        if not np.issubdtype(value.dtype, np.floating):
            out.append(value)
            continue
        draw = rng.normal(0.0, 0.05, size=value.shape).astype(value.dtype)
        out.append(draw + 1.0 if variable.path.endswith("gamma") else draw)
    return out


def max_abs_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(u, "float64") - np.asarray(v, "float64"))))
               for u, v in zip(a, b))


def float_weights(model):
    return [w for w in model.get_weights() if np.issubdtype(w.dtype, np.floating)]


def emit(results):
    print(json.dumps(results), flush=True)
    return 0
