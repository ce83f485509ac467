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


def step_metrics(model, part, ks, batch_size=512):
    """Metrics of the model's inference scores and of each reasoning state.

    Returns `{"final": {...}, "steps": [{...} for r_0..r_K]}`, where step
    `s` ranks with `r_s` alone (the last state of an `s`-step run). One
    encoder pass serves all of them.
    """
    from rearec_keras.evaluation import ranking_metrics
    from rearec_keras.experiments.analysis import rank_targets

    step_ranks, final_ranks, _ = rank_targets(model, part, batch_size)
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
