"""Reading tensor values when they are known (backend-specific, at the edge).

`concrete_values(x)` returns a numpy view of `x` when it is a numpy array or
a backend tensor whose values exist now (eager TensorFlow tensors, JAX
arrays, CPU/GPU PyTorch tensors), and None otherwise: Keras symbolic
tensors, TensorFlow graph tensors inside a `tf.function`, JAX tracers inside
`jit`, PyTorch meta tensors, and anything that is not a tensor (callers turn
Python lists into arrays themselves). The models validate item ids with it
before they run.
"""

import numpy as np


def concrete_values(x):
    """`x` as a numpy array if its values are known now, else None."""
    if isinstance(x, np.ndarray):
        return x
    import keras

    if isinstance(x, keras.KerasTensor):
        return None
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if isinstance(x, (tf.Tensor, tf.Variable)):
            # Inside a tf.function nothing is eager: graph tensors have no values.
            return x.numpy() if tf.executing_eagerly() else None
    elif backend == "jax":
        import jax

        if isinstance(x, jax.core.Tracer):
            return None
        if isinstance(x, jax.Array):
            return np.asarray(x)
    elif backend == "torch":
        import torch

        if isinstance(x, torch.Tensor):
            if x.device.type == "meta":
                return None
            return x.detach().cpu().numpy()
    return None
