"""NegativeSampler: candidates, logQ correction, accidental hits, sampling."""

import keras
import numpy as np
import pytest
from keras import ops

from rearec_keras.layers import NegativeSampler
from rearec_keras.utils.padding import PADDING_LOGIT

N = 6
COUNTS = np.array([0, 4, 2, 0, 1, 1, 2], dtype="float64")  # index = item id
P = COUNTS / COUNTS.sum()


def np_(x):
    return ops.convert_to_numpy(x)


def table(d=3, seed=0):
    return np.random.default_rng(seed).normal(size=(N + 1, d)).astype("float32")


def test_in_batch_logits_logq_and_accidental_hits_by_hand():
    sampler = NegativeSampler(N, negatives="in_batch", item_frequencies=COUNTS)
    sampler.build()
    targets = np.array([2, 2, 5], dtype="int32")
    E = table()
    vectors = np.random.default_rng(1).normal(size=(3, 2, 3)).astype("float32")
    cands = sampler.sample(targets)
    temps = [0.5, 2.0]
    logits, columns = sampler.logits(vectors, E, cands, temps)
    logits, columns = np_(logits), np_(columns)
    assert logits.shape == (3, 2, 4)  # padding + 3 in-batch candidates
    np.testing.assert_array_equal(columns, [1, 2, 3])
    raw = np.einsum("bsd,cd->bsc", vectors, E[targets])
    log_q = np.log(3 * P[targets])
    expected = raw - np.reshape(temps, (1, 2, 1)) * log_q.reshape(1, 1, 3)
    # Row 0's target (2) reappears as row 1's positive and vice versa.
    expected[0, :, 1] = PADDING_LOGIT
    expected[1, :, 0] = PADDING_LOGIT
    np.testing.assert_allclose(logits[:, :, 1:], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np_(cands["hits"])[:, 1:], [[0, 1, 0], [1, 0, 0], [0, 0, 0]])


def test_sampled_logits_put_the_positive_first_and_mask_hits():
    sampler = NegativeSampler(N, negatives="popularity", num_negatives=4, item_frequencies=COUNTS,
                              seed=3)
    sampler.build()
    targets = np.array([1, 5], dtype="int32")
    cands = sampler.sample(targets)
    ids = np_(cands["ids"])
    E = table()
    vectors = np.random.default_rng(2).normal(size=(2, 1, 3)).astype("float32")
    logits, columns = sampler.logits(vectors, E, cands, 0.25)
    logits = np_(logits)
    np.testing.assert_array_equal(np_(columns), [1, 1])
    raw = np.concatenate(
        [np.einsum("bd,bd->b", vectors[:, 0], E[targets])[:, None], vectors[:, 0] @ E[ids].T], axis=1
    )
    log_q = np.log(4 * np.concatenate([P[targets][:, None], np.tile(P[ids], (2, 1))], axis=1))
    expected = raw - 0.25 * log_q
    hits = ids[None, :] == targets[:, None]
    expected[:, 1:][hits] = PADDING_LOGIT
    np.testing.assert_allclose(logits[:, 0, 1:], expected, rtol=1e-5, atol=1e-5)


def test_popularity_sampling_follows_the_counts_and_skips_unseen_items():
    sampler = NegativeSampler(N, negatives="popularity", num_negatives=20000,
                              item_frequencies=COUNTS, seed=0)
    sampler.build()
    ids = np_(sampler.sample(np.array([1]))["ids"])
    assert ids.min() >= 1 and ids.max() <= N
    freq = np.bincount(ids, minlength=N + 1) / ids.size
    assert freq[3] == 0 and freq[0] == 0  # zero count: never drawn
    np.testing.assert_allclose(freq, P, atol=0.015)


def test_uniform_sampling_covers_the_catalog_and_needs_no_counts():
    sampler = NegativeSampler(N, negatives="uniform", num_negatives=6000, seed=0)
    sampler.build()
    cands = sampler.sample(np.array([2, 3]))
    ids = np_(cands["ids"])
    freq = np.bincount(ids, minlength=N + 1)[1:] / ids.size
    np.testing.assert_allclose(freq, np.full(N, 1 / N), atol=0.02)
    # A constant log Q cancels in the softmax: no correction is applied.
    assert not np_(cands["log_q"]).any()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(negatives="popularity"), "needs `item_frequencies` to sample from"),
        (dict(negatives="in_batch"), "logq_correction=False"),
        (dict(negatives="sampled"), "negatives"),
        (dict(negatives="uniform", num_negatives=0), "num_negatives"),
        (dict(negatives="popularity", item_frequencies=[1, 2]), "7 entries"),
        (dict(negatives="popularity", item_frequencies=[0, 1, -1, 0, 0, 0, 0]), "item 2"),
        (dict(negatives="popularity", item_frequencies=np.zeros(7)), "all zero"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NegativeSampler(N, **kwargs)


def test_counts_without_the_padding_entry_are_accepted():
    a = NegativeSampler(N, negatives="popularity", item_frequencies=COUNTS[1:])
    b = NegativeSampler(N, negatives="popularity", item_frequencies=COUNTS)
    a.build(), b.build()
    np.testing.assert_allclose(np_(a.log_q), np_(b.log_q))


def test_config_round_trip_keeps_counts_in_the_weights():
    sampler = NegativeSampler(N, negatives="popularity", num_negatives=5, item_frequencies=COUNTS)
    sampler.build()
    config = sampler.get_config()
    assert config["item_frequencies"] == "weights"  # not a 1M-entry JSON list
    clone = NegativeSampler.from_config(config)
    clone.build()
    clone.set_weights(sampler.get_weights())
    np.testing.assert_allclose(np_(clone.log_q), np.log(np.maximum(P, 1e-30)), rtol=1e-5)
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(sampler))
