"""Search spaces over `RunConfig` settings, as data.

A search space maps setting names (the `RunConfig` / model constructor
names: `kl_weight` is λ, `base_temperature` τ, `temperature_decay` α,
`reasoning_steps` K) to one of:

- a list of values: a `Choice` (what the paper's grids are);
- a mapping `{"min": a, "max": b}` with optional `"sampling"` (`"linear"`
  or `"log"`) and `"step"`: an `Int` or `Float` range;
- a single value: `Fixed` (recorded with the trial, never varied).

`paper_search_space(learning)` is the paper's grid for a training recipe,
the method's own `search_space` (ReaRec §5.1; K in {1, 2, 3}). Every value is checked
against `RunConfig`'s own rules before any trial runs, so a typo fails in
a second with the setting's name, not after an hour of training.
"""

import math
from collections.abc import Mapping

from rearec_keras import methods
from rearec_keras.model_settings import MODEL_SETTINGS
from rearec_keras.experiments.config import ConfigError
from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import scalar_type

# Settings a search may vary: the model and optimiser (plus every
# registered method's own settings, `tunable_settings()`). Data, split,
# evaluation and run bookkeeping (seed, epochs, patience) stay fixed.
MODEL_TUNABLE = tuple(
    name for name in MODEL_SETTINGS if name not in ("max_length", "negatives", "num_negatives")
) + ("learning_rate",)
SAMPLINGS = ("linear", "log")


class SearchSpaceError(ConfigError):
    """A search space names an unknown setting or holds an invalid value."""


def tunable_settings() -> tuple:
    """Every setting a search may vary."""
    return MODEL_TUNABLE + tuple(methods.all_settings())


def affects(name: str, learning: str) -> bool:
    """Whether setting `name` changes training under `learning`: a method's
    own settings only its method; `reasoning_steps` every method that
    reasons; the other model settings every method (`base_temperature`
    divides every method's logits)."""
    method = methods.get_method(learning)
    if name in methods.all_settings():
        return name in method.setting_names()
    if name == "reasoning_steps":
        return method.reasons
    return True


def paper_search_space(learning: str) -> dict:
    """The paper's grid for `learning`: the method's own `search_space`
    (a new dict each call). A method without one (`base`) raises: pass a
    space of your own."""
    space = methods.get_method(learning).search_space
    if not space:
        raise SearchSpaceError(
            f"learning={learning!r} has no reasoning hyperparameters to tune; pass a search "
            f"space of your own (tunable settings: {', '.join(tunable_settings())})"
        )
    return {name: list(values) for name, values in space.items()}


