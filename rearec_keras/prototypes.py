"""Semantic prototypes of the item table for DTRec's Hierarchical Process
Supervision: the number of prototypes per reasoning level and K-means.

`prototype_sizes` gives `k_0 < k_1 < ... < k_T = N` for the states
`r_0 .. r_T`: the last level is the items themselves. `kmeans` clusters the
item vectors (numpy, float32): K-means++ seeding or a warm start from given
centroids, Lloyd iterations until no assignment changes, a fixed seed, and
an empty cluster re-seeded with the point farthest from its centroid.
"""

import numpy as np

from rearec_keras.utils.choices import PROTOTYPE_SCHEDULES


def prototype_sizes(num_items, steps, schedule="geometric", min_size=16, sizes=None) -> tuple:
    """`(k_0, ..., k_T)` for `steps` = T reasoning steps, strictly
    increasing, `k_T = num_items`.

    Args:
        schedule: `"geometric"` (`k_t = round(k_min (N / k_min)^(t/T))`) or
            `"linear"` (`k_min + (N − k_min) t / T`).
        min_size: `k_0` (k_min), below `num_items`.
        sizes: an explicit `(k_0, ..., k_{T−1})` instead (the items are
            appended as level T).
    """
    if steps < 0 or num_items < 1:
        raise ValueError(f"prototype levels need steps >= 0 and num_items >= 1, got steps={steps}, "
                         f"num_items={num_items}")
    if sizes is not None:
        sizes = tuple(int(k) for k in sizes)
        if len(sizes) != steps:
            raise ValueError(f"prototype_sizes lists {len(sizes)} levels; the {steps} reasoning "
                             f"steps need {steps} (levels 0..{steps - 1}; the items are level "
                             f"{steps})")
        levels = (*sizes, num_items)
    else:
        if schedule not in PROTOTYPE_SCHEDULES:
            raise ValueError(f"prototype_schedule must be one of {PROTOTYPE_SCHEDULES}, got "
                             f"{schedule!r}")
        if steps == 0:
            return (num_items,)
        if not 1 <= min_size < num_items:
            raise ValueError(f"min_prototypes={min_size} must be in [1, {num_items - 1}] (below "
                             f"the {num_items} items)")
        t = np.arange(steps + 1) / steps
        if schedule == "geometric":
            raw = min_size * (num_items / min_size) ** t
        else:
            raw = min_size + (num_items - min_size) * t
        levels = tuple(int(round(k)) for k in raw[:-1]) + (num_items,)
    if min(levels) < 1 or any(b <= a for a, b in zip(levels, levels[1:])):
        raise ValueError(f"prototype sizes must be >= 1 and strictly increasing up to the "
                         f"{num_items} items; got {list(levels)} (fewer levels, a smaller "
                         "min_prototypes or explicit prototype_sizes)")
    return levels


_CHUNK = 4096  # rows per block of the assignment step (a [chunk, k] block at a time)


def assign(points, centroids):
    """`(assignment [n] int32, squared distance to it [n] float32)`: each
    point's nearest centroid (ties: the lower index), computed block by
    block, so no `[n, k]` matrix is ever held (100k items × 5k prototypes
    would be 2 GB)."""
    half_norms = 0.5 * np.sum(centroids * centroids, axis=1)
    out = np.empty(len(points), dtype=np.int32)
    for start in range(0, len(points), _CHUNK):
        block = points[start:start + _CHUNK] @ centroids.T
        block -= half_norms  # argmax of p·c − |c|²/2 = argmin of |p − c|²
        out[start:start + _CHUNK] = np.argmax(block, axis=1)
    return out, _row_distances(points, centroids[out])


def _row_distances(points, other):
    """`[n]` squared distances of each point to `other` (one row, or one per point)."""
    diff = points - other
    return np.einsum("ij,ij->i", diff, diff)


def kmeans_plus_plus(points, k, rng, sample=None):
    """K-means++ seeding: `k` distinct rows of `points` as centroids.

    With `sample` (>= k) the seeding runs on that many rows drawn at random
    (its cost is `k` sequential passes over the rows it sees)."""
    if sample is not None and sample < len(points):
        points = points[np.sort(rng.choice(len(points), size=max(k, sample), replace=False))]
    n = len(points)
    centroids = np.empty((k, points.shape[1]), dtype=points.dtype)
    centroids[0] = points[rng.integers(n)]
    closest = _row_distances(points, centroids[0])
    for i in range(1, k):
        cumulative = np.cumsum(closest, dtype=np.float64)
        total = cumulative[-1]
        # A row drawn with probability proportional to its squared distance.
        index = (min(int(np.searchsorted(cumulative, rng.random() * total, side="right")), n - 1)
                 if total > 0 else int(rng.integers(n)))
        centroids[i] = points[index]
        np.minimum(closest, _row_distances(points, centroids[i]), out=closest)
    return centroids


def kmeans(points, k, init=None, seed=0, iterations=50, tolerance=0.0, seeding_sample=None,
           on_iteration=None):
    """K-means of `points` `[n, d]` into `k` clusters.

    Args:
        init: optional `[k, d]` starting centroids (a warm start), else
            K-means++ seeding from `seed`.
        iterations: the most Lloyd iterations.
        tolerance: stop once at most this share of the points changed
            cluster in an iteration (0: only when none did).
        seeding_sample: K-means++ seeds on this many random points (default
            all; at least `k`).
        on_iteration: optional `callable(iteration)` called after each
            Lloyd iteration (1, 2, ...), e.g. to move a progress bar.

    Returns:
        `(centroids [k, d] float32, assignment [n] int32, iterations_run)`.
        Every centroid is the mean of the points assigned to it.
    """
    points = np.asarray(points, dtype=np.float32)
    n = len(points)
    if not 1 <= k <= n:
        raise ValueError(f"K-means needs 1 <= k <= {n} points, got k={k}")
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"K-means tolerance must be in [0, 1), got {tolerance}")
    rng = np.random.default_rng(seed)
    if init is None:
        centroids = kmeans_plus_plus(points, k, rng, seeding_sample)
    else:
        centroids = np.array(init, dtype=np.float32)
        if centroids.shape != (k, points.shape[1]):
            raise ValueError(f"K-means warm start must be [{k}, {points.shape[1]}], got "
                             f"{list(centroids.shape)}")
    assignment = None
    run = 0
    for run in range(1, iterations + 1):
        new, served = assign(points, centroids)
        counts = np.bincount(new, minlength=k)
        while (counts == 0).any():  # re-seed an empty cluster with the worst-served point
            served[counts[new] <= 1] = -1.0  # never empty another cluster
            worst = int(np.argmax(served))
            counts[new[worst]] -= 1
            new[worst] = int(np.flatnonzero(counts == 0)[0])
            counts[new[worst]] += 1
            served[worst] = -1.0
        order = np.argsort(new, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.add.reduceat(points[order], starts, axis=0)
        centroids = sums / counts[:, None].astype(np.float32)
        changed = n if assignment is None else int(np.count_nonzero(new != assignment))
        assignment = new
        if on_iteration is not None:
            on_iteration(run)
        if changed <= tolerance * n:  # never on the first pass: every point "changed"
            break
    return centroids.astype(np.float32), assignment, run
