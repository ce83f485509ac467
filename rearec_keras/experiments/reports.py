"""What a run reports: metrics per reasoning step and markdown tables."""

from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import parse_metric


def monitor_name(config: RunConfig) -> str:
    """The epoch-log key of the validation metric selecting the best epoch,
    e.g. `val_ndcg@20`."""
    metric, k = parse_metric(config.monitor)
    return f"val_{metric}@{k}"


# LARES' test-time depth sweep (official `test_recurrence_ratios` with k̄ = 4).
SWEEP_DEPTHS = (1, 2, 4, 8, 12, 16)


def depth_sweep(model, part, ks, depths=SWEEP_DEPTHS, batch_size=512):
    """Metrics at each test-time depth `[{"depth": k, "ndcg@10": ...}]` for
    a model whose reasoner runs any depth (`model.max_steps is None`, e.g.
    LARES); None for the others. Same weights at every depth."""
    if getattr(model, "max_steps", 0) is not None:
        return None
    from rearec_keras.evaluation import evaluate

    rows = []
    for depth in depths:
        metrics = evaluate(model, part, ks=ks, batch_size=batch_size,
                           score_fn=lambda m, h, d=depth: m.score(h, steps=d,
                                                                  batch_size=batch_size))
        rows.append({"depth": int(depth), **metrics})
    return rows


def sweep_table(rows, ks) -> str:
    """A markdown table of `depth_sweep` rows."""
    columns = metric_columns(ks)
    lines = ["| depth | " + " | ".join(c[1] for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row['depth']} | " + " | ".join(f"{row[c[0]]:.4f}" for c in columns)
                     + " |")
    return "\n".join(lines)


# History-length groups of the halting report (left edges, number of items).
HISTORY_GROUPS = (1, 5, 10, 20, 50)


def halting_report(model, part, ks, mode, thresholds=None, batch_size=512):
    """Per-user halting on `part` (`ReaRecModel.score_with_halting`) next to
    the model's fixed depth: metrics of both, the mean halting step, the
    histogram of halting steps per history-length group, the share of
    reasoning steps saved, and wall-clock seconds of each (the halting loop
    runs eagerly and scores every step for its signals; fixed depth is the
    model's compiled `score`)."""
    import time

    import numpy as np

    from rearec_keras.evaluation import ranking_metrics
    from rearec_keras.evaluation import target_ranks
    from rearec_keras.halting import check_rule
    from rearec_keras.halting import compute_saving

    rule = check_rule(mode, thresholds)
    histories, targets = np.asarray(part.histories), np.asarray(part.targets)
    start = time.perf_counter()
    fixed = model.score(histories, batch_size=batch_size)
    fixed_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scores, steps = model.score_with_halting(histories, mode, thresholds, batch_size=batch_size)
    halting_seconds = time.perf_counter() - start
    depth = model.reasoning_steps
    lengths = (histories != 0).sum(axis=1)
    edges = [e for e in HISTORY_GROUPS if e <= histories.shape[1]]
    groups = {}
    for i, low in enumerate(edges):
        high = edges[i + 1] - 1 if i + 1 < len(edges) else histories.shape[1]
        rows = (lengths >= low) & (lengths <= high)
        if rows.any():
            groups[f"{low}-{high}"] = {
                "users": int(rows.sum()), "mean_steps": float(steps[rows].mean()),
                "histogram": np.bincount(steps[rows], minlength=depth + 1)[1:].tolist()}
    return {
        "mode": mode, "thresholds": {k: list(v) if isinstance(v, tuple) else v
                                     for k, v in rule.items()},
        "max_steps": int(depth), "mean_steps": float(steps.mean()) if len(steps) else 0.0,
        "histogram": np.bincount(steps, minlength=depth + 1)[1:].tolist(),
        "by_history_length": groups,
        "step_saving": compute_saving(steps, depth) if depth else 0.0,
        "halting": ranking_metrics(target_ranks(scores, targets), ks=ks),
        "fixed_depth": ranking_metrics(target_ranks(fixed, targets), ks=ks),
        "halting_seconds": round(halting_seconds, 3), "fixed_depth_seconds": round(fixed_seconds, 3),
    }


