"""The registry of learning methods: name -> `Method` subclass.

Every consumer (the model, `RunConfig`, the command line, tuning, analysis,
serving) asks the registry; no other list of method names exists.
"""

from __future__ import annotations

from rearec_keras.methods.method import POOLINGS
from rearec_keras.methods.method import Method

_METHODS: dict = {}


def register_method(cls):
    """Registers a `Method` subclass under `cls.name` (usable as a class
    decorator). A setting name shared with an already registered method
    must have the same kind and default (it is one config key)."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"register_method takes a Method subclass, got {cls!r}")
    if not cls.name or not cls.name.replace("_", "").isalnum() or cls.name != cls.name.lower():
        raise ValueError(f"method name must be a lowercase identifier, got {cls.name!r}")
    if cls.name in _METHODS and _METHODS[cls.name] is not cls:
        raise ValueError(f"a method named {cls.name!r} is already registered "
                         f"({_METHODS[cls.name].__name__})")
    if cls.pooling not in POOLINGS:
        raise ValueError(f"{cls.__name__}.pooling must be one of {POOLINGS}, got {cls.pooling!r}")
    shared = all_settings()
    for setting in cls.settings:
        other = shared.get(setting.name)
        if other is not None and (other.kind, other.default) != (setting.kind, setting.default):
            raise ValueError(
                f"setting {setting.name!r} of method {cls.name!r} differs from the one already "
                f"registered ({other.kind.__name__} default {other.default!r})"
            )
    _METHODS[cls.name] = cls
    return cls


def unregister_method(name: str):
    """Removes a method (for tests and notebooks)."""
    _METHODS.pop(name, None)


def get_method(name: str):
    """The `Method` subclass registered as `name`; `ValueError` listing the
    registered names otherwise."""
    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"`learning` must be one of {list(_METHODS)}. Received: learning={name!r}"
        ) from None


def method_names() -> tuple:
    """The registered method names, in registration order."""
    return tuple(_METHODS)


def all_settings() -> dict:
    """`{name: Setting}` of every registered method (a name shared by two
    methods appears once)."""
    out = {}
    for cls in _METHODS.values():
        for setting in cls.settings:
            out.setdefault(setting.name, setting)
    return out


def methods_using(setting_name: str) -> tuple:
    """Names of the methods that declare `setting_name`."""
    return tuple(n for n, cls in _METHODS.items() if setting_name in cls.setting_names())
