import math

import keras
import keras_rs
import numpy as np
import pytest

from rearec_keras.evaluation import ranking_metrics
from rearec_keras.evaluation import target_ranks


def _ranks(*args, **kwargs):
    ranks = keras.ops.convert_to_numpy(target_ranks(*args, **kwargs))
    assert ranks.dtype == np.int32
    return ranks


# ---------------------------------------------------------------- ranks --


def test_hand_computed_ranks():
    # Column 0 is padding; items 1..5.
    scores = np.array(
        [
            [0.0, 0.1, 0.9, 0.5, 0.3, 0.7],
            [0.0, 0.1, 0.9, 0.5, 0.3, 0.7],
            [0.0, 0.1, 0.9, 0.5, 0.3, 0.7],
        ],
        dtype="float32",
    )
    targets = np.array([2, 3, 1], dtype="int32")
    np.testing.assert_array_equal(_ranks(scores, targets), [1, 3, 5])


def test_ties_count_against_target():
    scores = np.array([[0.0, 0.5, 0.5, 0.5, 0.1, 0.9]], dtype="float32")
    # Target 2 ties with items 1 and 3, item 5 is strictly above.
    np.testing.assert_array_equal(_ranks(scores, np.array([2])), [4])
    scores = np.array([[0.0, 0.5, 0.5, 0.5, 0.1]], dtype="float32")
    np.testing.assert_array_equal(_ranks(scores, np.array([1])), [3])
    np.testing.assert_array_equal(_ranks(scores, np.array([3])), [3])


def test_constant_scorer_gets_worst_rank():
    num_items = 50
    scores = np.ones((4, num_items + 1), dtype="float32")
    targets = np.array([1, 7, 25, 50])
    ranks = _ranks(scores, targets)
    np.testing.assert_array_equal(ranks, [num_items] * 4)
    results = ranking_metrics(ranks, ks=(10,))
    assert results == {"ndcg@10": 0.0, "recall@10": 0.0, "mrr@10": 0.0}


def test_padding_column_never_matters():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(6, 21)).astype("float32")
    targets = rng.integers(1, 21, size=6)
    expected = _ranks(scores, targets)
    for pad_value in (1e9, -1e9, np.inf, np.nan, 0.0):
        patched = scores.copy()
        patched[:, 0] = pad_value
        np.testing.assert_array_equal(_ranks(patched, targets), expected)


def test_nan_target_gets_worst_rank():
    scores = np.array(
        [[0.0, np.nan, 0.2, 0.3, -5.0], [0.0, np.nan, np.nan, 0.3, -5.0]],
        dtype="float32",
    )
    np.testing.assert_array_equal(_ranks(scores, np.array([1, 1])), [4, 4])


def test_nan_competitors_do_not_count():
    scores = np.array([[0.0, 0.1, np.nan, np.nan, -1.0]], dtype="float32")
    np.testing.assert_array_equal(_ranks(scores, np.array([1])), [1])
    # ... but they do tie with a -inf target (ties count against it).
    scores = np.array([[0.0, -np.inf, np.nan, 0.5, -1.0]], dtype="float32")
    np.testing.assert_array_equal(_ranks(scores, np.array([1])), [4])


def test_exclude_history_hand_example():
    scores = np.array(
        [
            [0.0, 0.1, 0.9, 0.5, 0.3, 0.7],
            [0.0, 0.1, 0.9, 0.5, 0.3, 0.7],
            [0.0, 0.1, 0.9, 0.5, 0.3, 0.7],
        ],
        dtype="float32",
    )
    histories = np.array([[0, 2, 5], [0, 0, 3], [2, 2, 2]], dtype="int32")
    targets = np.array([3, 3, 4])
    # Off (default): items above the target all count.
    np.testing.assert_array_equal(_ranks(scores, targets, histories), [3, 3, 4])
    np.testing.assert_array_equal(
        _ranks(scores, targets, histories, exclude_history=False), [3, 3, 4]
    )
    ranks = _ranks(scores, targets, histories, exclude_history=True)
    # Row 0: items 2 and 5 were seen -> 3 is first.
    # Row 1: the target is in its own history: still ranked, unchanged.
    # Row 2: item 2 (repeated) removed -> items 5, 3 remain above 4.
    np.testing.assert_array_equal(ranks, [1, 3, 3])


def test_exclude_history_ignores_padding_and_out_of_range_ids():
    scores = np.array([[5.0, 0.2, 0.8, 0.4]], dtype="float32")
    histories = np.array([[0, 0, 0, 99]])
    ranks = _ranks(scores, np.array([1]), histories, exclude_history=True)
    np.testing.assert_array_equal(ranks, [3])


def test_exclude_history_requires_histories():
    with pytest.raises(ValueError, match="requires `histories`"):
        target_ranks(np.zeros((1, 3)), np.array([1]), exclude_history=True)


def test_accepts_tensors_and_low_precision():
    scores = np.array([[0.0, 0.25, 0.5, 0.75]], dtype="float32")
    targets = np.array([2], dtype="int64")
    expected = [2]
    np.testing.assert_array_equal(
        _ranks(keras.ops.convert_to_tensor(scores), targets), expected
    )
    np.testing.assert_array_equal(
        _ranks(
            keras.ops.convert_to_tensor(scores, dtype="float16"),
            keras.ops.convert_to_tensor(targets),
        ),
        expected,
    )
    np.testing.assert_array_equal(
        _ranks(scores.astype("float64"), targets.tolist()), expected
    )


