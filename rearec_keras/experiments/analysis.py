"""The ReaRec paper's analyses of a trained model, as CSV tables and PNGs.

`analyze(model, split, out_dir)` writes, for the test part (or another):

1. `step_performance`: NDCG/Recall@k when ranking with each reasoning state
   `r_0..r_K` alone, and with the model's own inference scores (Fig. 5).
2. `subgroups`: NDCG@k per step for 4 equal-size user groups by history
   length (UG-0 shortest) and 4 item groups by the training popularity of
   the target, each with the same number of test rows (IG-0 least popular)
   (Fig. 4).
3. `state_similarity`: cosine similarity of `r_i` and `r_j`, averaged over
   the test rows (Fig. 9).
4. `rank_trajectories`: the target's rank at every step, per test row
   (CSV) and as median / quartiles plus a sample of rows (Fig. 8).
5. `oracle`: the post-hoc "best step per row" upper bound: each row ranked
   with the step that ranks its target best (Fig. 2).

All numbers come from full ranking over the catalog (padding excluded,
ties against the target), as in `rearec_keras.evaluate`.
"""

import csv
from pathlib import Path

import numpy as np

from rearec_keras.evaluation.ranking import ranking_metrics

NUM_GROUPS = 4


def rank_targets(model, part, batch_size=512, verbose=0):
    """Target ranks with each reasoning state and with the model's scores.

    One encoder pass per batch: the states are scored once per step
    (`r_s` alone, as an `s`-step run would end) and once with the model's
    own pooling. Returns `(step_ranks [K+1, n], final_ranks [n],
    states [n, K+1, d])`. `verbose`: 0 silent, 1 a live bar in a terminal
    (one summary line otherwise), 2 the summary line
    (`rearec_keras.utils.progress.Progress`). A model that reads timestamps
    gets the part's `history_timestamps` (`evaluator.model_timestamps`).
    """
    from rearec_keras.evaluation import check_catalog
    from rearec_keras.evaluation import target_ranks
    from rearec_keras.evaluation.evaluator import model_timestamps
    from rearec_keras.utils.progress import Progress

    histories, targets = check_catalog(model, part)
    timestamps = model_timestamps(model, part, histories)
    per_step, final, states = [], [], []
    name = getattr(part, "name", None)
    label = f"evaluating {name}" if isinstance(name, str) else "evaluating"
    with Progress(len(histories), verbose, label, unit="example") as progress:
        for i in range(0, len(histories), batch_size):
            t = targets[i : i + batch_size]
            batch_states = model.reasoning_states(
                histories[i : i + batch_size], batch_size=batch_size,
                timestamps=None if timestamps is None else timestamps[i : i + batch_size])
            scores = model.scores_from_states(batch_states, pooling="each")  # [b, K+1, N+1]
            ranks = np.stack([np.asarray(target_ranks(scores[:, s], t))
                              for s in range(scores.shape[1])])
            per_step.append(ranks)
            if model.inference_pooling == "last":  # the model's output is r_K's ranking
                final.append(ranks[-1])
            else:
                final.append(np.asarray(target_ranks(model.scores_from_states(batch_states), t)))
            states.append(batch_states)
            progress.add(len(t))
    return np.concatenate(per_step, axis=1), np.concatenate(final), np.concatenate(states)


def _metric(ranks, name, k):
    """`ranking_metrics` for one metric, e.g. `_metric(r, "ndcg", 20)`."""
    return ranking_metrics(ranks, ks=(k,), metrics=(name,))[f"{name}@{k}"]


def equal_groups(values, num_groups=NUM_GROUPS):
    """Group index per row: rows sorted by `values` (stable), cut into
    `num_groups` parts of equal size (the first ones one row larger when
    the count does not divide)."""
    values = np.asarray(values)
    if len(values) < num_groups:
        raise ValueError(f"need at least {num_groups} rows to form {num_groups} groups, got {len(values)}")
    order = np.argsort(values, kind="stable")
    groups = np.empty(len(values), dtype=int)
    for g, rows in enumerate(np.array_split(order, num_groups)):
        groups[rows] = g
    return groups


