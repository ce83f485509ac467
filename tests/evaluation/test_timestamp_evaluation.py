"""Evaluation of a model with a time bias: the part's history timestamps
reach the model, and data without them is refused."""

import keras
import numpy as np
import pytest

from rearec_keras import data
from rearec_keras.evaluation import evaluate
from rearec_keras.evaluation import ranking_metrics
from rearec_keras.evaluation import target_ranks
from rearec_keras.experiments.analysis import rank_targets
from rearec_keras.models import ReaHSTU

N_ITEMS = 25
L = 6


def _part(n=40, seed=0, with_times=True):
    rng = np.random.default_rng(seed)
    h = rng.integers(1, N_ITEMS + 1, size=(n, L)).astype("int32")
    for row in range(n):
        h[row, : rng.integers(0, L - 1)] = 0
    gaps = np.exp(rng.uniform(0, 14, size=h.shape)).astype("int64")
    ts = np.where(h != 0, 1_600_000_000 + np.cumsum(gaps, axis=1), 0)
    return data.SplitPart("test", h, rng.integers(1, N_ITEMS + 1, size=n), np.arange(1, n + 1),
                          ts[:, -1] + 5, np.full(n, L), num_items=N_ITEMS,
                          history_timestamps=ts if with_times else None)


def _model(time_buckets=12):
    keras.utils.set_random_seed(0)
    model = ReaHSTU(N_ITEMS, max_length=L, hidden_dim=8, num_heads=2, reasoning_steps=2,
                    learning="erl", time_buckets=time_buckets)
    model.build((None, L))
    if time_buckets:  # a strong time bias, so that timestamps move the ranks
        for block in model.reasoning.encoder.blocks:
            block.attention_bias.time_bias.assign(
                np.linspace(-3, 3, time_buckets + 1).astype("float32"))
    return model


def test_evaluate_equals_scoring_by_hand_with_the_parts_timestamps():
    model, part = _model(), _part()
    scores = model.score(part.histories, timestamps=part.history_timestamps)
    by_hand = ranking_metrics(np.asarray(target_ranks(scores, part.targets)), ks=(5, 10))
    results, ranks = evaluate(model, part, ks=(5, 10), batch_size=16, return_ranks=True)
    assert results == pytest.approx(by_hand, abs=1e-6)
    # The item-chunked path (user vectors x item table) gives the same ranks.
    _, chunked = evaluate(model, part, ks=(5, 10), batch_size=16, item_chunk_size=7,
                          return_ranks=True)
    np.testing.assert_array_equal(chunked, ranks)
    # Other timestamps, other ranks: the evaluator does read them.
    shifted = data.SplitPart(**{**part.__dict__,
                                "history_timestamps": part.history_timestamps // 3})
    assert not np.array_equal(evaluate(model, shifted, return_ranks=True)[1], ranks)
    # score_fn receives the model's inputs dict; dict and tuple data work too.
    seen = []

    def score_fn(m, inputs):
        seen.append(set(inputs))
        return m.score(inputs)

    assert evaluate(model, part, ks=(5, 10), score_fn=score_fn) == pytest.approx(by_hand)
    assert seen[0] == {"histories", "timestamps"}
    as_dict = {"histories": part.histories, "targets": part.targets,
               "timestamps": part.history_timestamps}
    assert evaluate(model, as_dict, ks=(5, 10)) == pytest.approx(by_hand, abs=1e-6)
    as_tuple = ({"histories": part.histories, "timestamps": part.history_timestamps},
                part.targets)
    assert evaluate(model, as_tuple, ks=(5, 10)) == pytest.approx(by_hand, abs=1e-6)


def test_per_step_ranks_read_the_timestamps():
    model, part = _model(), _part()
    step_ranks, final, states = rank_targets(model, part, batch_size=16)
    expected = model.reasoning_states(part.histories, timestamps=part.history_timestamps)
    np.testing.assert_allclose(states, expected, rtol=1e-5, atol=1e-5)
    assert step_ranks.shape == (3, len(part))


def test_data_without_timestamps_is_refused_by_name():
    model = _model()
    with pytest.raises(ValueError, match=r"time bias \(time_buckets=12\).*'test' part\) has none"):
        evaluate(model, _part(with_times=False))
    with pytest.raises(ValueError, match="has none"):
        evaluate(model, (_part().histories, _part().targets))
    # A model without a time bias evaluates parts with or without them alike.
    plain = _model(0)
    assert evaluate(plain, _part()) == evaluate(plain, _part(with_times=False))
