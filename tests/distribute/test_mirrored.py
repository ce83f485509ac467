"""MirroredStrategy on 2 logical CPU devices trains exactly like 1 device.

`_mirrored_script.py` trains each tiny model (no dropout) from the same
initial weights on the same 2 global batches of 8 with SGD, once on one
device and once on 2 replicas (4 examples each). The loss and every updated
weight must agree: the ReaRec losses (per-step CE, ERL's diversity term,
PRL's progressive CE and contrastive term) scale by the number of replicas
(shared/PITFALLS.md, the loss-scaling trap).

PRL's noisy twin runs with noise that is the same for every row (patched in
the script), so a replica's rows get the noise they get on one device. Its
contrastive term takes in-batch negatives from each replica's half, so 2
replicas are compared with a one-device reference that averages the
gradients of the two halves; the global-batch run differs (the test checks
that it does, which is what the reference is for).
"""

import numpy as np
import pytest

FAST = "sasrec_base,erl_code,prl_noise,bert4rec_erl,lares_ce,lares_spt,lares_rpt"
SLOW = "erl_paper,prl_code,prl_paper"
REL, ATOL = 1e-5, 1e-5


@pytest.fixture(scope="module")
def mirrored(script_runner, tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored")
    return script_runner("_mirrored_script.py", out, FAST), out


def _check_equivalent(row, min_update=1e-2):
    assert row["loss_2_replicas"] == pytest.approx(row["loss_1_replica"], rel=REL)
    # The steps moved the weights, identically on 1 and 2 replicas.
    assert row["max_weight_update"] > min_update
    assert row["max_weight_diff"] < ATOL


@pytest.mark.parametrize("case", ["sasrec_base", "erl_code", "bert4rec_erl", "lares_ce",
                                  "lares_rpt"])
def test_two_replicas_match_one_device(mirrored, case):
    results, _ = mirrored
    assert results["replicas"] == 2
    # LARES' RPT moves the weights by its KL term alone (tied rollouts).
    _check_equivalent(results["cases"][case], 1e-3 if case == "lares_rpt" else 1e-2)


@pytest.mark.parametrize("case", ["prl_noise", "lares_spt"])
def test_in_batch_negatives_match_the_per_replica_reference(mirrored, case):
    # PRL's contrastive term, LARES' trajectory and step alignment.
    row = mirrored[0]["cases"][case]
    assert row["loss_2_replicas"] == pytest.approx(row["loss_per_replica_reference"], rel=REL)
    assert row["max_weight_update"] > 1e-3
    assert row["max_weight_diff_vs_reference"] < ATOL
    # In-batch negatives per replica: not the global-batch result.
    assert row["max_weight_diff_global_vs_per_replica"] > 1e-4


@pytest.mark.parametrize("case, aux", [("erl_code", "diversity"), ("prl_noise", "contrastive")])
def test_harness_detects_an_unscaled_auxiliary_loss(mirrored, case, aux):
    # The same comparison on a model whose auxiliary loss (ERL's diversity
    # term at weight 0.05, PRL's contrastive term) is a plain mean without
    # the 1/replicas scaling: the loss and the update must visibly differ.
    row = mirrored[0]["cases"][case]
    reference = row["loss_2_replicas"]
    assert abs(row["unscaled_aux_loss_2_replicas"] - reference) > 10 * REL * abs(reference)
    assert row["unscaled_aux_weight_diff"] > 10 * ATOL


@pytest.mark.parametrize("case", ["sasrec_base", "prl_noise", "bert4rec_erl", "lares_rpt"])
def test_model_trained_under_the_strategy_reloads_without_it(mirrored, case):
    import keras

    import rearec_keras.models  # noqa: F401  (registers the classes to load)

    results, out = mirrored
    row = results["cases"][case]
    # Reloaded in the script's process, outside the strategy scope ...
    assert row["reloaded_under_strategy"] == "1"
    assert row["reloaded_max_score_diff"] < 1e-4
    # ... and here, a process that never made a strategy.
    model = keras.saving.load_model(out / f"{case}.keras")
    scores = model.predict(np.load(out / "x.npy"), verbose=0)
    np.testing.assert_allclose(scores, np.load(out / f"{case}.npy"), rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_paper_loss_variants_and_prl_without_noise(script_runner, tmp_path):
    results = script_runner("_mirrored_script.py", tmp_path, SLOW)
    for case in SLOW.split(","):
        _check_equivalent(results["cases"][case])
