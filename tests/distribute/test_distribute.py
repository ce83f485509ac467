"""`rearec_keras.distribute` and the `strategy` run setting, in-process.

Nothing here creates a multi-device strategy (that needs a fresh process:
see the other modules of this directory); these tests cover the names, the
errors, the roles of a multi-worker cluster and the global-batch rules.
"""

import json
import types

import keras
import numpy as np
import pytest

from rearec_keras import distribute
from rearec_keras.experiments import RunConfig
from rearec_keras.experiments import runner
from rearec_keras.experiments.config import ConfigError
from rearec_keras.training import setup_for

BACKEND = keras.backend.backend()
tf_only = pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow strategies")


def _replicas(n):
    """A stand-in strategy: only the replica count (no cluster)."""
    return types.SimpleNamespace(num_replicas_in_sync=n)


def _cluster_member(task_type, task_id, cluster):
    import tensorflow as tf

    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
    return types.SimpleNamespace(cluster_resolver=resolver, num_replicas_in_sync=2)


def test_names_and_the_default():
    assert distribute.check_strategy(None) == "default"
    assert distribute.make_strategy(None) is None
    assert distribute.make_strategy("default") is None
    assert distribute.num_replicas(None) == 1
    with distribute.distribution_scope("default"):
        assert distribute.check_strategy("default") == "default"
    assert "default" in distribute.available_strategies()
    assert distribute.available_strategies("tensorflow") == ("default", "mirrored", "multi_worker")
    assert distribute.available_strategies("jax") == ("default", "data_parallel")
    assert distribute.available_strategies("torch") == ("default",)


def test_unknown_name_lists_the_strategies():
    with pytest.raises(distribute.StrategyError, match="unknown strategy 'horovod'; choose from "
                       "default, mirrored, multi_worker, data_parallel"):
        distribute.check_strategy("horovod")


def test_a_strategy_of_another_backend_names_the_active_one():
    other = next(n for n in distribute.STRATEGIES if n not in distribute.available_strategies())
    with pytest.raises(distribute.StrategyError) as info:
        distribute.make_strategy(other)
    message = str(info.value)
    assert f"strategy {other!r} needs the" in message
    assert f"Keras runs on {BACKEND}" in message
    assert f"strategies for {BACKEND}: {', '.join(distribute.available_strategies())}" in message


def test_devices_only_for_replicating_strategies():
    with pytest.raises(distribute.StrategyError, match="devices only apply"):
        distribute.make_strategy("default", devices=["/cpu:0"])


@tf_only
def test_multi_worker_needs_a_valid_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(distribute.StrategyError, match="TF_CONFIG environment variable, which "
                                                       "is not set"):
        distribute.make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{cluster: [")
    with pytest.raises(distribute.StrategyError, match="TF_CONFIG is not valid JSON"):
        distribute.make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}}))
    with pytest.raises(distribute.StrategyError, match="needs a 'cluster' and a 'task'"):
        distribute.make_strategy("multi_worker")


@tf_only
def test_cpu_devices_cannot_change_once_tensorflow_started():
    import tensorflow as tf

    tf.constant(0)  # the runtime is up
    have = len(tf.config.list_logical_devices("CPU"))
    assert distribute.simulate_cpu_devices(have) == have  # already so: a no-op
    with pytest.raises(distribute.StrategyError, match="already initialised its devices"):
        distribute.simulate_cpu_devices(have + 1)


def test_global_batch_must_split_evenly():
    assert distribute.check_global_batch(8, _replicas(4)) == 8
    assert distribute.check_global_batch(7, None) == 7
    with pytest.raises(distribute.StrategyError, match="batch_size=10 is the global batch and "
                                                       "must be divisible by the 4 replicas"):
        distribute.check_global_batch(10, _replicas(4))


