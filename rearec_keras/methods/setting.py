"""`Setting`: one hyperparameter, described once.

A method (or a backbone) lists its settings as `Setting` objects. Everything
else reads them from there: the model constructor's checks and
`get_config`, `RunConfig`'s fields and validation, the command line's flags
and `choices`, and the tuning tables.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_float
from rearec_keras.utils.validation import check_int

KINDS = (int, float, str, bool)


@dataclasses.dataclass(frozen=True)
class Setting:
    """A named hyperparameter with its default, valid range and meaning.

    Args:
        name: the keyword (`kl_weight`); also the config key and, with
            dashes, the command-line flag (`--kl-weight`).
        default: the value used when none is given.
        doc: one line saying what it does (shown by `--help`).
        kind: `int`, `float`, `str` or `bool` (default: the default's type).
        symbol: the paper's symbol, e.g. `"λ"`.
        minimum / maximum: bounds of a number; `exclusive_minimum` /
            `exclusive_maximum` make them open.
        choices: the allowed values of a `str` setting.
        optional: None is a valid value too.
    """

    name: str
    default: Any
    doc: str
    kind: type | None = None
    symbol: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple | None = None
    optional: bool = False

    def __post_init__(self):
        kind = self.kind if self.kind is not None else type(self.default)
        if kind not in KINDS:
            raise TypeError(f"Setting {self.name!r}: kind must be one of {KINDS}, got {kind!r}")
        object.__setattr__(self, "kind", kind)
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if not (self.optional and self.default is None):
            self.check(self.default)

    def check(self, value):
        """`value` as this setting's type; `ValueError` naming the setting
        and its range otherwise."""
        if value is None and self.optional:
            return None
        if self.choices is not None:
            return check_choice(self.name, value, self.choices)
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"`{self.name}` must be true or false. Received: "
                                 f"{self.name}={value!r}")
            return value
        if self.kind is int:
            return check_int(self.name, value, self.minimum, self.maximum)
        if self.kind is float:
            return check_float(self.name, value, self.minimum,
                               exclusive_minimum=self.exclusive_minimum, maximum=self.maximum,
                               exclusive_maximum=self.exclusive_maximum)
        if not isinstance(value, str):
            raise ValueError(f"`{self.name}` must be a string. Received: {self.name}={value!r}")
        return value

    def describe(self) -> str:
        """The help line: doc, symbol and range, e.g. `weight of ... (λ; >= 0)`."""
        notes = []
        if self.symbol:
            notes.append(self.symbol)
        if self.choices is not None:
            notes.append("|".join(map(str, self.choices)))
        elif self.kind in (int, float):
            low = "" if self.minimum is None else (
                f"{'>' if self.exclusive_minimum else '>='} {self.minimum}")
            high = "" if self.maximum is None else (
                f"{'<' if self.exclusive_maximum else '<='} {self.maximum}")
            notes.extend(n for n in (low, high) if n)
        notes.append(f"default {self.default}")
        return f"{self.doc} ({'; '.join(notes)})"
