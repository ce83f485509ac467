"""Shared test setup: quiet TensorFlow, fixed seeds, fixture paths, the
Keras backend under test and a backend-agnostic gradient helper.

The backend comes from the environment: `KERAS_BACKEND=jax pytest -m core`
runs the core subset on JAX (TensorFlow when unset). The header of every
run names it. Tests marked `tf_only` are skipped on other backends.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

FIXTURES = pathlib.Path(__file__).parent / "fixtures"

# The backend-agnostic core (layers, losses, models, evaluation, package):
# marked `core` here, run on TensorFlow, JAX and PyTorch by CI
# (`KERAS_BACKEND=jax python -m pytest -m core`).
CORE_PATHS = (
    "layers", "losses", "methods", "models", "evaluation", "data/test_batches.py",
    "test_package.py", "test_backends.py", "test_halting.py",
)


def _backend():
    import keras

    return keras.backend.backend()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "core: backend-agnostic core tests (CI runs them on TF, JAX and PyTorch)"
    )
    config.addinivalue_line(
        "markers", "tf_only(reason): needs TensorFlow itself; skipped on other backends"
    )
    config.addinivalue_line(
        "markers", "heavy: long training in a core test; counted as `slow` on JAX and "
        "PyTorch (whose compiles make it several times longer), run always on TensorFlow"
    )


def pytest_report_header(config):
    return f"keras backend: {_backend()} (KERAS_BACKEND={os.environ['KERAS_BACKEND']})"


def pytest_collection_modifyitems(config, items):
    tests_dir = pathlib.Path(__file__).parent
    backend = _backend()
    skip_tf = pytest.mark.skip(reason=f"TensorFlow-only test (backend is {backend})")
    for item in items:
        try:
            path = pathlib.Path(item.fspath).relative_to(tests_dir).as_posix()
        except ValueError:
            path = ""
        if any(path == core or path.startswith(core + "/") for core in CORE_PATHS):
            item.add_marker(pytest.mark.core)
        if backend != "tensorflow" and item.get_closest_marker("tf_only"):
            item.add_marker(skip_tf)
        if backend != "tensorflow" and item.get_closest_marker("heavy"):
            item.add_marker(pytest.mark.slow)


def _value_and_grad(fn, inputs, variables=()):
    """`fn(*inputs)` (a scalar) and its gradients, on any Keras backend.

    Args:
        fn: callable of backend tensors returning a scalar tensor.
        inputs: numpy arrays; gradients are taken with respect to each.
        variables: Keras variables `fn` reads (e.g. `layer.trainable_weights`,
            already built); gradients are taken with respect to each too.

    Returns:
        `(value, grads)`: the value as a numpy scalar and one numpy array per
        input then per variable, or None where the backend reports no
        connection (TensorFlow, PyTorch; JAX gives zeros instead).
    """
    import keras

    inputs = [np.asarray(x) for x in inputs]
    variables = list(variables)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xs = [tf.constant(x) for x in inputs]
        with tf.GradientTape() as tape:
            tape.watch(xs)
            value = fn(*xs)
        grads = tape.gradient(value, xs + [v.value for v in variables])
    elif backend == "jax":
        import jax

        def pure(xs, values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*xs)

        value, (gx, gv) = jax.value_and_grad(pure, argnums=(0, 1))(
            [jax.numpy.asarray(x) for x in inputs], [v.value for v in variables]
        )
        grads = list(gx) + list(gv)
    elif backend == "torch":
        import torch

        xs = [torch.tensor(x, requires_grad=True) for x in inputs]
        value = fn(*xs)
        targets = xs + [v.value for v in variables]
        if value.requires_grad:
            grads = torch.autograd.grad(value, targets, allow_unused=True)
        else:  # `fn` is constant in every input (e.g. a loss that is 0 for K=0).
            grads = [None] * len(targets)
    else:  # numpy / openvino: Keras has no autodiff there
        pytest.skip(f"Keras backend {backend!r} computes no gradients")
    to_np = keras.ops.convert_to_numpy
    return to_np(value), [None if g is None else to_np(g) for g in grads]


@pytest.fixture
def value_and_grad():
    """The backend-agnostic `_value_and_grad(fn, inputs, variables=())`."""
    return _value_and_grad


@pytest.fixture
def fixtures_dir():
    return FIXTURES


@pytest.fixture(scope="session")
def ml100k():
    """The real MovieLens-100K (from the recbole package copy or the cache)."""
    from rearec_keras.datasets import load_movielens

    return load_movielens("ml-100k", download=False)


def write_interactions(path, num_users=60, num_items=30, seed=0):
    """Synthetic users walking the item ring i1 -> i2 -> ... (a planted
    sequential pattern), with string ids like a real file."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(num_users):
        start = int(rng.integers(0, num_items))
        for t in range(int(rng.integers(6, 15))):
            rows.append((f"u{u}", f"i{(start + t) % num_items + 1}", 1000 * u + t))
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def interactions_writer():
    """`write_interactions(path, num_users=60, num_items=30, seed=0)`."""
    return write_interactions


@pytest.fixture(scope="session")
def interactions(tmp_path_factory):
    return str(write_interactions(tmp_path_factory.mktemp("data") / "inter.csv"))


@pytest.fixture(scope="session")
def tiny_config(interactions):
    from rearec_keras.experiments.config import RunConfig

    return RunConfig(
        dataset="table", data_path=interactions, max_length=10, hidden_dim=16,
        intermediate_dim=32, batch_size=64, eval_batch_size=64, epochs=1, patience=2,
        learning="erl",
    )


@pytest.fixture(scope="session")
def tiny_split(tiny_config):
    from rearec_keras.experiments.runner import prepare_data

    return prepare_data(tiny_config)[1]