def test_shape_and_range_errors():
    with pytest.raises(ValueError, match="must be 2-D"):
        target_ranks(np.zeros((3,)), np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="must be 1-D"):
        target_ranks(np.zeros((2, 4)), np.array([[1], [2]]))
    with pytest.raises(ValueError, match=r"target item id 4 .*1\.\.3"):
        target_ranks(np.zeros((2, 4)), np.array([1, 4]))
    with pytest.raises(ValueError, match="target item id 0"):
        target_ranks(np.zeros((1, 4)), np.array([0]))


# -------------------------------------------------------------- metrics --


def test_metric_values_from_hand_ranks():
    results = ranking_metrics(np.array([1]), ks=(10,))
    assert results == {"ndcg@10": 1.0, "recall@10": 1.0, "mrr@10": 1.0}
    results = ranking_metrics(np.array([3]), ks=(10,))
    assert results["ndcg@10"] == 0.5
    assert results["recall@10"] == 1.0
    assert results["mrr@10"] == pytest.approx(1 / 3)

    results = ranking_metrics(np.array([1, 3, 5, 2]), ks=(2, 5))
    assert list(results) == [
        "ndcg@2",
        "recall@2",
        "mrr@2",
        "ndcg@5",
        "recall@5",
        "mrr@5",
    ]
    assert results["recall@2"] == 0.5
    assert results["ndcg@2"] == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert results["mrr@2"] == pytest.approx((1 + 0.5) / 4)
    assert results["recall@5"] == 1.0
    assert results["ndcg@5"] == pytest.approx(
        (1 + 0.5 + 1 / math.log2(6) + 1 / math.log2(3)) / 4
    )
    assert results["mrr@5"] == pytest.approx((1 + 1 / 3 + 1 / 5 + 1 / 2) / 4)
    assert all(type(v) is float for v in results.values())


def test_metric_subset_int_k_and_duplicates():
    results = ranking_metrics([1, 11], ks=10, metrics=("recall",))
    assert results == {"recall@10": 0.5}
    results = ranking_metrics([1], ks=(5, 5), metrics=["NDCG", "ndcg"])
    assert results == {"ndcg@5": 1.0}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ks": ()}, "at least one"),
        ({"ks": (10, 0)}, "positive integer"),
        ({"ks": (-1,)}, "positive integer"),
        ({"ks": (2.5,)}, "positive integer"),
        ({"ks": (True,)}, "positive integer"),
        ({"metrics": ("ndcg", "precision")}, "unknown metric name 'precision'"),
        ({"metrics": ()}, "at least one metric"),
    ],
)
def test_metric_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ranking_metrics(np.array([1, 2]), **kwargs)


def test_metric_rank_errors():
    with pytest.raises(ValueError, match="empty"):
        ranking_metrics(np.array([], dtype="int32"))
    with pytest.raises(ValueError, match="1-based"):
        ranking_metrics(np.array([1, 0]))


# --------------------------------------------------- keras-rs agreement --


def _one_hot(targets, num_columns):
    labels = np.zeros((len(targets), num_columns), dtype="float32")
    labels[np.arange(len(targets)), targets] = 1.0
    return labels


def _keras_rs_values(labels, scores, k):
    values = {}
    for name, cls in (
        ("ndcg", keras_rs.metrics.NDCG),
        ("recall", keras_rs.metrics.RecallAtK),
        ("mrr", keras_rs.metrics.MeanReciprocalRank),
    ):
        metric = cls(k=k, shuffle_ties=False)
        metric.update_state(labels, scores)
        values[f"{name}@{k}"] = float(
            keras.ops.convert_to_numpy(metric.result())
        )
    return values


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_keras_rs(seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    batch, num_items = 16, 30
    # Distinct scores (a permutation) so that no tie-breaking rule matters.
    scores = np.stack(
        [rng.permutation(num_items + 1) for _ in range(batch)]
    ).astype("float32")
    targets = rng.integers(1, num_items + 1, size=batch)
    ranks = _ranks(scores, targets)
    ours = ranking_metrics(ranks, ks=(1, 5, 10))

    # keras-rs takes dense labels `(batch, list_size)`: drop column 0.
    labels = _one_hot(targets - 1, num_items)
    for k in (1, 5, 10):
        theirs = _keras_rs_values(labels, scores[:, 1:], k)
        for key, value in theirs.items():
            np.testing.assert_allclose(ours[key], value, rtol=1e-5, atol=1e-6)


def test_exclude_history_agrees_with_keras_rs_mask():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    batch, num_items, seq_len = 12, 25, 6
    scores = rng.normal(size=(batch, num_items + 1)).astype("float32")
    targets = rng.integers(1, num_items + 1, size=batch)
    histories = rng.integers(0, num_items + 1, size=(batch, seq_len))
    histories[:3, -1] = targets[:3]  # target inside its own history
    ranks = _ranks(scores, targets, histories, exclude_history=True)
    # The exclusion must actually matter in this example.
    assert np.any(ranks < _ranks(scores, targets, histories))
    ours = ranking_metrics(ranks, ks=(3, 10))

    # keras-rs masks the padding column and the history items (not the
    # target) through `y_true={"labels": ..., "mask": ...}`.
    labels = _one_hot(targets, num_items + 1)
    mask = np.ones_like(labels, dtype=bool)
    mask[:, 0] = False
    for row in range(batch):
        seen = set(histories[row].tolist()) - {0, int(targets[row])}
        mask[row, sorted(seen)] = False
    for k in (3, 10):
        theirs = _keras_rs_values({"labels": labels, "mask": mask}, scores, k)
        for key, value in theirs.items():
            np.testing.assert_allclose(ours[key], value, rtol=1e-5, atol=1e-6)
