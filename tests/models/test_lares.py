"""LARES with SPT (`learning="lares"`): same-target positives, the three-pass
loss, learning, test-time depth, saving, settings (core: every backend)."""

import keras
import numpy as np
import pytest

from rearec_keras import LARES
from rearec_keras.data.batches import PositiveBatches
from rearec_keras.data.batches import positive_rows
from rearec_keras.data.batches import same_target_groups

np_ = keras.ops.convert_to_numpy


def test_positives_share_the_target_and_fall_back_to_the_row_itself():
    targets = np.array([5, 3, 5, 7, 3, 5])
    rng = np.random.default_rng(0)
    groups = same_target_groups(targets)
    seen = set()
    for _ in range(200):
        rows = positive_rows(targets, rng, groups)
        assert (targets[rows] == targets).all()
        assert rows[3] == 3  # target 7 occurs once: the row itself
        assert (rows[[0, 1, 2, 4, 5]] != [0, 1, 2, 4, 5]).all()  # another row when there is one
        seen.update(zip(range(6), rows))
    assert {(0, 2), (0, 5), (2, 0), (2, 5), (5, 0), (5, 2)} <= seen  # uniform over the others


def test_positive_batches_carry_same_target_histories(tiny_split):
    part = tiny_split.train
    batches = PositiveBatches(part, 16, shuffle=True, seed=0)
    (histories, positives), targets = batches[0]
    assert histories.shape == positives.shape == (16, part.max_length)
    by_history = {tuple(h): t for h, t in zip(part.histories, part.targets)}
    for p, t in zip(positives, targets):
        assert by_history[tuple(p)] == t


def _model(num_items, **kwargs):
    kwargs = {**dict(max_length=10, hidden_dim=16, num_heads=2, intermediate_dim=32,
                     dropout=0.1, num_pre_layers=1, num_core_layers=1, rpt=False), **kwargs}
    model = LARES(num_items, **kwargs)
    model.build((None, 10))
    return model


@pytest.mark.heavy
def test_lares_learns_a_planted_pattern_and_scales_its_depth_at_test_time(tiny_split):
    import rearec_keras

    keras.utils.set_random_seed(0)
    model = _model(tiny_split.num_items, reasoning_steps=2)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    batches = PositiveBatches(tiny_split.train, 64, shuffle=True, seed=0)
    before = rearec_keras.evaluate(model, tiny_split.test)["recall@10"]
    history = model.fit(batches, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    after = rearec_keras.evaluate(model, tiny_split.test)["recall@10"]
    assert after > max(0.6, before + 0.25)  # chance: 10/30
    params = model.count_params()
    for k in (1, 4, 12):
        scores = model.score(tiny_split.test.histories[:4], steps=k)
        assert scores.shape == (4, tiny_split.num_items + 1) and np.isfinite(scores[:, 1:]).all()
    assert model.count_params() == params and model.max_steps is None


def test_the_spt_loss_adds_both_alignment_terms(tiny_split):
    keras.utils.set_random_seed(1)
    histories = tiny_split.train.histories[:32]
    targets = tiny_split.train.targets[:32]
    x = (histories, histories[::-1].copy())
    base = _model(tiny_split.num_items, trajectory_weight=0.0, step_weight=0.0,
                  state_init="zero", dropout=0.0)
    weights = base.get_weights()
    losses = {}
    for alpha, gamma in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)):
        model = _model(tiny_split.num_items, trajectory_weight=alpha, step_weight=gamma,
                       state_init="zero", dropout=0.0, depth_sampler="constant")
        model.set_weights(weights)
        outputs = model(x, training=True)
        losses[(alpha, gamma)] = float(np_(model.compute_loss(x, targets, outputs)))
    assert losses[(1.0, 0.0)] > losses[(0.0, 0.0)] + 0.1  # unrelated "positives": InfoNCE > 0
    assert losses[(0.0, 1.0)] > losses[(0.0, 0.0)]


