"""A `.keras` file saved on one Keras backend that trains on another."""

import keras

_BACKEND_MODULE = "keras.src.backend."


def _public_optimizers(value):
    """Backend optimizer classes (e.g. torch's
    `keras.src.backend.torch.optimizers.torch_adam.Adam`) serialized as the
    public `keras.optimizers` class of the same name, at any depth (a
    `LossScaleOptimizer` holds its inner optimizer)."""
    if isinstance(value, dict):
        value = {k: _public_optimizers(v) for k, v in value.items()}
        module = value.get("module")
        name = value.get("class_name")
        if (isinstance(module, str) and module.startswith(_BACKEND_MODULE)
                and isinstance(name, str) and hasattr(keras.optimizers, name)):
            value["module"] = "keras.optimizers"
            value["registered_name"] = None
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_public_optimizers(v) for v in value)
    return value


def portable_compile_config(model, config):
    """`model.get_compile_config()` made loadable on every backend.

    Keras saves two backend-specific things in the compile config:

    - the optimizer's backend class (PyTorch's Adam is
      `keras.src.backend.torch.optimizers.torch_adam.Adam`, which a
      TensorFlow process then imports and fails to train with); it is saved
      as the public `keras.optimizers.Adam`, which each backend maps to its
      own implementation;
    - `jit_compile` as resolved on the saving machine (`"auto"` becomes
      True on JAX, so a PyTorch process would run `torch.compile`; False
      on a TensorFlow CPU, so JAX would train un-jitted); the value `"auto"`
      resolved to is saved as `"auto"`, an explicit other choice is kept.
    """
    if not config:
        return config
    config = _public_optimizers(dict(config))
    resolve = getattr(model, "_resolve_auto_jit_compile", None)
    if resolve is not None and config.get("jit_compile") is not None:
        if config["jit_compile"] == resolve():
            config["jit_compile"] = "auto"
    return config
