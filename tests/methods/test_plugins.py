"""The plug-in architecture: a method, a reasoner and phases defined here,
outside the package, train and serve through every entry point."""

import json

import keras
import numpy as np
import pytest
from keras import ops

from rearec_keras import methods
from rearec_keras.layers import Reasoner
from rearec_keras.methods import Method
from rearec_keras.methods import Phase
from rearec_keras.methods import Setting
from rearec_keras.models import ReaRecModel
from rearec_keras.models import ReaSASRec

N, L = 20, 6


class MidStep(Method):
    """A test method: CE of the last state, plus `mid_weight` x CE of the
    middle state from its second phase on."""

    name = "midstep"
    description = "last-step CE, plus the middle step's after one epoch"
    settings = (Setting("mid_weight", 0.5, "weight of the middle step's CE", symbol="μ",
                        minimum=0.0),)
    search_space = {"mid_weight": [0.1, 0.5], "reasoning_steps": [1, 2]}

    def phases(self, model):
        return (Phase("plain", epochs=1), Phase("mid", options={"mid": True}))

    def loss(self, model, x, y, outputs, sample_weight=None):
        loss = self.last_step_loss(model, y, outputs, sample_weight)
        if model.phase.options.get("mid"):
            tau = model.base_temperature
            states = outputs["states"]
            middle = states.shape[1] // 2
            logits, targets = model.training_logits(y, outputs.get("item_table"))(
                states[:, middle : middle + 1], tau)
            loss = loss + self.mid_weight * self.ce(targets, logits / tau,
                                                    sample_weight=sample_weight)
        return loss


@pytest.fixture
def midstep():
    methods.register_method(MidStep)
    try:
        yield MidStep
    finally:
        methods.unregister_method("midstep")


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, N + 1, size=(n, L)).astype("int32")
    x[::3, :2] = 0
    return x, rng.integers(1, N + 1, size=n).astype("int32")


def _model(**kwargs):
    settings = dict(max_length=L, hidden_dim=8, num_layers=1, num_heads=1, intermediate_dim=8,
                    dropout=0.0, attention_dropout=0.0, input_dropout=0.0)
    settings.update(kwargs)
    model = ReaSASRec(N, **settings)
    model.build((None, L))
    return model


def _ce(logits, targets):
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(targets)), targets].mean())


def test_registry_lists_the_builtin_methods_and_rejects_bad_ones():
    assert methods.method_names()[:5] == ("base", "rpe", "naive", "erl", "prl")
    with pytest.raises(ValueError, match=r"`learning` must be one of \['base', 'rpe'"):
        methods.get_method("nope")

    class Clash(Method):
        name = "clash"
        settings = (Setting("kl_weight", 1.0, "other default"),)

    with pytest.raises(ValueError, match="setting 'kl_weight' of method 'clash' differs"):
        methods.register_method(Clash)
    with pytest.raises(ValueError, match="already registered"):
        methods.register_method(type("Other", (Method,), {"name": "erl"}))
    with pytest.raises(ValueError, match="`mid_weight` must be >= 0.0"):
        MidStep(mid_weight=-1.0)
    with pytest.raises(ValueError, match="has no setting.*kl_weight"):
        MidStep(kl_weight=1.0)


def test_plugin_method_loss_matches_a_hand_computation_in_each_phase(midstep):
    model = _model(learning="midstep", mid_weight=0.3, reasoning_steps=2)
    assert [p.name for p in model.phases] == ["plain", "mid"]
    assert model.mid_weight == 0.3 and model.method.mid_weight == 0.3
    x, y = _data(8)
    outputs = model(x, training=True)
    states = keras.ops.convert_to_numpy(outputs["states"])  # [8, 3, d]
    table = keras.ops.convert_to_numpy(model.item_vectors())
    tau = model.base_temperature

    def scores(state):
        s = state @ table.T / tau
        s[:, 0] = -1e9
        return s

    plain = float(model.compute_loss(x, y, outputs))
    np.testing.assert_allclose(plain, _ce(scores(states[:, -1]), y), rtol=1e-4)
    model.set_phase("mid")
    mixed = float(model.compute_loss(x, y, outputs))
    expected = _ce(scores(states[:, -1]), y) + 0.3 * _ce(scores(states[:, 1]), y)
    np.testing.assert_allclose(mixed, expected, rtol=1e-4)


