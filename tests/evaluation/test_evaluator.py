import math
import types

import keras
import numpy as np
import pytest

from rearec_keras.evaluation import compute_ranks
from rearec_keras.evaluation import evaluate
from rearec_keras.evaluation import target_ranks

NUM_ITEMS = 5
SEQ_LEN = 3

# Planted scorer: the score row depends only on the last history item.
# Row 1 orders the items 2 (0.9) > 5 (0.7) > 3 (0.5) > 4 (0.3) > 1 (0.1);
# the padding column gets a huge score that must be ignored.
PLANTED = np.zeros((NUM_ITEMS + 1, NUM_ITEMS + 1), dtype="float32")
PLANTED[1] = [100.0, 0.1, 0.9, 0.5, 0.3, 0.7]
PLANTED[2] = [100.0, 0.6, 0.2, 0.8, 0.4, 0.0]


def planted_model():
    inputs = keras.Input((SEQ_LEN,), dtype="int32")
    last = inputs[:, -1]
    scores = keras.layers.Embedding(
        NUM_ITEMS + 1,
        NUM_ITEMS + 1,
        embeddings_initializer=keras.initializers.Constant(PLANTED),
    )(last)
    return keras.Model(inputs, scores)


def split_part(histories, targets):
    """Duck-typed stand-in for `rearec_keras.data.splits.SplitPart`."""
    histories = np.asarray(histories, dtype="int32")
    targets = np.asarray(targets, dtype="int32")
    return types.SimpleNamespace(
        histories=histories,
        targets=targets,
        user_ids=np.arange(1, len(targets) + 1, dtype="int32"),
    )


HAND_PART = split_part(
    [[0, 0, 1], [0, 2, 1], [1, 1, 1], [0, 0, 1], [0, 1, 2]],
    [2, 3, 1, 5, 3],
)
# Without exclusion: 2 is first; 3 is behind 2, 5; 1 is last; 5 is behind 2;
# under row 2, 3 is first.
HAND_RANKS = [1, 3, 5, 2, 1]
# With exclusion, item 2 leaves the competition in rows 1 and 4; in row 2
# the target (1) is its own history and keeps the worst rank.
HAND_RANKS_EXCLUDED = [1, 2, 5, 2, 1]


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


def test_planted_model_hand_values():
    model = planted_model()
    results, ranks = evaluate(model, HAND_PART, ks=(2, 5), return_ranks=True)
    assert ranks.dtype == np.int32
    np.testing.assert_array_equal(ranks, HAND_RANKS)
    n = 5
    assert results["recall@2"] == pytest.approx(3 / n)
    assert results["ndcg@2"] == pytest.approx((1 + 1 + 1 / math.log2(3)) / n)
    assert results["mrr@2"] == pytest.approx((1 + 1 + 0.5) / n)
    assert results["recall@5"] == 1.0
    assert results["ndcg@5"] == pytest.approx(
        (1 + 0.5 + 1 / math.log2(6) + 1 / math.log2(3) + 1) / n
    )
    assert results["mrr@5"] == pytest.approx((1 + 1 / 3 + 1 / 5 + 0.5 + 1) / n)


def test_planted_model_exclude_history():
    model = planted_model()
    ranks = compute_ranks(model, HAND_PART, exclude_history=True)
    np.testing.assert_array_equal(ranks, HAND_RANKS_EXCLUDED)
    # Off by default.
    np.testing.assert_array_equal(compute_ranks(model, HAND_PART), HAND_RANKS)


def test_default_ks_and_keys():
    results = evaluate(planted_model(), HAND_PART)
    assert list(results) == [
        "ndcg@10",
        "recall@10",
        "mrr@10",
        "ndcg@20",
        "recall@20",
        "mrr@20",
    ]
    assert results["recall@10"] == 1.0
    assert all(type(v) is float for v in results.values())


def test_metrics_argument():
    results = evaluate(planted_model(), HAND_PART, ks=(1,), metrics=["recall"])
    assert results == {"recall@1": pytest.approx(2 / 5)}


