"""Argument checks shared by layers, losses and models.

Each raises `ValueError` naming the argument, the allowed range and the
value received, and returns the value as a plain Python number.
"""

from __future__ import annotations

import math
import numbers


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (not a bool) within `[minimum, maximum]`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"`{name}` must be an int. Received: {name}={value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be an int <= {maximum}. Received: {name}={value!r}")
    return int(value)


def check_float(
    name: str,
    value,
    minimum: float | None = None,
    *,
    exclusive_minimum: bool = False,
    maximum: float | None = None,
    exclusive_maximum: bool = False,
) -> float:
    """A finite real number (not a bool) within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be a number. Received: {name}={value!r}")
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number. Received: {name}={value!r}")
    if minimum is not None and (value < minimum or (exclusive_minimum and value == minimum)):
        op = ">" if exclusive_minimum else ">="
        raise ValueError(f"`{name}` must be {op} {minimum}. Received: {name}={value!r}")
    if maximum is not None and (value > maximum or (exclusive_maximum and value == maximum)):
        op = "<" if exclusive_maximum else "<="
        raise ValueError(f"`{name}` must be {op} {maximum}. Received: {name}={value!r}")
    return float(value)


def check_rate(name: str, value) -> float:
    """A dropout rate in `[0, 1)`."""
    return check_float(name, value, 0.0, maximum=1.0, exclusive_maximum=True)


def check_choice(name: str, value, allowed):
    """One of `allowed`."""
    if value not in allowed:
        raise ValueError(
            f"`{name}` must be one of {list(allowed)}. Received: {name}={value!r}"
        )
    return value