def test_round_trip_and_bad_settings(tmp_path, tiny_split):
    model = _model(tiny_split.num_items, adapter="concat", pre_norm=True, state_init="zero")
    path = tmp_path / "lares.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    histories = tiny_split.test.histories[:5]
    np.testing.assert_allclose(loaded.score(histories, steps=3), model.score(histories, steps=3),
                               atol=1e-5)
    assert loaded.reasoning.adapter == "concat" and loaded.reasoning.norm_first
    for kwargs, name in ((dict(reasoning_steps=0), "reasoning_steps"),
                         (dict(trajectory_weight=-1.0), "trajectory_weight"),
                         (dict(depth_sampler="geometric"), "depth_sampler"),
                         (dict(similarity="l2"), "similarity")):
        with pytest.raises(ValueError, match=name):
            LARES(30, **kwargs)
    with pytest.raises(ValueError, match="learning='lares'"):
        LARES(30, learning="erl")


def test_run_config_takes_the_official_defaults_for_lares():
    from rearec_keras.experiments.config import RunConfig

    config = RunConfig(learning="lares")
    assert (config.reasoning_steps, config.base_temperature, config.dropout,
            config.intermediate_dim) == (4, 1.0, 0.5, 256)
    assert RunConfig(learning="lares", reasoning_steps=3).reasoning_steps == 3
    assert RunConfig(learning="prl").reasoning_steps == 2  # others keep theirs
    assert config.describe() == "SASRec+LARES (K=4)"


class _PassScores:
    """A model stand-in whose `score` returns preset score rows per pass."""

    def __init__(self, passes, num_items):
        self.passes, self.num_items, self.calls = passes, num_items, 0

    def score(self, histories, batch_size=None):
        scores = self.passes[self.calls]
        self.calls += 1
        return scores


def test_the_filter_keeps_exactly_the_rows_with_the_target_in_some_pass_top_k():
    from rearec_keras.methods.lares import filter_training_rows

    class Part:
        histories = np.ones((4, 3), dtype="int32")
        targets = np.array([1, 2, 3, 4], dtype="int32")
        num_items = 5

    rng = np.random.default_rng(0)
    passes = [rng.normal(size=(4, 6)).astype("float32") for _ in range(3)]
    passes = [np.where(np.arange(6) == 0, -1e9, s) for s in passes]
    model = _PassScores(passes, 5)
    kept, report = filter_training_rows(model, Part, top_k=2, passes=3, batch_size=4)
    expected = set()
    for s in passes:
        for row, t in enumerate(Part.targets):
            rank = 1 + int((np.delete(s[row, 1:], t - 1) >= s[row, t]).sum())
            if rank <= 2:
                expected.add(row)
    assert set(kept.tolist()) == expected and model.calls == 3
    assert report["kept"] == len(expected) and report["rows"] == 4 and report["top_k"] == 2


def _rpt_model(num_items, **kwargs):
    kwargs = {**dict(rpt=True, rpt_after_epochs=1, state_init="zero", dropout=0.0, rpt_dropout=0.0,
                     reasoning_steps=2), **kwargs}
    return _model(num_items, **kwargs)


def test_rpt_starts_from_a_frozen_copy_of_the_spt_model(tiny_split):
    keras.utils.set_random_seed(2)
    model = _rpt_model(tiny_split.num_items)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert [p.name for p in model.phases] == ["spt", "rpt"]
    histories = tiny_split.test.histories[:8]
    model.set_phase("rpt")  # the switch PhaseSchedule makes after the SPT epochs
    assert float(np_(model.reference_ready)) == 1.0
    assert float(np_(model.optimizer.learning_rate)) == pytest.approx(5e-4)
    ref = model.method.reference_states(model, histories, 2)["states"]
    own = model._states(histories, steps=2)["states"]
    np.testing.assert_allclose(np_(ref), np_(own), atol=1e-5)
    assert not model.reference_reasoning.trainable_weights
    # A resumed run keeps its restored snapshot: entering RPT again copies nothing.
    model.reasoning.set_weights([w + 0.1 for w in model.reasoning.get_weights()])
    model.set_phase("spt")
    model.set_phase("rpt")
    np.testing.assert_allclose(np_(model.method.reference_states(model, histories, 2)["states"]),
                               np_(ref), atol=1e-6)