def _trainable_model(num_items=40, seq_len=4):
    inputs = keras.Input((seq_len,), dtype="int32")
    x = keras.layers.Embedding(num_items + 1, 8, mask_zero=False)(inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(num_items + 1)(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("exclude_history", [False, True])
def test_streaming_is_batch_size_invariant(exclude_history):
    num_items, seq_len, n = 40, 4, 7
    rng = np.random.default_rng(0)
    part = split_part(
        rng.integers(0, num_items + 1, size=(n, seq_len)),
        rng.integers(1, num_items + 1, size=n),
    )
    model = _trainable_model(num_items, seq_len)
    expected = keras.ops.convert_to_numpy(
        target_ranks(
            model.predict(part.histories, verbose=0),
            part.targets,
            part.histories,
            exclude_history=exclude_history,
        )
    )
    for batch_size in (1, 3, n, 100):
        ranks = compute_ranks(
            model,
            part,
            batch_size=batch_size,
            exclude_history=exclude_history,
        )
        np.testing.assert_array_equal(ranks, expected)


def test_data_forms_and_callables():
    table = PLANTED.copy()

    def numpy_scorer(histories):
        return table[np.asarray(histories)[:, -1]]

    for data in (
        HAND_PART,
        (HAND_PART.histories, HAND_PART.targets),
        [HAND_PART.histories.tolist(), HAND_PART.targets.tolist()],
        {"histories": HAND_PART.histories, "targets": HAND_PART.targets},
    ):
        np.testing.assert_array_equal(
            compute_ranks(numpy_scorer, data, batch_size=2), HAND_RANKS
        )


def test_score_fn_overrides_model():
    calls = []

    def score_fn(model, histories):
        calls.append(model)
        return PLANTED[histories[:, -1]]

    sentinel = object()
    ranks = compute_ranks(sentinel, HAND_PART, score_fn=score_fn, batch_size=2)
    np.testing.assert_array_equal(ranks, HAND_RANKS)
    assert calls == [sentinel] * 3
    ranks = compute_ranks(None, HAND_PART, score_fn=score_fn)
    np.testing.assert_array_equal(ranks, HAND_RANKS)


def test_verbose_progress(capsys):
    # Not a terminal (pytest's capture): one summary line, no bar redraws.
    compute_ranks(planted_model(), HAND_PART, batch_size=2, verbose=1)
    out = capsys.readouterr().out
    assert out.startswith("ranking: 5 examples in ") and out.count("\n") == 1
    assert "\r" not in out


# --------------------------------------------------------------- errors --


def test_empty_data():
    with pytest.raises(ValueError, match="empty"):
        evaluate(planted_model(), split_part(np.zeros((0, 3)), []))


def test_histories_not_2d():
    with pytest.raises(ValueError, match="must be 2-D"):
        evaluate(planted_model(), (np.array([1, 2, 3]), np.array([1, 2, 3])))


def test_targets_not_1d():
    with pytest.raises(ValueError, match="must be 1-D"):
        evaluate(planted_model(), (np.ones((2, 3)), np.ones((2, 1))))


def test_targets_length_mismatch():
    with pytest.raises(ValueError, match="length mismatch: 2 targets for 5"):
        evaluate(planted_model(), (HAND_PART.histories, np.array([1, 2])))


def test_target_outside_catalog():
    def scorer(histories):
        return np.zeros((len(histories), 1683), dtype="float32")

    data = (np.ones((3, 2), dtype="int32"), np.array([5, 1700, 3]))
    with pytest.raises(
        ValueError,
        match=(
            r"target item id 1700 .*outside the model's catalog "
            r"1\.\.1682 \(0 is padding\)"
        ),
    ):
        evaluate(scorer, data)
    with pytest.raises(ValueError, match="target item id 0"):
        evaluate(scorer, (np.ones((1, 2)), np.array([0])))


def test_history_outside_catalog_when_excluding():
    def scorer(histories):
        return np.zeros((len(histories), NUM_ITEMS + 1), dtype="float32")

    data = (np.array([[0, 9, 1]]), np.array([1]))
    with pytest.raises(ValueError, match=r"history item id 9 .*1\.\.5"):
        evaluate(scorer, data, exclude_history=True)
    # Without exclusion, histories are only the model's business.
    assert evaluate(scorer, data, ks=(5,))["recall@5"] == 1.0


def test_score_matrix_wrong_rows():
    def scorer(histories):
        return np.zeros((len(histories) + 1, 6), dtype="float32")

    with pytest.raises(ValueError, match="wrong number of rows"):
        evaluate(scorer, HAND_PART)


def test_score_matrix_wrong_rank_or_structure():
    with pytest.raises(ValueError, match="must be 2-D"):
        evaluate(lambda h: np.zeros((len(h),)), HAND_PART)
    with pytest.raises(ValueError, match="score_fn"):
        evaluate(lambda h: {"scores": np.zeros((len(h), 6))}, HAND_PART)


@pytest.mark.parametrize(
    "ks, match",
    [
        ((), "at least one"),
        ((10, 0), "positive integer"),
        ((-5,), "positive integer"),
    ],
)
def test_bad_ks(ks, match):
    with pytest.raises(ValueError, match=match):
        evaluate(planted_model(), HAND_PART, ks=ks)


def test_unknown_metric():
    with pytest.raises(ValueError, match="unknown metric name 'hit'"):
        evaluate(planted_model(), HAND_PART, metrics=("ndcg", "hit"))


def test_bad_data_object_and_batch_size():
    with pytest.raises(ValueError, match=r"\.histories"):
        evaluate(planted_model(), object())
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(planted_model(), HAND_PART, batch_size=0)
    with pytest.raises(ValueError, match="integer item ids"):
        evaluate(planted_model(), (np.full((2, 3), 0.5), np.array([1, 2])))