class SearchSpace:
    """A validated search space for one base `RunConfig`.

    Args:
        spec: mapping of setting name to a list of values, a range mapping
            or a single value (see the module docstring). None: the paper's
            grid for `config.learning`.
        config: the `RunConfig` whose other settings stay fixed.
        overrides: optional mapping merged over `spec` (a value of None
            removes a setting from the space).

    Raises:
        SearchSpaceError: naming the setting and the value at fault.
    """

    def __init__(self, spec=None, config: RunConfig | None = None, overrides=None):
        self.config = config if config is not None else RunConfig()
        if spec is None:
            spec = paper_search_space(self.config.learning)
        if not isinstance(spec, Mapping):
            raise SearchSpaceError(f"a search space must be a mapping of settings, got {spec!r}")
        merged = dict(spec)
        if overrides is not None:
            if not isinstance(overrides, Mapping):
                raise SearchSpaceError(f"search space overrides must be a mapping, got {overrides!r}")
            for name, value in overrides.items():
                if value is None:
                    merged.pop(name, None)
                else:
                    merged[name] = value
        if not merged:
            raise SearchSpaceError("the search space is empty")
        self.spec = {name: self._check(name, value) for name, value in merged.items()}

    # ------------------------------------------------------------------
    def _check(self, name, value):
        if name not in tunable_settings():
            raise SearchSpaceError(
                f"search space: {name!r} cannot be tuned (tunable settings: "
                f"{', '.join(tunable_settings())})"
            )
        if not affects(name, self.config.learning):
            users = methods.methods_using(name) or tuple(
                n for n in methods.method_names() if affects(name, n))
            raise SearchSpaceError(
                f"search space: {name!r} only affects learning={'/'.join(users)}, "
                f"but the study trains learning={self.config.learning!r}"
            )
        kind = scalar_type(name)
        if isinstance(value, Mapping):
            return self._check_range(name, kind, dict(value))
        if isinstance(value, (list, tuple)):
            if not value:
                raise SearchSpaceError(f"search space: {name!r} has an empty list of values")
            values = [self._check_value(name, kind, v) for v in value]
            if len(set(values)) != len(values):
                raise SearchSpaceError(f"search space: {name!r} repeats a value in {list(value)}")
            return values
        return self._check_value(name, kind, value)

    def _check_value(self, name, kind, value):
        if kind is int:
            if isinstance(value, bool) or not (
                isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            ):
                raise SearchSpaceError(f"search space: {name!r} takes integers, got {value!r}")
            value = int(value)
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SearchSpaceError(f"search space: {name!r} takes numbers, got {value!r}")
            value = float(value)
        elif not isinstance(value, str):
            raise SearchSpaceError(f"search space: {name!r} takes strings, got {value!r}")
        try:
            self.config.replace(**{name: value})
        except ConfigError as e:
            raise SearchSpaceError(f"search space: {name!r} = {value!r} is invalid: {e}") from None
        return value

    def _check_range(self, name, kind, spec):
        if kind is str:
            raise SearchSpaceError(f"search space: {name!r} takes a list of values, not a range")
        unknown = sorted(set(spec) - {"min", "max", "sampling", "step"})
        if unknown or "min" not in spec or "max" not in spec:
            raise SearchSpaceError(
                f"search space: the range of {name!r} needs 'min' and 'max' (and optionally "
                f"'sampling', 'step'); got keys {sorted(spec)}"
            )
        low = self._check_value(name, kind, spec["min"])
        high = self._check_value(name, kind, spec["max"])
        if not low < high:
            raise SearchSpaceError(f"search space: the range of {name!r} needs min < max, got {low} .. {high}")
        sampling = spec.get("sampling", "linear")
        if sampling not in SAMPLINGS:
            raise SearchSpaceError(
                f"search space: sampling of {name!r} must be one of {SAMPLINGS}, got {sampling!r}"
            )
        if sampling == "log" and low <= 0:
            raise SearchSpaceError(f"search space: log sampling of {name!r} needs min > 0, got {low}")
        out = {"min": low, "max": high, "sampling": sampling}
        step = spec.get("step")
        if step is not None:
            if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0 \
                    or not math.isfinite(step):
                raise SearchSpaceError(f"search space: step of {name!r} must be a positive number, got {step!r}")
            if kind is int and not float(step).is_integer():
                raise SearchSpaceError(f"search space: step of {name!r} must be an integer, got {step!r}")
            if sampling == "log" and not step > 1:
                raise SearchSpaceError(
                    f"search space: with log sampling the step of {name!r} is a factor > 1, got {step!r}"
                )
            out["step"] = int(step) if kind is int else float(step)
        return out

    # ------------------------------------------------------------------
    @property
    def names(self):
        return list(self.spec)

    def varied(self):
        """Names of the settings with more than one possible value."""
        return [n for n, v in self.spec.items() if isinstance(v, dict) or
                (isinstance(v, list) and len(v) > 1)]

    def continuous(self):
        """Names of the ranges without a step (a grid cannot enumerate them)."""
        return [n for n, v in self.spec.items()
                if isinstance(v, dict) and "step" not in v and scalar_type(n) is float]

    def default_of(self, name):
        """The value KerasTuner starts from: the base config's value when it
        is one of the candidates, else the first candidate / the minimum."""
        value = self.spec[name]
        current = getattr(self.config, name)
        if isinstance(value, list):
            return current if current in value else value[0]
        if isinstance(value, dict):
            return current if value["min"] <= current <= value["max"] else value["min"]
        return value

    def declare(self, hp) -> dict:
        """Declares every setting on a `keras_tuner.HyperParameters` and
        returns `{name: value}` for the current trial."""
        values = {}
        for name, value in self.spec.items():
            kind = scalar_type(name)
            default = self.default_of(name)
            if isinstance(value, list):
                values[name] = hp.Choice(name, value, ordered=kind is not str, default=default)
            elif isinstance(value, dict):
                args = dict(min_value=value["min"], max_value=value["max"],
                            sampling=value["sampling"], default=default)
                if "step" in value:
                    args["step"] = value["step"]
                make = hp.Int if kind is int else hp.Float
                values[name] = make(name, **args)
            else:
                values[name] = hp.Fixed(name, value)
            if kind is float:
                values[name] = float(values[name])
            elif kind is int:
                values[name] = int(values[name])
        return values

    def to_dict(self) -> dict:
        return {name: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                for name, v in self.spec.items()}

    def __repr__(self):
        return f"SearchSpace({self.to_dict()!r}, learning={self.config.learning!r})"


def parse_space_flag(text: str):
    """`"kl_weight=0.01,0.05"` -> `("kl_weight", [0.01, 0.05])`;
    `"learning_rate=1e-4:1e-2:log"` -> a log range; `"dropout=0.1:0.5:0.1"`
    -> a stepped range; `"diversity=kl,js"` -> strings; `"kl_weight=none"`
    -> `None` (removes it from the space). Values are typed by
    the setting (ints, floats or strings); checks happen in `SearchSpace`."""
    name, sep, values = str(text).partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name or not values.strip():
        raise SearchSpaceError(
            f"--space expects NAME=V1,V2,... or NAME=MIN:MAX[:log|:STEP], got {text!r}"
        )
    if name not in tunable_settings():
        raise SearchSpaceError(
            f"--space {text!r}: {name!r} cannot be tuned (tunable settings: "
            f"{', '.join(tunable_settings())})"
        )
    if values.strip().lower() == "none":
        return name, None  # removes the setting from the space
    kind = scalar_type(name)

    def convert(token):
        token = token.strip()
        if kind is str:
            return token
        try:
            number = float(token)
        except ValueError:
            raise SearchSpaceError(f"--space {text!r}: {token!r} is not a number") from None
        return int(number) if kind is int and number.is_integer() else number

    if ":" in values:
        parts = values.split(":")
        if len(parts) not in (2, 3) or not all(p.strip() for p in parts):
            raise SearchSpaceError(f"--space {text!r}: a range is MIN:MAX, MIN:MAX:log or MIN:MAX:STEP")
        spec = {"min": convert(parts[0]), "max": convert(parts[1])}
        if len(parts) == 3:
            if parts[2].strip() in SAMPLINGS:
                spec["sampling"] = parts[2].strip()
            else:
                spec["step"] = convert(parts[2])
        return name, spec
    tokens = [t for t in values.split(",")]
    if any(not t.strip() for t in tokens):
        raise SearchSpaceError(f"--space {text!r}: empty value in the list")
    converted = [convert(t) for t in tokens]
    return name, converted if len(converted) > 1 else converted[0]
