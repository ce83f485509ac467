"""Every public way into a model and the evaluator refuses what it cannot
score correctly: ids outside the catalog, another catalog, settings that
cannot train; empty batches give empty results (core: every backend)."""

import numpy as np
import pytest


def test_every_evaluation_entry_point_checks_the_catalog(tiny_split):
    import rearec_keras
    from rearec_keras import ReaSASRec
    from rearec_keras.experiments.analysis import rank_targets

    assert tiny_split.test.num_items == tiny_split.num_items == 30
    assert tiny_split.test.subset([0, 1]).num_items == 30
    bigger = ReaSASRec(40, max_length=10, hidden_dim=8, num_heads=1, intermediate_dim=16)
    bigger.build((None, 10))
    for call in (lambda: rearec_keras.evaluate(bigger, tiny_split.test),
                 lambda: rearec_keras.compute_ranks(bigger, tiny_split.test),
                 lambda: rearec_keras.compute_ranks(None, tiny_split.test,
                                                    score_fn=lambda m, h: bigger.predict(h)),
                 lambda: rank_targets(bigger, tiny_split.test)):
        with pytest.raises(ValueError, match="scores 40 items but the data comes from a catalog of 30"):
            call()
    # Plain arrays carry no catalog: their ids are checked instead.
    histories, targets = tiny_split.test.histories, tiny_split.test.targets
    assert "ndcg@10" in rearec_keras.evaluate(bigger, (histories, targets))


@pytest.fixture(scope="module")
def small_model():
    from rearec_keras import ReaSASRec

    model = ReaSASRec(30, max_length=5, hidden_dim=8, num_heads=1, intermediate_dim=16,
                      reasoning_steps=2)
    model.build((None, 5))
    return model


MESSAGE = r"history contains item id (-1|31) \(row 0, column 4\) but the model knows 30 items"


@pytest.mark.parametrize("bad", [-1, 31])
def test_ids_out_of_range_are_refused_on_every_way_into_a_model(small_model, bad):
    import keras

    import rearec_keras

    x = np.array([[0, 0, 1, 2, bad]], dtype="int32")
    tensor = keras.ops.convert_to_tensor(x)
    ways = {
        "call": lambda: small_model(x),
        "call on a tensor": lambda: small_model(tensor),
        "predict_on_batch": lambda: small_model.predict_on_batch(tensor),
        "predict": lambda: small_model.predict(x, verbose=0),
        "predict on a tensor": lambda: small_model.predict(tensor, verbose=0),
        "recommend": lambda: small_model.recommend(x, k=3),
        "score": lambda: small_model.score(x),
        "evaluate": lambda: rearec_keras.evaluate(small_model, (x, np.array([1]))),
    }
    for name, way in ways.items():
        with pytest.raises(ValueError, match=MESSAGE):
            way()


@pytest.mark.tf_only(reason="tf.data input")
def test_ids_out_of_range_are_refused_in_a_tf_data_dataset(small_model):
    import tensorflow as tf

    good = np.array([[0, 0, 1, 2, 3]] * 3, dtype="int32")
    bad = good.copy()
    bad[2, 4] = -1
    assert small_model.predict(tf.data.Dataset.from_tensor_slices(good).batch(2),
                               verbose=0).shape == (3, 31)
    for dataset in (tf.data.Dataset.from_tensor_slices(bad).batch(2),
                    tf.data.Dataset.from_tensor_slices((bad, np.ones(3, "int32"))).batch(2)):
        with pytest.raises(ValueError, match=r"history contains item id -1 \(row 0, column 4\)"):
            small_model.predict(dataset, verbose=0)


def test_empty_batches_give_empty_results_and_ragged_lists_explain_padding(small_model):
    empty = np.zeros((0, 5), dtype="int32")
    assert small_model.predict(empty, verbose=0).shape == (0, 31)
    assert small_model.predict_on_batch(empty).shape == (0, 31)
    assert small_model.score(empty).shape == (0, 31)
    assert small_model.step_scores(empty).shape == (0, 3, 31)
    assert small_model.reasoning_states(empty).shape == (0, 3, 8)
    ids, scores = small_model.recommend(empty, k=4)
    assert ids.shape == scores.shape == (0, 4) and ids.dtype == np.int32
    for way in (small_model.predict, small_model.score, small_model):
        with pytest.raises(ValueError, match="different lengths.*left-pad every row with 0"):
            way([[1, 2, 3], [4]])


def test_the_models_refuse_the_same_bounds():
    from rearec_keras import ReaSASRec

    with pytest.raises(ValueError, match="overflows float32"):
        ReaSASRec(30, reasoning_steps=32, learning="prl", temperature_decay=20.0)
    with pytest.raises(ValueError, match="reasoning_steps=33 is beyond"):
        ReaSASRec(30, reasoning_steps=33, learning="erl")
    with pytest.raises(ValueError, match="num_negatives=31 is larger than the catalog"):
        ReaSASRec(30, negatives="popularity", num_negatives=31,
                  item_frequencies=np.ones(31))
    ReaSASRec(30, negatives="uniform", num_negatives=30)  # the whole catalog is fine