def cosine_similarity_matrix(states):
    """Mean over rows of the `[K+1, K+1]` cosine similarities of the states."""
    states = np.asarray(states, dtype=np.float64)
    norms = np.linalg.norm(states, axis=-1, keepdims=True)
    unit = states / np.maximum(norms, 1e-12)
    return np.einsum("nid,njd->ij", unit, unit) / len(states)


def compute_analyses(model, part, train_item_counts, ks=(10, 20), k=20, batch_size=512,
                     verbose=0):
    """All five analyses as plain Python/numpy data (no files). `verbose`:
    progress of the ranking pass, as in `rank_targets`."""
    step_ranks, final_ranks, states = rank_targets(model, part, batch_size, verbose=verbose)
    targets = np.asarray(part.targets)
    num_steps = step_ranks.shape[0]

    performance = [
        {"step": name, **ranking_metrics(ranks, ks=ks, metrics=("ndcg", "recall"))}
        for name, ranks in [*((f"r_{s}", step_ranks[s]) for s in range(num_steps)),
                            ("model", final_ranks)]
    ]

    lengths = np.asarray(part.history_lengths)
    popularity = np.asarray(train_item_counts)[targets]
    subgroups = []
    for kind, values, label in (("user", lengths, "history length"),
                                ("item", popularity, "target popularity")):
        groups = equal_groups(values)
        for g in range(NUM_GROUPS):
            rows = groups == g
            entry = {
                "group": f"{'UG' if kind == 'user' else 'IG'}-{g}",
                "by": label,
                "rows": int(rows.sum()),
                "min": int(values[rows].min()),
                "max": int(values[rows].max()),
            }
            for s in range(num_steps):
                entry[f"ndcg@{k}_r{s}"] = _metric(step_ranks[s, rows], "ndcg", k)
            entry[f"ndcg@{k}_model"] = _metric(final_ranks[rows], "ndcg", k)
            subgroups.append(entry)

    similarity = cosine_similarity_matrix(states)

    best_step = np.argmin(step_ranks, axis=0)
    oracle_ranks = step_ranks.min(axis=0)
    oracle = []
    for name, ranks in [*((f"r_{s}", step_ranks[s]) for s in range(num_steps)),
                        ("model", final_ranks), ("oracle (best step per row)", oracle_ranks)]:
        oracle.append({
            "ranking": name,
            f"ndcg@{k}": _metric(ranks, "ndcg", k),
            f"recall@{k}": _metric(ranks, "recall", k),
            "mean_rank": float(np.mean(ranks)),
        })
    best_counts = np.bincount(best_step, minlength=num_steps)

    return {
        "k": k,
        "num_rows": int(len(targets)),
        "step_ranks": step_ranks,
        "final_ranks": final_ranks,
        "performance": performance,
        "subgroups": subgroups,
        "similarity": similarity,
        "oracle": oracle,
        "best_step_counts": best_counts.tolist(),
    }


# ----------------------------------------------------------------------
# Files.