def test_rpt_loss_is_zero_with_tied_rewards_and_the_reference_equal_to_the_policy(
        tiny_split, value_and_grad):
    keras.utils.set_random_seed(3)
    # reward_k = the whole catalog: every rollout has reward 1, so every
    # advantage is 0; the reference is the policy: the KL term is 0 too.
    model = _rpt_model(tiny_split.num_items, reward_k=tiny_split.num_items,
                       depth_sampler="constant")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.set_phase("rpt")
    histories = tiny_split.train.histories[:16]
    targets = tiny_split.train.targets[:16]
    variables = model.reasoning.trainable_weights

    def loss(z):  # gradients are taken with respect to the reasoner's weights
        return model.method.rpt_loss(model, histories, keras.ops.convert_to_tensor(targets)) + (
            0.0 * keras.ops.sum(z))

    value, grads = value_and_grad(loss, [np.zeros((1,), "float32")], variables)
    assert abs(float(value)) < 1e-6
    for g in grads[1:]:
        assert g is None or np.abs(g).max() < 1e-6


def test_fit_builds_an_unbuilt_model_from_its_pair_batches(tiny_split):
    # Keras builds an unbuilt model from the first batch's shape; LARES'
    # batches are (histories, positives) pairs, so that shape is a pair.
    keras.utils.set_random_seed(5)
    model = LARES(tiny_split.num_items, max_length=10, hidden_dim=8, num_heads=2,
                  intermediate_dim=16, num_pre_layers=1, num_core_layers=1, rpt=False,
                  reasoning_steps=1, depth_sampler="constant")
    assert not model.built
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(PositiveBatches(tiny_split.train, 64, shuffle=True, seed=0), epochs=1,
                        verbose=0)
    assert model.built and np.isfinite(history.history["loss"]).all()
    assert model.score(tiny_split.test.histories[:3]).shape == (3, tiny_split.num_items + 1)


