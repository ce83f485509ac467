"""Data-parallel training: one name per strategy, for every backend.

`distribution_scope(name)` returns the context manager inside which a model
is created, compiled and fitted; `rearec-keras train --strategy NAME` and
`train_run` use it. The names:

- `"default"` (or None): no distribution, one device; every backend.
- `"mirrored"` (TensorFlow): `tf.distribute.MirroredStrategy` over the
  local GPUs, or over the logical CPU devices when there is no GPU (see
  `simulate_cpu_devices`).
- `"multi_worker"` (TensorFlow): `tf.distribute.MultiWorkerMirroredStrategy`,
  one process per host; the cluster and this process's role come from the
  `TF_CONFIG` environment variable. Create it (`make_strategy`) before
  anything else runs a TensorFlow op: its collective ops are configured at
  start-up.
- `"data_parallel"` (JAX): `keras.distribution.DataParallel` over the local
  devices (`keras.distribution.set_distribution` while the scope is open).

Batch sizes are **global**: a batch of 256 on 2 replicas gives each replica
128 examples per step and one update from the mean gradient over all 256,
the same update as one device on the same 256 examples. Keep the global
batch divisible by the number of replicas (`check_global_batch`), and
drop a last partial batch (`RunConfig`-driven training does both).

Exact equivalence holds for losses that are means over examples (the ReaRec
cross-entropies and the ERL diversity term, which scale by replicas inside
their `keras.losses.Loss` reduction). Under the TensorFlow strategies PRL's
contrastive term (and `negatives="in_batch"` sampling) takes its in-batch
negatives from the replica's own rows, and each replica draws the twin noise
for its rows: a distributed PRL step is the mean of per-replica steps, not
the one-device step on the global batch. Under JAX `data_parallel` the global
batch is one sharded program, so PRL matches one device exactly.

Saved models carry no trace of the strategy: a `.keras` file written under
any of these loads in a plain process.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

STRATEGIES = ("default", "mirrored", "multi_worker", "data_parallel")
# Strategy names each Keras backend can run.
BACKEND_STRATEGIES = {
    "tensorflow": ("default", "mirrored", "multi_worker"),
    "jax": ("default", "data_parallel"),
}

_cache: dict = {}


class StrategyError(ValueError):
    """A strategy name is unknown, does not fit the active Keras backend,
    or cannot be set up (e.g. `multi_worker` without `TF_CONFIG`)."""


def _backend() -> str:
    import keras

    return keras.backend.backend()


def available_strategies(backend: str | None = None) -> tuple:
    """The strategy names `backend` (default: the active one) can run."""
    backend = backend or _backend()
    return BACKEND_STRATEGIES.get(backend, ("default",))


def check_strategy(name) -> str:
    """The canonical name (`None` -> `"default"`); raises `StrategyError`
    for an unknown name or one the active backend cannot run."""
    name = "default" if name is None else name
    if name not in STRATEGIES:
        raise StrategyError(
            f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}"
        )
    backend = _backend()
    allowed = available_strategies(backend)
    if name not in allowed:
        needs = [b for b, names in BACKEND_STRATEGIES.items() if name in names]
        raise StrategyError(
            f"strategy {name!r} needs the {' or '.join(needs)} backend, but Keras runs on "
            f"{backend} (KERAS_BACKEND={os.environ.get('KERAS_BACKEND', backend)}); "
            f"strategies for {backend}: {', '.join(allowed)}"
        )
    return name


# ----------------------------------------------------------------------
# Simulated devices.


def simulate_cpu_devices(count: int) -> int:
    """Splits the host CPU into `count` devices, to run a multi-replica
    strategy on a machine without accelerators (tests, examples,
    debugging). Must run before the backend initialises its devices (before
    the first TensorFlow op or JAX array). Calling it again with the same
    count is a no-op.

    TensorFlow: `count` logical CPU devices (`/cpu:0` … `/cpu:{count-1}`).
    JAX: `count` host platform devices (`jax_num_cpu_devices`).

    Returns the number of CPU devices now visible.
    """
    from rearec_keras.utils.validation import check_int

    count = check_int("count", count, 1)
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        current = tf.config.get_logical_device_configuration(cpu)
        if current is not None and len(current) == count:
            return count
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * count
            )
        except RuntimeError:
            have = len(tf.config.list_logical_devices("CPU"))
            if have == count:
                return count
            raise StrategyError(
                f"cannot split the CPU into {count} devices: TensorFlow already initialised its "
                f"devices ({have} CPU device(s)); call simulate_cpu_devices before any "
                "TensorFlow op"
            ) from None
        return len(tf.config.list_logical_devices("CPU"))
    if backend == "jax":
        import jax

        try:
            jax.config.update("jax_num_cpu_devices", count)
        except RuntimeError:
            have = len(jax.devices("cpu"))
            if have == count:
                return count
            raise StrategyError(
                f"cannot split the CPU into {count} devices: JAX already initialised its "
                f"backend ({have} CPU device(s)); call simulate_cpu_devices before creating any "
                "array, or set XLA_FLAGS=--xla_force_host_platform_device_count=N"
            ) from None
        return len(jax.devices("cpu"))
    raise StrategyError(f"simulated CPU devices need the tensorflow or jax backend, not {backend}")


# ----------------------------------------------------------------------
# Strategies.


def _mirrored_devices(devices):
    import tensorflow as tf

    if devices is not None:
        return list(devices)
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [d.name for d in gpus]
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def _tf_config() -> dict:
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise StrategyError(
            "strategy 'multi_worker' reads the cluster from the TF_CONFIG environment variable, "
            "which is not set (e.g. TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", "
            "\"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}')"
        )
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as e:
        raise StrategyError(f"TF_CONFIG is not valid JSON: {e}") from None
    if not isinstance(tf_config, dict) or "cluster" not in tf_config or "task" not in tf_config:
        raise StrategyError("TF_CONFIG needs a 'cluster' and a 'task' entry")
    return tf_config


def make_strategy(name=None, *, devices=None):
    """The strategy object of a name, created once per process.

    Args:
        name: one of `STRATEGIES` (None: `"default"`).
        devices: `mirrored` / `data_parallel` only: the devices to replicate
            over (default: every local GPU, else every (logical) CPU device
            for `mirrored`; every local device for `data_parallel`).

    Returns:
        None for `"default"`, a `tf.distribute.Strategy` for `mirrored` and
        `multi_worker`, a `keras.distribution.DataParallel` for
        `data_parallel`. The same arguments return the same object (a model
        must be fitted under the strategy it was created in, and
        `MultiWorkerMirroredStrategy` can be created only once).
    """
    name = check_strategy(name)
    if name == "default":
        if devices is not None:
            raise StrategyError(
                "devices only apply to the 'mirrored' and 'data_parallel' strategies"
            )
        return None
    key = (name, None if devices is None else tuple(devices))
    if key in _cache:
        return _cache[key]
    if name == "mirrored":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(_mirrored_devices(devices))
    elif name == "multi_worker":
        import tensorflow as tf

        if devices is not None:
            raise StrategyError("strategy 'multi_worker' uses each worker's local devices; "
                                "devices cannot be given")
        if any(k[0] == "multi_worker" for k in _cache):
            strategy = next(v for k, v in _cache.items() if k[0] == "multi_worker")
        else:
            _tf_config()
            try:
                strategy = _multi_worker_class()()
            except RuntimeError as e:  # "Collective ops must be configured at program startup"
                raise StrategyError(
                    f"cannot start the multi_worker strategy ({e}): create it before TensorFlow "
                    "runs any op (call make_strategy('multi_worker') first)"
                ) from None
    else:  # data_parallel
        import keras

        strategy = keras.distribution.DataParallel(
            devices=list(devices) if devices is not None else None
        )
    _cache[key] = strategy
    return strategy


def _multi_worker_class():
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """`tf.distribute.MultiWorkerMirroredStrategy` whose `reduce`
        accepts what Keras 3 (3.15) passes it, so that `fit` runs
        (keras-team/keras#20585):

        - a nested structure of per-replica values (the first data batch
          `(x, y)`, reduced when `fit` starts): each is reduced on its own;
        - scalars with `axis=0` (the step's logs, such as the loss): a
          scalar has no axis 0, so it is reduced across replicas only.
        """

        def reduce(self, reduce_op, value, axis):
            if isinstance(value, (tuple, list, dict)):
                return tf.nest.map_structure(
                    lambda v: None if v is None else self.reduce(reduce_op, v, axis), value
                )
            if axis is not None:
                local = self.experimental_local_results(value)[0]
                if getattr(local, "shape", None) is not None and local.shape.rank == 0:
                    axis = None
            return super().reduce(reduce_op, value, axis)

    return MultiWorkerMirroredStrategy


def num_replicas(strategy) -> int:
    """Replicas that share one global batch (1 for None)."""
    if strategy is None:
        return 1
    if hasattr(strategy, "num_replicas_in_sync"):
        return int(strategy.num_replicas_in_sync)
    mesh = strategy.device_mesh
    return int(mesh.shape[mesh.axis_names.index(strategy.batch_dim_name)])


def check_global_batch(batch_size: int, strategy) -> int:
    """`batch_size` (the global batch) if it splits evenly over the
    strategy's replicas; `StrategyError` otherwise."""
    replicas = num_replicas(strategy)
    if batch_size % replicas:
        raise StrategyError(
            f"batch_size={batch_size} is the global batch and must be divisible by the "
            f"{replicas} replicas of the strategy "
            f"(e.g. {replicas * max(1, batch_size // replicas)})"
        )
    return batch_size


def distribution_scope(name_or_strategy=None, *, devices=None):
    """The context manager to create, compile and fit a model in.

    Accepts a name (see `make_strategy`) or a strategy object it returned::

        with rearec_keras.distribute.distribution_scope("mirrored"):
            model = ReaSASRec(num_items, ...)
            model.compile(optimizer="adam")
            model.fit(split.train.as_dataset(256, shuffle=True, seed=0,
                                             drop_remainder=True))

    `"default"` gives a no-op context.
    """
    strategy = name_or_strategy
    if strategy is None or isinstance(strategy, str):
        strategy = make_strategy(strategy, devices=devices)
    if strategy is None:
        return contextlib.nullcontext()
    return strategy.scope()


def prepare_dataset(dataset, strategy):
    """`dataset` with the sharding the strategy needs.

    `multi_worker`: every worker builds the same dataset (same shuffle
    seed); sharding by DATA (`auto_shard_policy`) splits each global batch
    between the workers, so that every step still sees exactly that global
    batch. (The default AUTO policy tries to shard by input files first,
    which in-memory datasets do not have.) Other strategies: unchanged
    (Keras splits each batch over the replicas).
    """
    if worker_role(strategy) is None:
        return dataset
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def batches_as_dataset(batches):
    """A `keras.utils.PyDataset` of numpy batches (e.g. LARES'
    `PositiveBatches`) as a `tf.data.Dataset` a `tf.distribute` strategy
    can shard: each pass over it is one epoch of `batches` (which then
    reshuffles, as under `fit`)."""
    import tensorflow as tf

    def spec(array):
        return tf.TensorSpec((None, *array.shape[1:]), tf.as_dtype(array.dtype))

    first = batches[0]
    signature = tf.nest.map_structure(spec, first)
    # `iter` runs one epoch and ends it with `on_epoch_end`.
    dataset = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches)))


def worker_role(strategy=None) -> tuple[str, int] | None:
    """`(task_type, task_id)` of this process in a `multi_worker` cluster,
    or None when not running one."""
    if strategy is None or not hasattr(strategy, "cluster_resolver"):
        return None
    resolver = strategy.cluster_resolver
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None
    return str(resolver.task_type), int(resolver.task_id)


def is_chief(strategy=None) -> bool:
    """Whether this process writes the shared outputs: True unless it is a
    non-chief member of a `multi_worker` cluster (the chief is the `chief`
    task, or worker 0 in a cluster without one)."""
    role = worker_role(strategy)
    if role is None:
        return True
    task_type, task_id = role
    if task_type == "chief":
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def worker_dir(path, strategy=None) -> Path:
    """Where this process writes its files: `path` for the chief (or a
    single process), `path/workers/TYPE-ID` for the other workers of a
    `multi_worker` cluster (their checkpoints let a killed job resume on
    every worker)."""
    path = Path(path)
    if is_chief(strategy):
        return path
    task_type, task_id = worker_role(strategy)
    return path / "workers" / f"{task_type}-{task_id}"