@pytest.mark.heavy
def test_plugin_method_trains_with_fit_switches_phase_and_round_trips(midstep, tmp_path):
    keras.utils.set_random_seed(0)
    model = _model(learning="midstep", mid_weight=0.3, reasoning_steps=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.phase.name)

    x, y = _data()
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[Record()])
    assert seen == ["plain", "mid", "mid"]
    assert np.all(np.isfinite(history.history["loss"]))
    path = tmp_path / "midstep.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert (loaded.learning, loaded.method.mid_weight, loaded.phase.name) == ("midstep", 0.3, "mid")
    np.testing.assert_allclose(loaded.predict(x[:4], verbose=0), model.predict(x[:4], verbose=0),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.tf_only(reason="export writes a TensorFlow SavedModel")
def test_plugin_method_runs_through_train_tune_and_export_commands(midstep, tmp_path,
                                                                     interactions):
    from rearec_keras.cli import build_parser
    from rearec_keras.cli import main

    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "--mid-weight" in help_text and "midstep" in help_text
    common = ["--dataset", "table", "--data-path", interactions, "--max-length", "8",
              "--hidden-dim", "8", "--intermediate-dim", "8", "--num-heads", "1",
              "--num-layers", "1", "--batch-size", "64", "--eval-batch-size", "64",
              "--learning", "midstep"]
    run = tmp_path / "run"
    assert main(["train", *common, "--mid-weight", "0.2", "--epochs", "2", "--run-dir",
                 str(run), "--quiet"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["learning"], config["mid_weight"]) == ("midstep", 0.2)
    assert json.loads((run / "state.json").read_text())["phase"] == "mid"
    assert json.loads((run / "metrics.json").read_text())["model"] == "SASRec+MIDSTEP (K=2)"

    study = tmp_path / "study"
    assert main(["tune", *common, "--algorithm", "grid", "--max-trials", "2", "--epochs", "1",
                 "--no-baseline", "--out", str(study), "--quiet"]) == 0
    summary = (study / "summary.md").read_text()
    assert "mid_weight" in summary  # the method's own search space

    out = tmp_path / "export"
    assert main(["export", str(run), "--out", str(out)]) == 0
    info = json.loads((out / "serving.json").read_text())
    assert (info["learning"], info["inference_pooling"]) == ("midstep", "last")


# ----------------------------------------------------------------------
# Reasoners other than ReaRec's loop.


@keras.saving.register_keras_serializable(package="tests")
class SharedBlockReasoner(Reasoner):
    """A toy depth-recurrent reasoner: one weight-shared block refines every
    position `steps` times; any depth runs (`max_steps=None`)."""

    def __init__(self, hidden_dim, reasoning_steps=2, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim, self.reasoning_steps = hidden_dim, reasoning_steps
        self.block = keras.layers.Dense(hidden_dim, activation="tanh", name="block")

    @property
    def max_steps(self):
        return None

    def build(self, input_shape):
        self.block.build((None, self.hidden_dim))
        self.built = True

    def call(self, item_inputs, padding_mask, steps=None, training=None):
        steps = self.reasoning_steps if steps is None else steps
        mask = ops.cast(padding_mask, item_inputs.dtype)[:, :, None]
        h = item_inputs * mask
        states = [h[:, -1]]
        for _ in range(steps):
            h = (self.block(h) + item_inputs) * mask
            states.append(h[:, -1])
        return {"states": ops.stack(states, axis=1), "sequence_states": h}

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim,
                "reasoning_steps": self.reasoning_steps}


def test_a_depth_recurrent_reasoner_plugs_in_and_scales_depth_at_test_time(tmp_path):
    keras.utils.set_random_seed(0)
    model = ReaRecModel(N, max_length=L, hidden_dim=8, reasoning_steps=2, learning="erl",
                        reasoner=SharedBlockReasoner(8, reasoning_steps=2))
    model.build((None, L))
    params = model.count_params()
    x, y = _data()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    deep = model.reasoning_states(x[:4], steps=7)  # beyond the trained depth
    assert deep.shape == (4, 8, 8)
    np.testing.assert_allclose(deep[:, :3], model.reasoning_states(x[:4]), atol=1e-5)
    assert model.score(x[:4], steps=7).shape == (4, N + 1)
    assert model.count_params() == params  # no weights per step
    path = tmp_path / "deep.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.score(x[:4], steps=5), model.score(x[:4], steps=5),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="not both"):
        ReaRecModel(N, reasoner=SharedBlockReasoner(8), encoder=keras.layers.Dense(8))


class HaltingReasoner(SharedBlockReasoner):
    """Halts row i after `i % 3` steps (a fixed per-row depth)."""

    def call(self, item_inputs, padding_mask, steps=None, training=None):
        out = super().call(item_inputs, padding_mask, steps, training)
        rows = ops.shape(item_inputs)[0]
        depth = ops.arange(rows) % 3
        out["step_mask"] = ops.arange(ops.shape(out["states"])[1])[None, :] <= depth[:, None]
        return out


@pytest.mark.parametrize("learning, pooling", [("rpe", "last"), ("erl", "mean")])
def test_per_row_halting_reads_each_rows_valid_steps(learning, pooling):
    model = ReaRecModel(N, max_length=L, hidden_dim=8, reasoning_steps=3, learning=learning,
                        reasoner=HaltingReasoner(8, reasoning_steps=3))
    model.build((None, L))
    x, _ = _data(6)
    states = model.reasoning_states(x)  # [6, 4, 8], every step
    vectors = keras.ops.convert_to_numpy(model.user_vectors(x)) * model.base_temperature
    for row in range(6):
        valid = states[row, : row % 3 + 1]
        expected = valid[-1] if pooling == "last" else valid.mean(axis=0)
        np.testing.assert_allclose(vectors[row], expected, rtol=1e-5, atol=1e-6)


def test_pooling_with_a_step_mask_by_hand():
    states = np.arange(2 * 3 * 2, dtype="float32").reshape(2, 3, 2)
    mask = np.array([[True, True, False], [True, True, True]])
    last = keras.ops.convert_to_numpy(methods.get_method("rpe")().pool(states, mask))
    mean = keras.ops.convert_to_numpy(methods.get_method("erl")().pool(states, mask))
    np.testing.assert_allclose(last, [states[0, 1], states[1, 2]])
    np.testing.assert_allclose(mean, [states[0, :2].mean(0), states[1].mean(0)])


def test_a_custom_encoder_saves_inside_the_standard_model(tmp_path):
    @keras.saving.register_keras_serializable(package="tests")
    class DenseCacheEncoder(keras.layers.Layer):
        """Position-wise encoder with the cache interface (no attention)."""

        def __init__(self, hidden_dim, **kwargs):
            super().__init__(**kwargs)
            self.hidden_dim = hidden_dim
            self.dense = keras.layers.Dense(hidden_dim)

        def build(self, shape):
            self.dense.build((None, self.hidden_dim))
            self.built = True

        def call(self, inputs, attention_mask=None, cache=None, training=None):
            return self.dense(inputs), cache

        def get_config(self):
            return {**super().get_config(), "hidden_dim": self.hidden_dim}

    model = ReaRecModel(N, max_length=L, hidden_dim=8, learning="erl",
                        encoder=DenseCacheEncoder(8, name="dense_encoder"))
    model.build((None, L))
    assert model.reasoning.encoder.name == "dense_encoder"
    x, _ = _data(4)
    path = tmp_path / "enc.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.reasoning.encoder).__name__ == "DenseCacheEncoder"
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------
# The drift cases the redesign fixed.


def test_base_models_say_base_and_erl_logits_divide_by_base_temperature():
    from rearec_keras import SASRec
    from rearec_keras.experiments.config import RunConfig
    from rearec_keras.tuning import SearchSpace

    base = SASRec(N, max_length=L, hidden_dim=8, num_heads=1)
    assert (base.learning, base.reasoning_steps) == ("base", 0)
    # base_temperature changes ERL's loss, so tuning may vary it under ERL.
    space = SearchSpace({"base_temperature": [0.1, 1.0]}, RunConfig(learning="erl"))
    assert space.names == ["base_temperature"]
    x, y = _data(8)
    losses = []
    for tau in (0.1, 1.0):
        keras.utils.set_random_seed(0)
        model = _model(learning="erl", base_temperature=tau)
        losses.append(float(model.compute_loss(x, y, model(x, training=True))))
    assert abs(losses[0] - losses[1]) > 1e-3


def test_prl_warmup_is_a_phase_and_phases_are_checked():
    model = _model(learning="prl", noise_std=0.1, noise_warmup_epochs=2)
    assert [(p.name, p.epochs) for p in model.phases] == [("warmup", 2), ("noise", None)]
    assert [model.phase_for_epoch(e).name for e in range(4)] == ["warmup", "warmup", "noise",
                                                                 "noise"]
    assert "noisy_states" not in model(_data(4)[0], training=True)
    model.set_phase("noise")
    assert "noisy_states" in model(_data(4)[0], training=True)
    with pytest.raises(ValueError, match=r"has no phase 'spt' \(its phases: \['warmup', 'noise'\]"):
        model.set_phase("spt")
    assert [p.name for p in _model(learning="prl", noise_std=0.0).phases] == ["train"]


def test_a_resumed_fit_starts_in_the_phase_of_its_epoch():
    keras.utils.set_random_seed(0)
    model = _model(learning="prl", noise_std=0.1, noise_warmup_epochs=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(self.model.phase.name)

    x, y = _data(16)
    # What BackupAndRestore does on resume: fit continues at the saved epoch.
    model.fit(x, y, batch_size=16, epochs=3, initial_epoch=2, verbose=0, callbacks=[Record()])
    assert seen == ["noise"]
    assert model.get_config()["phase"] == "noise"


@pytest.mark.tf_only(reason="a phase's train_step gets the backend's own arguments")
def test_a_phase_can_bring_its_own_train_step():
    calls = []

    def frozen_step(model, data):
        calls.append(len(data))  # traced once per train function
        return {"frozen": ops.convert_to_tensor(1.0)}

    class Frozen(Method):
        name = "frozen"

        def phases(self, model):
            return (Phase("train"), Phase("frozen", train_step=frozen_step))

    methods.register_method(Frozen)
    try:
        model = _model(learning="frozen", phase="frozen")
        model.compile(optimizer="adam")
        before = [np.array(w) for w in model.get_weights()]
        x, y = _data(16)
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        # The schedule puts epoch 0 in the first phase ("train"): it trains.
        assert "loss" in history.history and not calls
        trained = [np.array(w) for w in model.get_weights()]
        assert any(not np.array_equal(a, b) for a, b in zip(before, trained))
        model.set_phase("frozen")
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0,
                            callbacks=[methods_schedule_off()])
        assert history.history["frozen"] == [1.0] and calls
        # The phase's own step ran instead of Keras': no update.
        for a, b in zip(trained, model.get_weights()):
            np.testing.assert_array_equal(a, np.array(b))
    finally:
        methods.unregister_method("frozen")


def methods_schedule_off():
    """A PhaseSchedule that keeps the phase set by hand."""
    from rearec_keras.training import PhaseSchedule

    class Keep(PhaseSchedule):
        def on_epoch_begin(self, epoch, logs=None):
            pass

    return Keep()