def halting_table(report, ks) -> str:
    """Markdown lines of a `halting_report`."""
    columns = metric_columns(ks)
    lines = ["| inference | mean steps | " + " | ".join(c[1] for c in columns) + " | seconds |",
             "|---" * (len(columns) + 3) + "|"]
    for name, steps, seconds in (
            ("fixed depth", report["max_steps"], report["fixed_depth_seconds"]),
            (f"halting ({report['mode']})", report["mean_steps"], report["halting_seconds"])):
        row = report["fixed_depth" if name == "fixed depth" else "halting"]
        lines.append(f"| {name} | {steps:.2f} | "
                     + " | ".join(f"{row[c[0]]:.4f}" for c in columns) + f" | {seconds:.2f} |")
    lines.append("")
    lines.append(f"reasoning steps saved: {100 * report['step_saving']:.1f}%; halting steps "
                 f"1..{report['max_steps']}: {report['histogram']}")
    for group, row in report["by_history_length"].items():
        lines.append(f"  history {group} items: {row['users']} users, mean {row['mean_steps']:.2f} "
                     f"steps, histogram {row['histogram']}")
    return "\n".join(lines)


def step_metrics(model, part, ks, batch_size=512, verbose=0):
    """Metrics of the model's inference scores and of each reasoning state.

    Returns `{"final": {...}, "steps": [{...} for r_0..r_K]}`, where step
    `s` ranks with `r_s` alone (the last state of an `s`-step run). One
    encoder pass serves all of them. `verbose`: 0 silent, 1 a live bar in a
    terminal (one line otherwise), 2 one line.
    """
    from rearec_keras.evaluation import ranking_metrics
    from rearec_keras.experiments.analysis import rank_targets

    step_ranks, final_ranks, _ = rank_targets(model, part, batch_size, verbose=verbose)
    return {
        "final": ranking_metrics(final_ranks, ks=ks),
        "steps": [ranking_metrics(ranks, ks=ks) for ranks in step_ranks],
    }


def metric_columns(ks) -> list:
    """`[(metric key, table header)]` of the tables: NDCG then Recall at
    each cut-off, e.g. `("ndcg@10", "N@10")`."""
    return [(f"ndcg@{k}", f"N@{k}") for k in ks] + [(f"recall@{k}", f"R@{k}") for k in ks]


def results_table(metrics: dict, ks) -> str:
    """A small markdown table: one row per part (valid, test) present in
    `metrics`, NDCG and Recall at `ks` as columns; then the test (or only)
    part's NDCG at the largest cut-off ranking with each reasoning state."""
    parts = [p for p in ("valid", "test") if p in metrics]
    columns = metric_columns(ks)
    lines = ["| split | " + " | ".join(c[1] for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for part in parts:
        row = metrics[part]["final"]
        lines.append(f"| {part} | " + " | ".join(f"{row[c[0]]:.4f}" for c in columns) + " |")
    stages = metrics.get("phases") or {}
    if stages:  # a staged run (LARES: SPT, RPT): each stage's best model
        lines.append("")
        lines.append("| phase | part | " + " | ".join(c[1] for c in columns) + " |")
        lines.append("|---" * (len(columns) + 2) + "|")
        for name, stage in stages.items():
            mark = " (selected)" if name == metrics.get("selected_phase") else ""
            for part in parts:
                row = stage[part]["final"]
                lines.append(f"| {name}{mark} | {part} | "
                             + " | ".join(f"{row[c[0]]:.4f}" for c in columns) + " |")
    steps = metrics[parts[-1]]["steps"]
    if len(steps) > 1:
        key = f"ndcg@{max(ks)}"
        lines.append("")
        lines.append(f"{parts[-1]} N@{max(ks)} ranking with one reasoning state: "
                     + "  ".join(f"r_{s} {m[key]:.4f}" for s, m in enumerate(steps)))
    return "\n".join(lines)
