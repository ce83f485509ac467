"""Optional dependencies: checks that do not import them."""

import importlib.util


def has_tensorflow() -> bool:
    """Whether TensorFlow is installed (checked without importing it).

    The core (layers, losses, models, evaluation) runs on any Keras backend
    without TensorFlow; only the edges need it: tf.data input (with a
    PyDataset fallback), TensorBoard logs, SavedModel export and
    `tf.distribute` strategies.
    """
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # a broken or stubbed-out install
        return False
