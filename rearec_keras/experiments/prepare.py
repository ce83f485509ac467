"""The data of a run: the dataset a `RunConfig` names, preprocessed and split."""

from rearec_keras.experiments.config import ConfigError
from rearec_keras.experiments.config import RunConfig


def log_progress(verbose, message):
    # Progress goes to stdout: stderr is kept for errors (one line each).
    if verbose:
        print(message, flush=True)


def load_dataset(config: RunConfig, verbose=0):
    """The `InteractionDataset` the config names, preprocessed as asked."""
    log_progress(verbose, f"loading {config.dataset}" + (f" from {config.data_path}" if config.data_path else ""))
    return _preprocess(config, _read_dataset(config))


def _preprocess(config: RunConfig, dataset):
    from rearec_keras import data

    # Always: duplicates are dropped (or kept, as asked) and counted even
    # without a rating threshold or k-core.
    return data.preprocess(dataset, rating_threshold=config.rating_threshold,
                           duplicates=config.duplicates, k_core=config.k_core)


def _read_dataset(config: RunConfig):
    """The `InteractionDataset` the config names, as its files hold it."""
    from rearec_keras import datasets

    options = dict(config.dataset_options)
    if config.dataset in ("ml-100k", "ml-1m"):
        dataset = datasets.load_movielens(config.dataset, config.data_path, **options)
    elif config.dataset == "recbole":
        dataset = datasets.load_recbole_atomic(config.data_path, **options)
    elif config.dataset == "amazon":
        if "category" not in options:
            raise ConfigError("dataset=amazon needs dataset_options.category (e.g. Video_Games)")
        dataset = datasets.load_amazon_reviews_2023(config.data_path, **options)
    elif config.dataset == "yelp":
        dataset = datasets.load_yelp(config.data_path, **options)
    else:
        dataset = datasets.load_interactions(config.data_path, **options)
    return dataset


def make_split(config: RunConfig, dataset):
    from rearec_keras import data

    if config.split == "leave_one_out":
        return data.leave_one_out(dataset, max_length=config.max_length,
                                  duplicates=config.duplicates)
    if config.split == "temporal":
        return data.temporal_split(
            dataset, span_fractions=config.temporal_fractions, max_length=config.max_length,
            duplicates=config.duplicates,
        )
    return data.predefined_split(dataset, max_length=config.max_length,
                                 duplicates=config.duplicates)


def prepare_data(config: RunConfig, verbose=0):
    """`(dataset, split)` for a config, with progress on stdout: 0 silent;
    1 a live bar over its three steps (read the files, preprocess, split)
    in a terminal, one summary line otherwise; 2 the summary line. Then the
    dataset's and the split's statistics."""
    from rearec_keras.utils.progress import Progress

    label = f"preparing {config.dataset}" + (f" from {config.data_path}" if config.data_path else "")
    with Progress(3, verbose, label, unit="step", start_line=True) as progress:
        dataset = _read_dataset(config)
        progress.add(1)
        dataset = _preprocess(config, dataset)
        progress.add(1)
        split = make_split(config, dataset)
        progress.add(1)
        progress.close("read, preprocessed and split")
    log_progress(verbose, f"  {dataset.num_interactions:,} interactions, {dataset.num_users:,} users, "
                  f"{dataset.num_items:,} items")
    log_progress(verbose, f"  {split}")
    return dataset, split


def data_statistics(dataset, split) -> dict:
    """`data.json`: both `statistics()` (JSON-ready dicts; the dataset's is
    None when only the split was given). The split's holds the data
    `fingerprint`."""
    return {"dataset": None if dataset is None else dataset.statistics(),
            "split": split.statistics()}
