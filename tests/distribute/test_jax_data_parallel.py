"""JAX `keras.distribution.DataParallel` over 2 host devices trains exactly
like 1 device.

Under JAX the whole global batch is one sharded program: the losses see the
global batch, so even PRL with its random noisy twin and in-batch negatives
matches one device (the noise is drawn for the global batch, whatever the
sharding). `_jax_script.py` splits the host CPU into 2 devices before JAX
starts.
"""

import importlib.util

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="jax is not installed (pip install jax)"
)
REL, ATOL = 1e-5, 1e-5


def _check(results, cases):
    assert results["backend"] == "jax"
    assert results["devices"] == 2 and results["replicas"] == 2
    for case in cases:
        row = results["cases"][case]
        assert row["loss_2_devices"] == pytest.approx(row["loss_1_device"], rel=REL), case
        assert row["max_weight_update"] > 1e-3, case
        assert row["max_weight_diff"] < ATOL, case
        # The weights really live on both devices (replicated).
        assert "'batch': 2" in row["sharded_weights"], row["sharded_weights"]


def test_erl_noisy_prl_and_lares_match_one_device(script_runner):
    # LARES: SPT with its alignment terms (in-batch negatives over the
    # global batch) and RPT (the k3 KL to its reference).
    cases = ("erl_code", "prl_noise", "lares_spt", "lares_rpt")
    _check(script_runner("_jax_script.py", ",".join(cases), backend="jax"), cases)


@pytest.mark.slow
def test_erl_paper_and_prl_without_noise_match_one_device(script_runner):
    cases = ("erl_paper", "prl_code")
    _check(script_runner("_jax_script.py", ",".join(cases), backend="jax"), cases)
