"""Run directories: identity checks, the data fingerprint, reading a
finished run back; every unreadable file is one clear error."""

import zipfile
from pathlib import Path

from rearec_keras.experiments.config import EXECUTION_KEYS
from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import lenient_paths
from rearec_keras.utils.files import CorruptFileError
from rearec_keras.utils.files import read_json

# What to do about a corrupt file of a run directory.
REMEDIES = {
    "config.json": "delete the run directory (or pass another --run-dir) to start a new run",
    "data.json": "delete data.json; the next `rearec-keras train` on this directory writes it "
                 "again (and can no longer check that the data did not change)",
    "metrics.json": "delete metrics.json; the next `rearec-keras train` on this directory "
                    "evaluates the best model again",
    "filter.json": "delete filter.json and kept_rows.npy of that phase; the next `rearec-keras "
                   "train` on this directory chooses the phase's training rows again",
    "best.keras": "delete the run directory (or pass another --run-dir) to train the run again",
}


def read_run_file(run_dir, name):
    """A JSON file of a run directory (`CorruptFileError` if unreadable)."""
    return read_json(Path(run_dir) / name, REMEDIES[name])


def read_config(run_dir) -> dict:
    """The saved settings of a run, completed with today's defaults."""
    return RunConfig.with_defaults(read_run_file(run_dir, "config.json"))


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
        previous = read_config(run_dir)
        ignore = EXECUTION_KEYS + config.ignored_settings()  # what its backbone ignores
        diff = settings_diff(previous, config.to_dict(), ignore=ignore)
        if diff:
            raise RunError(
                f"run directory {run_dir} holds a run with another config "
                f"(differs in {', '.join(diff)}); pass a new --run-dir"
            )
        return True
    return False


def data_fingerprint(run_dir, key="fingerprint"):
    """The fingerprint of the data a run trained on (`data.json`), or None
    for a run written before fingerprints (or without `data.json`).
    `key="timestamps_fingerprint"`: that of the history timestamps (None
    for runs written before it, or data without them)."""
    path = Path(run_dir) / "data.json"
    if not path.exists():
        return None
    split = read_run_file(run_dir, "data.json").get("split")
    return split.get(key) if isinstance(split, dict) else None


def check_data(run_dir, split):
    """Raises `RunError` if `split` is not the data the run in `run_dir`
    trained on (its fingerprint, or that of its history timestamps, differs
    from the one in `data.json`): metrics on other data would be reported
    as the run's."""
    for key, what, verb in (("fingerprint", "data", "differs"),
                            ("timestamps_fingerprint", "history timestamps", "differ")):
        saved = data_fingerprint(run_dir, key)
        if saved is None:
            continue
        current = getattr(split, key)()
        if current != saved:
            raise RunError(
                f"the {what} {verb} from the {what} run {run_dir} trained on ({key} "
                f"{str(current)[:12]} here, {saved[:12]} in data.json): the dataset file or its "
                "preprocessing changed since training; restore that data or train a new run"
            )


def check_model_file(path, remedy=None):
    """Raises `CorruptFileError` if `path` is not a readable `.keras` file
    (a zip archive holding `config.json`)."""
    path = Path(path)
    remedy = remedy or "use another model file"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            broken = archive.testzip()
    except zipfile.BadZipFile:
        raise CorruptFileError(
            f"{path} is not a Keras model file (not a zip archive: truncated or corrupt); "
            f"{remedy}"
        ) from None
    except (OSError, EOFError) as e:
        raise CorruptFileError(f"{path} cannot be read ({e}); {remedy}") from None
    if broken is not None:
        raise CorruptFileError(f"{path} is corrupt (its member {broken} fails its CRC); {remedy}")
    if "config.json" not in names:
        raise CorruptFileError(f"{path} is a zip archive but not a Keras model file; {remedy}")


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
            config = RunConfig.from_dict(read_run_file(path, "config.json"),
                                         source=str(config_path))
        remedy = REMEDIES["best.keras"]
    elif path.is_file():
        config, model_path, remedy = None, path, None
    else:
        raise RunError(f"no run directory or model file at {path}")
    check_model_file(model_path, remedy)
    try:
        model = keras.saving.load_model(model_path)
    except Exception as e:  # corrupt or foreign file
        raise RunError(f"cannot load a model from {model_path}: {e}") from None
    return config, model


class RunRecommender:
    """A trained model that speaks the dataset's own ids (see
    `load_recommender`).

    Attributes:
        model: the Keras model (internal ids 1..N, for training code).
        vocabulary: its `rearec_keras.data.Vocabulary`.
        config: the run's `RunConfig` (None for a `.keras` file).
    """

    def __init__(self, model, vocabulary, config=None):
        vocabulary.check_model(model)
        self.model, self.vocabulary, self.config = model, vocabulary, config

    def recommend(self, histories, k=10, exclude_history=False, timestamps=None, **options):
        """`(ids [n, k], scores [n, k])` for lists of the dataset's item ids
        (oldest first; the newest `max_length` are read), best first, in
        the dataset's ids (int64 when they are integers, else object).
        `timestamps`: one list per history, one time per item (needed by a
        model with a time bias, refused by the others). `options` go to
        `model.recommend` (`steps`, `halting`, `thresholds`). Unknown ids
        raise `ValueError` naming them."""
        from rearec_keras.data.splits import left_pad_timestamps

        internal = self.vocabulary.histories(histories, self.model.max_length)
        if timestamps is not None:
            timestamps = left_pad_timestamps(timestamps, self.model.max_length,
                                             [len(h) for h in histories])
        ids, scores = self.model.recommend(internal, k=k, exclude_history=exclude_history,
                                           timestamps=timestamps, **options)
        return self.vocabulary.item_ids(ids), scores

    def titles(self, raw_ids):
        """Titles of the dataset's item ids (None where missing), or None
        when the data has no titles."""
        return self.vocabulary.titles_of_raw(raw_ids)


def load_recommender(run_dir_or_model, vocabulary=None) -> RunRecommender:
    """A run directory's (or `.keras` file's) model with the dataset's ids.

    Every run directory stores its vocabulary (`vocabulary.json`); a
    `.keras` file needs `vocabulary=` (e.g. `Vocabulary.from_split(split)`).

        rec = load_recommender("runs/ml-100k-sasrec-erl-k2-seed0")
        ids, scores = rec.recommend([[50, 172, 133]], k=10, exclude_history=True)
        rec.titles(ids)
    """
    from rearec_keras.data.vocabulary import Vocabulary

    config, model = load_run(run_dir_or_model)
    if vocabulary is None and config is not None:
        try:
            vocabulary = Vocabulary.load(run_dir_or_model)
        except ValueError as e:
            raise RunError(str(e)) from None
    if vocabulary is None:
        raise RunError(f"{run_dir_or_model} has no vocabulary.json (a .keras file, or a run "
                       "trained before runs stored one): pass vocabulary=Vocabulary.from_split("
                       "split) for the data it was trained on")
    return RunRecommender(model, vocabulary, config)