@pytest.mark.heavy
def test_spt_then_rpt_trains_with_fit_and_round_trips(tmp_path, tiny_split):
    keras.utils.set_random_seed(4)
    model = _rpt_model(tiny_split.num_items, group_size=2, dropout=0.2, rpt_dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(PositiveBatches(tiny_split.train, 64, shuffle=True, seed=0), epochs=2,
                        verbose=0)
    assert np.isfinite(history.history["loss"]).all() and model.phase.name == "rpt"
    rates = {layer.rate for layer in model.reasoning._flatten_layers(include_self=False)
             if isinstance(layer, keras.layers.Dropout)}
    assert rates == {0.1}  # RPT's dropout
    with pytest.raises(ValueError, match="rpt_dropout=0.1 needs a model built with dropout > 0"):
        _rpt_model(30, rpt_dropout=0.1)
    path = tmp_path / "rpt.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.phase.name == "rpt" and float(np_(loaded.reference_ready)) == 1.0
    histories = tiny_split.test.histories[:4]
    np.testing.assert_allclose(loaded.score(histories), model.score(histories), atol=1e-5)


@pytest.mark.heavy
def test_lares_on_a_text_backbone_pretrains_post_trains_and_round_trips(tmp_path):
    # LARES' reasoner over UniSRec's adapted text table: SPT lowers the loss
    # and trains the adaptor, RPT runs against a copy of that table, and the
    # model saves and loads with its features.
    from rearec_keras import ReaUniSRec

    keras.utils.set_random_seed(0)
    n, length = 12, 6
    features = np.random.default_rng(0).normal(size=(n, 10)).astype("float32")
    model = ReaUniSRec(n, item_features=features, learning="lares", max_length=length,
                       hidden_dim=16, num_heads=2, intermediate_dim=16, dropout=0.1,
                       num_pre_layers=1, num_core_layers=1, reasoning_steps=2,
                       state_init="zero", group_size=2)
    model.build((None, length))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    rng = np.random.default_rng(0)
    h = rng.integers(1, n + 1, size=(32, length)).astype("int32")
    y = (h[:, -1] % n + 1).astype("int32")
    adaptor = [w.copy() for w in model.adaptor.get_weights()]
    losses = model.fit(h, y, batch_size=16, epochs=6, verbose=0).history["loss"]
    assert np.mean(losses[-2:]) < np.mean(losses[:2])
    assert any(not np.allclose(a, b) for a, b in zip(adaptor, model.adaptor.get_weights()))
    model.set_phase("rpt", pin=True)
    table = np_(model._item_table(training=False))
    np.testing.assert_allclose(np_(model.reference_table), table, rtol=1e-6, atol=1e-6)
    rpt = model.fit(h, y, batch_size=16, epochs=1, verbose=0).history["loss"]
    assert np.isfinite(rpt).all()
    path = tmp_path / "lares_text.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is ReaUniSRec and loaded.phase.name == "rpt"
    np.testing.assert_allclose(loaded.score(h[:4], steps=3), model.score(h[:4], steps=3),
                               rtol=1e-5, atol=1e-5)


def test_lares_halts_per_user_like_each_user_alone():
    # Deterministic T_0 (zero): a user's halting run equals its run alone and,
    # up to its halting step, the fixed-depth states; unreachable thresholds
    # give the fixed-depth scores.
    keras.utils.set_random_seed(0)
    model = _model(30, state_init="zero", dropout=0.0, attention_dropout=0.0, reasoning_steps=4)
    # Larger random weights than the initialisers': the steps move apart
    # (at initialisation the core block is near a fixed point, KL ~ 1e-7).
    draw = np.random.default_rng(1)
    model.set_weights([
        draw.normal(0, 0.5, size=w.shape).astype(w.dtype) + v.path.endswith("gamma")
        if np.issubdtype(w.dtype, np.floating) else w
        for w, v in zip(model.get_weights(), model.weights)])
    rng = np.random.default_rng(0)
    h = rng.integers(1, 31, size=(20, 10)).astype("int32")
    h[:5, :6] = 0
    scores, halts = model.score_with_halting(h, "kl", {"threshold": -1.0})
    assert (halts == 4).all()
    np.testing.assert_allclose(scores, model.score(h), rtol=1e-5, atol=1e-5)
    from rearec_keras import halting

    signals = halting.halting_signals(model.step_scores(h), model.reasoning_states(h))
    rule = {"threshold": float(np.median(np_(signals["kl"])[:, 1]))}  # splits at step 2
    states, halts = model.halting_states(h, "kl", rule, batch_size=6)
    assert len(set(halts.tolist())) > 1
    fixed = model.reasoning_states(h)
    for row, step in enumerate(halts):
        alone, own = model.halting_states(h[row:row + 1], "kl", rule)
        assert own[0] == step
        np.testing.assert_allclose(alone[0], states[row], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(states[row, :step + 1], fixed[row, :step + 1],
                                   rtol=1e-5, atol=1e-5)


def test_lares_refuses_backbones_whose_attention_it_would_drop():
    from rearec_keras.models import ReaBERT4Rec
    from rearec_keras.models import ReaHSTU

    with pytest.raises(ValueError, match="ReaBERT4Rec would lose its bidirectional attention"):
        ReaBERT4Rec(20, learning="lares", max_length=5, hidden_dim=8, num_heads=1)
    with pytest.raises(ValueError, match="ReaHSTU would lose its layers"):
        ReaHSTU(20, learning="lares", max_length=5, hidden_dim=8, num_heads=1)
