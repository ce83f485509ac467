"""The `rearec-keras` command line.

    rearec-keras train [--config FILE] [--learning erl] [--kl-weight 0.01] ...
    rearec-keras train --strategy mirrored [--cpu-devices 2] ...
    rearec-keras train --backbone unisrec [--text-features FILE.npy] [--pca-dim 64] ...
    rearec-keras train --backbone hstu --time-buckets 32 ...   (time bias, fed from the data)
    rearec-keras evaluate RUN_DIR_OR_MODEL
    rearec-keras recommend RUN_DIR_OR_MODEL (--user ID | --history 1,2,3 [--timestamps T,T,T]) [-k 10]
    rearec-keras compare --methods base,erl,prl --seeds 0,1,2
    rearec-keras analyze RUN_DIR
    rearec-keras tune --learning prl --algorithm random --max-trials 20
    rearec-keras export RUN_DIR_OR_MODEL --out DIR [--max-k 100]

`rearec-keras train` with no arguments trains ReaSASRec-PRL (K=2) on the
bundled MovieLens-100K (leave-one-out), keeps the best epoch on validation
NDCG@20 (early stopping, patience 10) and prints its test metrics. Invalid
input gives one line on stderr and exit code 2.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from rearec_keras.utils.choices import HALTING_RULES

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(f"{self.prog}: {message}")


# ----------------------------------------------------------------------
# Flags generated from RunConfig.


def _literal(text):
    """`text` as an argparse help string shown as written (argparse
    %-formats help, so a "3.0 %" in a description would crash `--help`)."""
    return text.replace("%", "%%") if text else text


def _add_config_flags(parser):
    from rearec_keras.experiments import config as cfg

    group = parser.add_argument_group("run settings (same keys as a config file)")
    group.add_argument("--config", help="JSON, YAML or TOML file of settings; flags override it")
    from rearec_keras.experiments.presets import PRESETS

    group.add_argument(
        "--preset", choices=tuple(PRESETS), default=None,
        help="named settings applied first (the config file and flags override them): "
             + _literal("; ".join(f"{name}: {p.description}" for name, p in PRESETS.items())))
    for name in cfg.setting_names():  # RunConfig's fields and every method's settings
        flag = "--" + name.replace("_", "-")
        default = cfg.setting_default(name)
        doc = _literal(cfg.setting_doc(name))
        kwargs = {"dest": name, "default": argparse.SUPPRESS}
        if name == "dataset_options":
            group.add_argument("--dataset-option", action="append", metavar="KEY=VALUE",
                               help="extra loader argument (repeatable), e.g. category=Video_Games",
                               **kwargs)
            continue
        if name == "temporal_fractions":
            group.add_argument(flag, nargs=2, type=float, metavar=("VALID", "TEST"),
                               help=f"default {default}", **kwargs)
            continue
        if name == "ks":
            group.add_argument(flag, type=_int_list, metavar="K,K",
                               help="cut-offs to report (default 10,20)", **kwargs)
            continue
        kind = cfg.scalar_type(name)
        if kind is bool:  # --id-fusion / --no-id-fusion
            group.add_argument(flag, action=argparse.BooleanOptionalAction,
                               help=doc or f"default {'on' if default else 'off'}", **kwargs)
            continue
        choices = cfg.choices_of(name)
        if choices is not None:
            kwargs["choices"] = choices
        elif kind in (int, float):
            kwargs["type"] = _optional(kind) if cfg.is_optional(name) else kind
            if cfg.is_optional(name):
                kwargs["metavar"] = f"{kind.__name__.upper()}|none"
        if name == "text_features":
            kwargs["metavar"] = "minilm|FILE.npy"
        group.add_argument(flag, help=doc or f"default {default}", **kwargs)


def _add_device_flag(parser):
    parser.add_argument(
        "--cpu-devices", type=int, metavar="N",
        help="split the CPU into N devices (to try --strategy mirrored or data_parallel "
             "on a machine without accelerators)")


def _simulate_devices(args):
    count = getattr(args, "cpu_devices", None)
    if count is None:
        return
    from rearec_keras import distribute

    if count < 1:
        raise UsageError(f"--cpu-devices must be >= 1, got {count}")
    try:
        distribute.simulate_cpu_devices(count)
    except distribute.StrategyError as e:
        raise UsageError(f"rearec-keras: --cpu-devices: {e}") from None


def _optional(kind):
    """An argparse type for an optional number: `none` gives None."""

    def convert(text):
        if str(text).strip().lower() in ("none", "null"):
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'} or 'none', got {text!r}"
            ) from None

    convert.__name__ = kind.__name__  # argparse names the type in its errors
    return convert


def _int_list(text):
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _name_list(text):
    values = tuple(v.strip() for v in str(text).split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError("expected comma-separated names, e.g. spt,rpt")
    return values


def _parse_option(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--dataset-option must look like KEY=VALUE, got {text!r}")
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass
    return key.replace("-", "_"), value


def _config_from_args(args, **extra):
    from rearec_keras.experiments.config import load_config

    overrides = {}
    for field in _config_field_names():
        if hasattr(args, field):
            overrides[field] = getattr(args, field)
    if "dataset_options" in overrides:
        overrides["dataset_options"] = dict(_parse_option(t) for t in overrides["dataset_options"])
    overrides.update(extra)
    return load_config(getattr(args, "config", None), preset=getattr(args, "preset", None),
                       **overrides)


def _config_field_names():
    from rearec_keras.experiments.config import setting_names

    return setting_names()


def _default_run_dir(config):
    steps = f"-k{config.reasoning_steps}" if config.method.reasons else ""
    return Path("runs") / f"{config.dataset}-{config.backbone}-{config.learning}{steps}-seed{config.seed}"


# ----------------------------------------------------------------------
# Commands.


def cmd_train(args):
    from rearec_keras.experiments import runner

    config = _config_from_args(args)
    run_dir = Path(args.run_dir) if args.run_dir else _default_run_dir(config)
    print(f"{config.describe()} on {config.dataset} ({config.split}); run directory: {run_dir}",
          flush=True)
    metrics = runner.train_run(config, run_dir, verbose=0 if args.quiet else 1,
                               phases=args.phases)
    print(f"\n{metrics['model']}: best epoch {metrics['best_epoch']} of {metrics['epochs_run']} "
          f"(monitor {metrics['monitor']}); full ranking over {metrics['num_items']:,} items"
          + (f"; selected phase: {metrics['selected_phase']} (best validation)"
             if "selected_phase" in metrics else ""))
    print(runner.results_table(metrics, config.ks))
    from rearec_keras.experiments import references

    reference = references.reference_for(config)
    if reference is not None and "test" in metrics:
        print("\n" + references.reference_table(
            metrics, reference, f"{config.describe()}, seed {config.seed}"))
    return 0


def _data_for(config_or_none, args, model, verbose=0):
    from rearec_keras.experiments import runner

    config = config_or_none
    if config is None:
        config = _config_from_args(args, max_length=int(model.max_length))
    else:
        given = [f for f in _config_field_names() if hasattr(args, f)]
        if given:  # the run's own config.json describes its data
            raise UsageError(
                f"rearec-keras {args.command}: {', '.join('--' + f.replace('_', '-') for f in given)} "
                "only apply to a .keras model file; a run directory uses its config.json"
            )
    _, split = runner.prepare_data(config, verbose=verbose)
    runner.check_catalog(model, split)
    if config_or_none is not None:  # a run directory: same data as in training
        runner.check_data(Path(args.run), split)
    return config, split


def cmd_evaluate(args):
    from rearec_keras.experiments import runner

    verbose = 0 if args.quiet else 1
    config, model = runner.load_run(args.run)
    config, split = _data_for(config, args, model, verbose)
    from rearec_keras.experiments import reports

    out = {
        part: runner.step_metrics(model, getattr(split, part), config.ks, config.eval_batch_size,
                                  verbose)
        for part in args.parts
    }
    print(runner.results_table(out, config.ks))
    for part in args.parts:  # test-time depth scaling (LARES)
        sweep = reports.depth_sweep(model, getattr(split, part), config.ks,
                                    batch_size=config.eval_batch_size)
        if sweep is not None:
            out[part]["depth_sweep"] = sweep
            print(f"\n{part}: test-time depth sweep (same weights; trained mean depth "
                  f"{model.reasoning_steps})")
            print(reports.sweep_table(sweep, config.ks))
    if args.halting:
        _refuse_timed_halting(model, args.halting)
        thresholds = _halting_thresholds(args.halting_threshold)
        for part in args.parts:
            try:
                report = reports.halting_report(model, getattr(split, part), config.ks,
                                                args.halting, thresholds,
                                                batch_size=config.eval_batch_size)
            except ValueError as e:
                raise UsageError(f"--halting {args.halting}: {e}") from None
            out[part]["adaptive_halting"] = report
            print(f"\n{part}: per-user halting ({args.halting})")
            print(reports.halting_table(report, config.ks))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def _add_halting_flags(parser, help_text):
    parser.add_argument("--halting", choices=HALTING_RULES, help=help_text)
    parser.add_argument("--halting-threshold", action="append", metavar="KEY=VALUE",
                        help="the rule's thresholds (kl/weighted/learned: threshold=0.05; all: "
                             "confidence=, consistency=, convergence=; weighted: weights=a,b,c)")


def _halting_thresholds(options):
    """`--halting-threshold KEY=VALUE` flags as a dict of numbers
    (`weights=a,b,c`: three numbers)."""
    out = {}
    for text in options or ():
        key, sep, value = text.partition("=")
        try:
            if not sep or not key:
                raise ValueError
            numbers = [float(v) for v in value.split(",")]
        except ValueError:
            raise UsageError(f"--halting-threshold must look like KEY=NUMBER (or weights=a,b,c), "
                             f"got {text!r}") from None
        out[key] = tuple(numbers) if key == "weights" else numbers[0]
    return out


def _user_history(split, user, max_length):
    """The latest `max_length` items of a user (test history + test target)
    and their timestamps (None when the split has no history timestamps)."""
    import numpy as np

    vocab = list(split.user_vocab)
    matches = [i for i, u in enumerate(vocab) if u is not None and str(u) == str(user)]
    if not matches:
        raise UsageError(f"unknown user id {user!r} (the data has {split.num_users:,} users)")
    index = matches[0]
    for part in (split.test, split.valid, split.train):
        rows = np.flatnonzero(np.asarray(part.user_ids) == index)
        if len(rows):
            row = rows[-1]
            real = part.histories[row] != 0
            seq = [int(v) for v in part.histories[row][real]] + [int(part.targets[row])]
            times = None
            if part.history_timestamps is not None:
                times = [int(t) for t in part.history_timestamps[row][real]]
                times = (times + [int(part.timestamps[row])])[-max_length:]
            return seq[-max_length:], times
    raise UsageError(f"user {user!r} has no examples in the split")


def _item_history(vocabulary, text, internal_ids, num_items):
    values = [v.strip() for v in str(text).split(",") if v.strip()]
    if not values:
        raise UsageError("--history is empty; give comma-separated item ids")
    if not internal_ids:
        try:
            return [int(i) for i in vocabulary.item_index(values)]
        except ValueError as e:
            raise UsageError(f"--history: {e} (pass --internal-ids for ids 1..{num_items})") \
                from None
    out = []
    for v in values:
        if not v.lstrip("-").isdigit() or not 1 <= int(v) <= num_items:
            raise UsageError(f"history item {v!r} is not an internal item id in 1..{num_items} "
                             "(without --internal-ids, --history holds the dataset's own ids)")
        out.append(int(v))
    return out


def _history_timestamps(text, count):
    """`--timestamps T,T,...`: one number per --history item."""
    values = [v.strip() for v in str(text).split(",") if v.strip()]
    try:
        numbers = [float(v) if any(c in v for c in ".eE") else int(v) for v in values]
    except ValueError:
        raise UsageError(f"--timestamps must be comma-separated numbers (one per --history "
                         f"item, oldest first), got {text!r}") from None
    if len(numbers) != count:
        raise UsageError(f"--timestamps has {len(numbers)} value(s) but --history has {count} "
                         "item(s); give one timestamp per item, oldest first")
    return numbers


def _refuse_timed_halting(model, flag):
    """Per-user halting feeds no timestamps: refused for a model that reads them."""
    if flag and getattr(model, "uses_timestamps", False):
        raise UsageError(
            f"--halting {flag}: per-user halting does not feed timestamps, and this model has "
            f"a time bias (time_buckets={getattr(model, 'time_buckets', '?')}); leave out "
            "--halting"
        )


def _run_vocabulary(run):
    """A run directory's vocabulary (None if it has none); a broken file is
    a usage error naming it."""
    from rearec_keras.data.vocabulary import Vocabulary

    try:
        return Vocabulary.load(run)
    except ValueError as e:
        raise UsageError(str(e)) from None


def cmd_recommend(args):
    import numpy as np

    from rearec_keras.data.vocabulary import Vocabulary
    from rearec_keras.experiments import runner

    if (args.user is None) == (args.history is None):
        raise UsageError("give exactly one of --user ID or --history ITEM,ITEM,...")
    config, model = runner.load_run(args.run)
    vocabulary = _run_vocabulary(args.run) if config is not None else None
    split = None
    if args.user is not None or vocabulary is None:
        # A user's history, or a run without vocabulary.json (or a .keras
        # file): read the data the ids come from.
        config, split = _data_for(config, args, model)
        if vocabulary is None:
            vocabulary = Vocabulary.from_split(split)
    try:
        vocabulary.check_model(model)
    except ValueError as e:
        raise UsageError(str(e)) from None
    timed = getattr(model, "uses_timestamps", False)
    if args.timestamps is not None and (args.user is not None or not timed):
        raise UsageError("--timestamps applies to --history with a model that has a time bias "
                         "(HSTU, time_buckets > 0)" + ("" if timed else
                                                       "; this model reads no timestamps"))
    times = None
    if args.user is not None:
        seq, times = _user_history(split, args.user, model.max_length)
        if timed and times is None:
            raise UsageError(
                f"this model has a time bias (time_buckets={model.time_buckets}) but the "
                "split has no history timestamps (its histories came without times); use "
                "--history with --timestamps"
            )
    else:
        items = _item_history(vocabulary, args.history, args.internal_ids, model.num_items)
        if timed:
            if args.timestamps is None:
                raise UsageError(
                    f"this model has a time bias (time_buckets={model.time_buckets}) and reads "
                    "each history item's timestamp: pass --timestamps T1,T2,... (one per "
                    "--history item, oldest first, in the dataset's time unit, e.g. Unix "
                    "seconds), or --user ID"
                )
            times = _history_timestamps(args.timestamps, len(items))[-model.max_length:]
        seq = items[-model.max_length:]
    _refuse_timed_halting(model, args.halting)
    if not 1 <= args.k <= model.num_items:
        raise UsageError(f"-k must be in 1..{model.num_items}, got {args.k}")
    histories = np.zeros((1, model.max_length), dtype="int32")
    histories[0, -len(seq):] = seq
    inputs = histories
    if timed:
        stamps = np.zeros((1, model.max_length), dtype="float64" if any(
            isinstance(t, float) for t in times) else "int64")
        stamps[0, -len(times):] = times
        inputs = {"histories": histories, "timestamps": stamps}
    halting = {}
    if args.halting:
        halting = dict(halting=args.halting,
                       thresholds=_halting_thresholds(args.halting_threshold))
    try:
        ids, scores = model.recommend(inputs, k=args.k, exclude_history=args.exclude_seen,
                                      **halting)
    except ValueError as e:
        if not args.halting:
            raise
        raise UsageError(f"--halting {args.halting}: {e}") from None
    titles = vocabulary.titles_of(ids[0])
    raw = vocabulary.item_ids(ids[0])
    print(f"history ({len(seq)} items, newest last): " + ("... " if len(seq) > 10 else "")
          + ", ".join(str(v) for v in vocabulary.item_ids(seq[-10:])))
    print("| rank | item | score |" + (" title |" if titles is not None else ""))
    print("|---|---|---|" + ("---|" if titles is not None else ""))
    for r, (i, s) in enumerate(zip(raw, scores[0]), start=1):
        row = f"| {r} | {table_cell(i)} | {s:.3f} |"
        if titles is not None:
            row += f" {table_cell(titles[r - 1] or '')} |"
        print(row)
    return 0


def table_cell(value, width=80) -> str:
    """`value` as one markdown table cell: whitespace runs (newlines
    included) become one space, `|` is escaped, and text longer than
    `width` characters is cut with an ellipsis."""
    text = " ".join(str("" if value is None else value).split())
    if len(text) > width:
        text = text[: width - 1].rstrip() + "…"
    return text.replace("|", "\\|")


def cmd_compare(args):
    from rearec_keras.experiments.compare import compare

    base = _config_from_args(args)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    repeated = sorted({m for m in methods if methods.count(m) > 1})
    if repeated:
        raise UsageError(f"rearec-keras compare: --methods names {', '.join(repeated)} more "
                         "than once; each method is trained once per seed")
    out_dir = Path(args.out) if args.out else Path("runs") / f"compare-{base.dataset}-{base.backbone}"
    table = compare(base, methods, args.seeds, out_dir, verbose=0 if args.quiet else 1)
    print(table)
    return 0


def cmd_analyze(args):
    from rearec_keras.experiments import runner
    from rearec_keras.experiments.analysis import analyze

    config, model = runner.load_run(args.run)
    if config is None:
        raise UsageError("analyze needs a run directory (with config.json), not a model file")
    verbose = 0 if args.quiet else 1
    _, split = _data_for(config, args, model, verbose)
    out_dir = Path(args.out) if args.out else Path(args.run) / "analysis"
    results, files = analyze(model, split, out_dir, part=args.part, ks=config.ks,
                             k=max(config.ks), batch_size=config.eval_batch_size,
                             title=config.describe(), verbose=verbose)
    k = results["k"]
    print(f"{config.describe()}: analyses of {results['num_rows']:,} {args.part} rows in {out_dir}")
    for row in results["performance"]:
        print(f"  {row['step']:>6}: NDCG@{k} {row[f'ndcg@{k}']:.4f}  Recall@{k} {row[f'recall@{k}']:.4f}")
    oracle = results["oracle"][-1]
    print(f"  oracle (best step per row): NDCG@{k} {oracle[f'ndcg@{k}']:.4f}; best step counts "
          f"{results['best_step_counts']}")
    if "depth_sweep" in results:
        print("  test-time depth sweep: " + ", ".join(
            f"k={r['depth']} N@{k} {r[f'ndcg@{k}']:.4f}" for r in results["depth_sweep"]))
    if "halting_curve" in results:
        print("  per-user KL halting: " + ", ".join(
            f"{r['mean_steps']:.2f} steps N@{k} {r[f'ndcg@{k}']:.4f}"
            for r in results["halting_curve"]))
    for name, path in files.items():
        print(f"  {name}: {path}")
    return 0


def cmd_tune(args):
    from rearec_keras.tuning import parse_space_flag
    from rearec_keras.tuning import run_study

    config = _config_from_args(args)
    overrides = dict(parse_space_flag(text) for text in (args.space or []))
    if args.oracle or args.tuner_id:
        # KerasTuner's chief/worker mode reads these when the tuner is made.
        if not (args.oracle and args.tuner_id):
            raise UsageError("rearec-keras tune: --oracle and --tuner-id go together")
        host, sep, port = args.oracle.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise UsageError(f"rearec-keras tune: --oracle expects HOST:PORT, got {args.oracle!r}")
        os.environ.update(KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port,
                          KERASTUNER_TUNER_ID=args.tuner_id)
    out_dir = Path(args.out) if args.out else Path("runs") / (
        f"tune-{config.dataset}-{config.backbone}-{config.learning}-{args.algorithm}")
    verbose = 0 if args.quiet else 1
    summary = run_study(config, out_dir, algorithm=args.algorithm, overrides=overrides,
                        max_trials=args.max_trials, hyperband_factor=args.hyperband_factor,
                        baseline=not args.no_baseline, overwrite=args.overwrite, verbose=verbose)
    if summary is None:  # a worker of a distributed study: the chief reports
        return 0
    print((out_dir / "summary.md").read_text())
    for name, path in summary["files"].items():
        print(f"{name}: {path}")
    return 0


def cmd_export(args):
    from rearec_keras.experiments import runner
    from rearec_keras.serving.export import ExportError
    from rearec_keras.serving.export import export_serving

    from rearec_keras.data.vocabulary import Vocabulary

    config, model = runner.load_run(args.run)
    vocabulary = _run_vocabulary(args.run) if config is not None else None
    try:
        info = export_serving(model, args.out, max_k=args.max_k, steps=args.steps,
                              vocabulary=vocabulary,
                              halting=args.halting,
                              thresholds=_halting_thresholds(args.halting_threshold),
                              overwrite=args.overwrite)
    except ExportError as e:
        raise UsageError(f"rearec-keras export: {e}") from None
    print(f"{info['model']} ({info['learning']}, K={info['reasoning_steps']}, "
          f"{info['num_items']:,} items, histories of {info['max_length']}) exported to {args.out}")
    if vocabulary is None:
        print("no vocabulary (a .keras file, or a run trained before vocabulary.json): the "
              "export speaks internal item ids 1..N")
    if info["halting"]:
        print(f"per-user halting: {info['halting']['mode']} {info['halting']['thresholds']}")
    if info.get("timestamps"):
        print(f"time bias (time_buckets={info['time_buckets']}): the endpoints take the history "
              "items' timestamps (int64 [batch, max_length]) right after the histories")
    print(f"endpoints: {', '.join(info['endpoints'])}; k in 1..{info['max_k']}; "
          f"description in {Path(args.out) / 'serving.json'}")
    return 0


# ----------------------------------------------------------------------


def build_parser():
    parser = _Parser(prog="rearec-keras", description=__doc__.split("\n")[0])
    from rearec_keras.version import __version__

    parser.add_argument("--version", action="version", version=f"rearec-keras {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train, select on validation, test")
    _add_config_flags(train)
    train.add_argument("--run-dir", help="run directory (default runs/DATASET-BACKBONE-METHOD-seedN)")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.add_argument("--phases", type=_name_list, metavar="PHASE,PHASE",
                       help="the stages of a staged method to run, a prefix of its own "
                            "(lares: spt,rpt; --phases spt stops after pre-training; running "
                            "again without it goes on)")
    _add_device_flag(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="metrics of a trained run or .keras model, per step")
    evaluate.add_argument("run", metavar="RUN_DIR_OR_MODEL")
    evaluate.add_argument("--parts", nargs="+", choices=("valid", "test"), default=["valid", "test"])
    evaluate.add_argument("--json", help="also write the metrics to this JSON file")
    evaluate.add_argument("--quiet", action="store_true", help="no progress output")
    _add_halting_flags(evaluate, "also score with per-user halting (ReaRec models, LARES): "
                                 "stop a user's reasoning when the rule is met; reports "
                                 "metrics, mean steps, steps saved and time next to fixed depth")
    _add_config_flags(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    recommend = sub.add_parser("recommend", help="top-k items for a user or an item history")
    recommend.add_argument("run", metavar="RUN_DIR_OR_MODEL")
    recommend.add_argument("--user", help="a user id of the dataset (uses all their interactions)")
    recommend.add_argument("--history", help="comma-separated item ids, oldest first")
    recommend.add_argument("--internal-ids", action="store_true",
                           help="--history holds internal item ids 1..N (default: the dataset's "
                                "own ids, as the run's vocabulary.json lists them)")
    recommend.add_argument("--timestamps", metavar="T,T,...",
                           help="the --history items' timestamps (one each, oldest first, in "
                                "the dataset's time unit): required by a model with a time "
                                "bias (HSTU, time_buckets > 0), refused by the others")
    recommend.add_argument("-k", type=int, default=10)
    recommend.add_argument("--exclude-seen", action="store_true", help="never recommend history items")
    _add_halting_flags(recommend, "stop the reasoning as soon as the rule is met (ReaRec "
                                  "models, LARES; DTRec: learned)")
    _add_config_flags(recommend)
    recommend.set_defaults(func=cmd_recommend)

    comp = sub.add_parser("compare", help="Base vs ERL vs PRL over seeds: mean ± std table")
    comp.add_argument("--methods", default="base,erl,prl")
    comp.add_argument("--seeds", type=_int_list, default=[0, 1, 2])
    comp.add_argument("--out", help="directory of the runs and the table")
    comp.add_argument("--quiet", action="store_true")
    _add_config_flags(comp)
    _add_device_flag(comp)
    comp.set_defaults(func=cmd_compare)

    an = sub.add_parser("analyze", help="the paper's analyses of a run: PNG plots + CSV")
    an.add_argument("run", metavar="RUN_DIR")
    an.add_argument("--part", choices=("valid", "test"), default="test")
    an.add_argument("--out", help="output directory (default RUN_DIR/analysis)")
    an.add_argument("--quiet", action="store_true", help="no progress output")
    an.set_defaults(func=cmd_analyze)

    tune = sub.add_parser(
        "tune", help="KerasTuner search over lambda, tau, alpha, K (the paper's grids by default)")
    tune.add_argument("--algorithm", choices=("grid", "random", "bayesian", "hyperband"),
                      default="random")
    tune.add_argument("--space", action="append", metavar="NAME=V1,V2|MIN:MAX[:log|:STEP]",
                      help="replace one setting's values in the search space (repeatable); "
                           "NAME=none removes it")
    tune.add_argument("--max-trials", type=int,
                      help="trials to run (default: the whole grid; 10 for random/bayesian)")
    tune.add_argument("--hyperband-factor", type=int, default=3)
    tune.add_argument("--out", help="study directory (default runs/tune-DATASET-BACKBONE-METHOD-ALGO)")
    tune.add_argument("--no-baseline", action="store_true",
                      help="skip training the base config for the gain over the defaults")
    tune.add_argument("--overwrite", action="store_true", help="start the study afresh")
    tune.add_argument("--oracle", metavar="HOST:PORT",
                      help="distributed tuning: address of the chief's oracle")
    tune.add_argument("--tuner-id", help="distributed tuning: 'chief' or a worker id (tuner0, ...)")
    tune.add_argument("--quiet", action="store_true")
    _add_config_flags(tune)
    _add_device_flag(tune)
    tune.set_defaults(func=cmd_tune)

    export = sub.add_parser(
        "export", help="a run or .keras model as a TensorFlow SavedModel (encode, top_k)")
    export.add_argument("run", metavar="RUN_DIR_OR_MODEL")
    export.add_argument("--out", required=True, help="output directory of the SavedModel")
    export.add_argument("--max-k", type=int,
                        help="largest k the top_k endpoints accept (default: the whole catalog)")
    export.add_argument("--steps", type=int,
                        help="reasoning steps to serve with (default: the model's K)")
    _add_halting_flags(export, "serve with per-user halting: each user stops reasoning at its "
                               "own step (adds the halting_steps endpoint)")
    export.add_argument("--overwrite", action="store_true", help="replace an earlier export")
    export.set_defaults(func=cmd_export)
    return parser


def _import_backend_quietly():
    """Imports Keras (and TensorFlow) with the C++ start-up log lines that
    TensorFlow writes straight to file descriptor 2 silenced, so that an
    error stays the only line on stderr."""
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import keras  # noqa: F401  (the import is the point)
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        # First: building the parser imports the experiments package, which
        # may import Keras.
        _import_backend_quietly()
        args = build_parser().parse_args(argv)
        _simulate_devices(args)
        return args.func(args)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rearec-keras: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # known input errors -> one line, exit 2
        if _is_input_error(e):
            print(f"rearec-keras: error: {_error_message(e)}", file=sys.stderr)
            return EXIT_USAGE
        raise


def _is_input_error(e):
    from rearec_keras.datasets import DataError
    from rearec_keras.experiments.config import ConfigError
    from rearec_keras.experiments.runner import RunError
    from rearec_keras.utils.files import CorruptFileError
    from rearec_keras.utils.files import RunLockedError

    # File system problems with a path: a missing file, a directory where a
    # file is expected, no permission to read or write.
    return isinstance(e, (ConfigError, RunError, DataError, CorruptFileError, RunLockedError,
                          FileNotFoundError, NotADirectoryError, IsADirectoryError,
                          PermissionError, FileExistsError))


def _error_message(e) -> str:
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        what = {PermissionError: "permission denied", IsADirectoryError: "is a directory, not a file",
                NotADirectoryError: "is not a directory"}.get(type(e), e.strerror.lower())
        hint = {PermissionError: " (check that the directory is writable, or pass another path)",
                IsADirectoryError: " (pass the path of a file)"}.get(type(e), "")
        return f"{e.filename}: {what}{hint}"
    return " ".join(str(e).split())


if __name__ == "__main__":
    sys.exit(main())
