"""Learning methods as plug-ins: one file per method, one registry.

    from rearec_keras import methods
    methods.method_names()          # ('base', 'rpe', 'naive', 'erl', 'prl')
    methods.get_method("erl").settings

A method is a `Method` subclass registered with `register_method`; adding
one is one new file plus that registration (see `docs/architecture.md`).
"""

from rearec_keras.methods.method import POOLINGS
from rearec_keras.methods.method import Method
from rearec_keras.methods.method import Phase
from rearec_keras.methods.method import phase_at
from rearec_keras.methods.registry import all_settings
from rearec_keras.methods.registry import get_method
from rearec_keras.methods.registry import method_names
from rearec_keras.methods.registry import methods_using
from rearec_keras.methods.registry import register_method
from rearec_keras.methods.registry import unregister_method
from rearec_keras.methods.setting import Setting

# The built-in methods register themselves on import (in this order).
from rearec_keras.methods import base  # noqa: E402,F401
from rearec_keras.methods import rpe  # noqa: E402,F401
from rearec_keras.methods import naive  # noqa: E402,F401
from rearec_keras.methods import erl  # noqa: E402,F401
from rearec_keras.methods import prl  # noqa: E402,F401
from rearec_keras.methods import lares  # noqa: E402,F401
from rearec_keras.methods import dtrec  # noqa: E402,F401

__all__ = [
    "POOLINGS",
    "Method",
    "Phase",
    "Setting",
    "all_settings",
    "get_method",
    "method_names",
    "methods_using",
    "phase_at",
    "register_method",
    "unregister_method",
]