@tf_only
def test_roles_of_a_multi_worker_cluster(tmp_path):
    workers = {"worker": ["h0:1", "h1:1", "h2:1"]}
    first = _cluster_member("worker", 0, workers)
    third = _cluster_member("worker", 2, workers)
    assert distribute.worker_role(first) == ("worker", 0)
    assert distribute.is_chief(first) and not distribute.is_chief(third)
    assert distribute.worker_dir(tmp_path, first) == tmp_path
    assert distribute.worker_dir(tmp_path, third) == tmp_path / "workers" / "worker-2"
    # With an explicit chief task, worker 0 is an ordinary worker.
    with_chief = {"chief": ["c:1"], **workers}
    assert distribute.is_chief(_cluster_member("chief", 0, with_chief))
    assert not distribute.is_chief(_cluster_member("worker", 0, with_chief))
    # Outside a cluster every process is its own chief.
    assert distribute.is_chief(None) and distribute.worker_role(_replicas(2)) is None
    assert distribute.worker_dir(tmp_path, None) == tmp_path


@tf_only
def test_multi_worker_datasets_are_sharded_by_data():
    import tensorflow as tf

    dataset = tf.data.Dataset.range(8).batch(4)
    assert distribute.prepare_dataset(dataset, None) is dataset
    assert distribute.prepare_dataset(dataset, _replicas(2)) is dataset
    sharded = distribute.prepare_dataset(dataset, _cluster_member("worker", 1, {
        "worker": ["h0:1", "h1:1"]}))
    assert (sharded.options().experimental_distribute.auto_shard_policy
            == tf.data.experimental.AutoShardPolicy.DATA)
    assert [b.tolist() for b in sharded.as_numpy_iterator()] == [[0, 1, 2, 3], [4, 5, 6, 7]]


# ----------------------------------------------------------------------
# The run setting.


def test_strategy_is_a_validated_run_setting():
    assert RunConfig().strategy == "default"
    assert RunConfig(strategy="mirrored").strategy == "mirrored"
    with pytest.raises(ConfigError, match="strategy"):
        RunConfig(strategy="horovod")


def test_a_run_resumes_under_another_strategy(tmp_path):
    config = RunConfig(dataset="table", data_path="x.csv")
    config.save(tmp_path / "config.json")
    assert runner.check_run_dir(config.replace(strategy="mirrored"), tmp_path) is True
    with pytest.raises(runner.RunError, match="differs in seed"):
        runner.check_run_dir(config.replace(seed=1), tmp_path)


def test_settings_diff_ignores_inside_nested_settings():
    old = {"config": {"strategy": "default", "seed": 0}, "max_trials": 3}
    new = {"config": {"strategy": "mirrored", "seed": 1}, "max_trials": 3}
    assert runner.settings_diff(old, new, ignore=("strategy",), nested=("config",)) == ["seed"]


def _part(n):
    from rearec_keras.data.splits import SplitPart

    rng = np.random.default_rng(0)
    histories = rng.integers(1, 10, size=(n, 5)).astype("int32")
    return SplitPart(name="train", histories=histories,
                     targets=rng.integers(1, 10, size=n).astype("int32"),
                     user_ids=np.arange(n, dtype="int32"), timestamps=np.arange(n),
                     history_lengths=np.full(n, 5, dtype="int32"))


def test_training_batches_are_global_and_whole_under_replicas(monkeypatch):
    config = RunConfig(dataset="table", data_path="x.csv", batch_size=4)
    sizes = lambda ds: [len(np.asarray(y)) for _, y in ds]  # noqa: E731
    # One device: the last partial batch stays.
    assert sizes(setup_for(config).training_dataset(_part(10))) == [4, 4, 2]
    # 2 replicas: whole global batches only.
    monkeypatch.setattr(distribute, "make_strategy", lambda name: _replicas(2))
    assert sizes(setup_for(config).training_dataset(_part(10))) == [4, 4]
    with pytest.raises(ConfigError, match="batch_size=5 is the global batch"):
        setup_for(config.replace(batch_size=5)).training_dataset(_part(10))
    with pytest.raises(ConfigError, match="has 3 examples, fewer than one global batch"):
        setup_for(config).training_dataset(_part(3))
