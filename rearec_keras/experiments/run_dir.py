"""Run directories: identity checks, reading a finished run back."""

import json
from pathlib import Path

from rearec_keras.experiments.config import EXECUTION_KEYS
from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import lenient_paths
from rearec_keras.experiments.config import text_settings


class RunError(RuntimeError):
    """A run directory cannot be used as asked (e.g. another config)."""


def check_catalog(model, split):
    """Raises `RunError` if a model's catalog differs from the data's."""
    if model.num_items != split.num_items:
        raise RunError(
            f"the model scores {model.num_items:,} items but the data has {split.num_items:,}; "
            "use the dataset and preprocessing the model was trained on"
        )


def settings_diff(previous: dict, current: dict, ignore=(), nested=()) -> list:
    """Sorted keys whose values differ between two settings dicts, except
    `ignore`; the keys in `nested` hold dicts compared key by key (`ignore`
    applies inside them too)."""
    diff = []
    for key in set(previous) | set(current):
        old, new = previous.get(key), current.get(key)
        if key in ignore or old == new:
            continue
        if key in nested and isinstance(old, dict) and isinstance(new, dict):
            diff += settings_diff(old, new, ignore=ignore)
        else:
            diff.append(key)
    return sorted(diff)


def check_run_dir(config: RunConfig, run_dir: Path):
    """Whether `run_dir` holds a run of `config` (True) or nothing yet
    (False); `RunError` if it holds a run of another config."""
    saved = run_dir / "config.json"
    if saved.exists():
        previous = RunConfig.with_defaults(json.loads(saved.read_text()))
        ignore = EXECUTION_KEYS
        if not config.backbone_spec.item_features:  # settings an id backbone ignores
            ignore = ignore + text_settings()
        diff = settings_diff(previous, config.to_dict(), ignore=ignore)
        if diff:
            raise RunError(
                f"run directory {run_dir} holds a run with another config "
                f"(differs in {', '.join(diff)}); pass a new --run-dir"
            )
        return True
    return False


def load_run(run_dir_or_model):
    """`(config or None, model)` from a run directory or a `.keras` file."""
    import keras

    import rearec_keras.models  # noqa: F401  (registers the classes to load)

    path = Path(run_dir_or_model)
    if path.is_dir():
        config_path, model_path = path / "config.json", path / "best.keras"
        if not config_path.exists():
            raise RunError(f"{path} is not a run directory (no config.json)")
        if not model_path.exists():
            raise RunError(f"run {path} has no best.keras yet (no finished epoch)")
        # The model holds its item features: a moved text_features file
        # does not stop a finished run from being read.
        with lenient_paths():
            config = RunConfig.from_dict(json.loads(config_path.read_text()),
                                         source=str(config_path))
    elif path.is_file():
        config, model_path = None, path
    else:
        raise RunError(f"no run directory or model file at {path}")
    try:
        model = keras.saving.load_model(model_path)
    except Exception as e:  # corrupt or foreign file
        raise RunError(f"cannot load a model from {model_path}: {e}") from None
    return config, model