def _write_csv(path, rows, header=None):
    header = header or list(rows[0])
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_analyses(results, out_dir, title=""):
    """Writes the CSVs and PNGs of `compute_analyses` results; returns paths."""
    plt = _plt()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k = results["k"]
    step_ranks = results["step_ranks"]
    num_steps = step_ranks.shape[0]
    steps = np.arange(num_steps)
    files = {}
    suffix = f" — {title}" if title else ""

    # 1. performance vs step
    perf = results["performance"]
    _write_csv(out / "step_performance.csv", perf)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, (f"ndcg@{k}", f"recall@{k}")):
        ax.plot(steps, [p[metric] for p in perf[:-1]], "o-", label="rank with r_s alone")
        ax.axhline(perf[-1][metric], color="gray", ls="--", label="model's inference")
        ax.set_xticks(steps, [f"r_{s}" for s in steps])
        ax.set_xlabel("reasoning step")
        ax.set_ylabel(metric.upper())
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Performance per reasoning step" + suffix, fontsize=10)
    files["step_performance"] = _save(plt, fig, out / "step_performance.png")

    # 2. subgroups
    groups = results["subgroups"]
    _write_csv(out / "subgroups.csv", groups)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    width = 0.8 / num_steps
    for ax, by in zip(axes, ("history length", "target popularity")):
        rows = [g for g in groups if g["by"] == by]
        x = np.arange(len(rows))
        for s in range(num_steps):
            ax.bar(x + (s - (num_steps - 1) / 2) * width, [g[f"ndcg@{k}_r{s}"] for g in rows],
                   width, label=f"Step-{s}")
        ax.set_xticks(x, [f"{g['group']}\n{g['min']}-{g['max']}" for g in rows], fontsize=8)
        ax.set_title(f"by {by}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(f"NDCG@{k}")
    axes[0].legend(fontsize=8)
    fig.suptitle("User and item groups (4 equal-size groups)" + suffix, fontsize=10)
    files["subgroups"] = _save(plt, fig, out / "subgroups.png")

    # 3. cosine similarity heatmap
    sim = results["similarity"]
    _write_csv(out / "state_similarity.csv",
               [{"state": f"r_{i}", **{f"r_{j}": float(sim[i, j]) for j in steps}} for i in steps])
    fig, ax = plt.subplots(figsize=(1.2 * num_steps + 2, 1.1 * num_steps + 1.5))
    im = ax.imshow(sim, vmin=min(0.0, float(sim.min())), vmax=1.0, cmap="viridis")
    for i in steps:
        for j in steps:
            ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center",
                    color="white" if sim[i, j] < 0.6 else "black", fontsize=9)
    ax.set_xticks(steps, [f"r_{s}" for s in steps])
    ax.set_yticks(steps, [f"r_{s}" for s in steps])
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title("Cosine similarity of reasoning states" + suffix, fontsize=9)
    files["state_similarity"] = _save(plt, fig, out / "state_similarity.png")

    # 4. rank trajectories
    _write_csv(out / "rank_trajectories.csv",
               [{"row": n, **{f"rank_r{s}": int(step_ranks[s, n]) for s in steps}}
                for n in range(step_ranks.shape[1])])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    rng = np.random.default_rng(0)
    sample = rng.choice(step_ranks.shape[1], size=min(40, step_ranks.shape[1]), replace=False)
    for n in sample:
        ax.plot(steps, step_ranks[:, n], color="gray", alpha=0.25, lw=0.8)
    q1, med, q3 = np.percentile(step_ranks, [25, 50, 75], axis=1)
    ax.fill_between(steps, q1, q3, alpha=0.25, label="quartiles")
    ax.plot(steps, med, "o-", lw=2, label="median rank")
    ax.set_yscale("log")
    ax.invert_yaxis()
    ax.set_xticks(steps, [f"r_{s}" for s in steps])
    ax.set_ylabel("rank of the target (log)")
    ax.legend(fontsize=8)
    ax.set_title("Target rank across reasoning steps" + suffix, fontsize=9)
    files["rank_trajectories"] = _save(plt, fig, out / "rank_trajectories.png")

    # 5. oracle
    oracle = results["oracle"]
    _write_csv(out / "oracle.csv", oracle)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = [o["ranking"].replace(" (best step per row)", "\n(best step)") for o in oracle]
    values = [o[f"ndcg@{k}"] for o in oracle]
    colors = ["C0"] * (len(oracle) - 2) + ["C1", "C3"]
    ax.bar(names, values, color=colors)
    for i, v in enumerate(values):
        ax.text(i, v, f"{v:.4f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(f"NDCG@{k}")
    ax.set_title("Post-hoc oracle: best step per test row" + suffix, fontsize=9)
    files["oracle"] = _save(plt, fig, out / "oracle.png")
    return files


def analyze(model, split, out_dir, part="test", ks=(10, 20), k=20, batch_size=512, title="",
            verbose=0):
    """Computes and writes the five analyses; returns `(results, files)`.
    `verbose`: progress of the ranking pass (see `rank_targets`)."""
    if part not in ("valid", "test"):
        raise ValueError(f"part must be 'valid' or 'test', got {part!r}")
    results = compute_analyses(
        model, getattr(split, part), split.train_item_counts(), ks=ks, k=k, batch_size=batch_size,
        verbose=verbose,
    )
    files = write_analyses(results, out_dir, title=title)
    from rearec_keras.experiments.reports import depth_sweep

    sweep = depth_sweep(model, getattr(split, part), tuple(sorted(set(ks) | {k})),
                        batch_size=batch_size)
    if sweep is not None:  # test-time depth scaling (a reasoner that runs any depth)
        results["depth_sweep"] = sweep
        files.update(write_depth_sweep(sweep, k, Path(out_dir), title=title))
    curve = halting_curve(model, getattr(split, part), tuple(sorted(set(ks) | {k})),
                          batch_size=batch_size)
    if curve is not None:  # per-user halting: accuracy against reasoning steps
        results["halting_curve"] = curve
        files.update(write_halting_curve(curve, k, Path(out_dir), title=title))
    return results, files


HALTING_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def halting_curve(model, part, ks, batch_size=512):
    """Accuracy against compute with per-user KL halting: one row per
    threshold (fixed depth, the quantiles `HALTING_QUANTILES` of the
    observed adjacent-step KL, and everyone at step 1), each with its mean
    halting step, share of steps saved and metrics. None for a model that
    cannot halt (no reasoning steps, a reasoner without `halting_call`, or
    a model that reads timestamps, which halting does not feed)."""
    import numpy as np
    from keras import ops

    from rearec_keras import halting
    from rearec_keras.evaluation import ranking_metrics
    from rearec_keras.evaluation import target_ranks

    reasoner = getattr(model, "reasoning", None)
    if (not getattr(model, "reasoning_steps", 0) or not hasattr(reasoner, "halting_call")
            or getattr(model, "uses_timestamps", False)):
        return None
    histories, targets = np.asarray(part.histories), np.asarray(part.targets)
    signals = halting.halting_signals(model.step_scores(histories, batch_size=batch_size),
                                      model.reasoning_states(histories, batch_size=batch_size))
    kl = np.asarray(ops.convert_to_numpy(signals["kl"])).ravel()
    thresholds = [-1.0, *np.quantile(kl, HALTING_QUANTILES).tolist(), float("inf")]
    rows = []
    for threshold in thresholds:
        scores, steps = model.score_with_halting(histories, "kl", {"threshold": threshold},
                                                 batch_size=batch_size)
        rows.append({"kl_threshold": threshold, "mean_steps": float(steps.mean()),
                     "step_saving": halting.compute_saving(steps, model.reasoning_steps),
                     **ranking_metrics(target_ranks(scores, targets), ks=ks)})
    return rows


def _metric_curves(rows, x_key, k, path, xlabel, title, log2=False):
    """`path` (.csv and .png): NDCG@k and Recall@k of `rows` against
    `row[x_key]`, side by side."""
    plt = _plt()
    _write_csv(path.with_suffix(".csv"), rows)
    xs = [r[x_key] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, (f"ndcg@{k}", f"recall@{k}")):
        ax.plot(xs, [r[metric] for r in rows], "o-")
        if log2:
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric.upper())
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return _save(plt, fig, path.with_suffix(".png"))


def write_halting_curve(rows, k, out_dir, title=""):
    """`halting_curve.csv` and `.png`: NDCG@k and Recall@k against the mean
    number of reasoning steps per user."""
    return {"halting_curve": _metric_curves(
        rows, "mean_steps", k, out_dir / "halting_curve",
        "mean reasoning steps per user (KL halting)",
        "Accuracy vs compute, per-user halting" + (f" — {title}" if title else ""))}


def write_depth_sweep(rows, k, out_dir, title=""):
    """`depth_sweep.csv` and `.png`: NDCG@k and Recall@k against the depth."""
    return {"depth_sweep": _metric_curves(
        rows, "depth", k, out_dir / "depth_sweep", "test-time depth k",
        "Test-time depth scaling" + (f" — {title}" if title else ""), log2=True)}
