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


def _sq_distances(points, centroids):
    """`[n, k]` squared Euclidean distances (float32, clipped at 0)."""
    d = (np.sum(points * points, axis=1, keepdims=True) - 2.0 * points @ centroids.T
         + np.sum(centroids * centroids, axis=1)[None, :])
    return np.maximum(d, 0.0)


def kmeans_plus_plus(points, k, rng):
    """K-means++ seeding: `k` distinct rows of `points` as centroids."""
    n = len(points)
    centroids = np.empty((k, points.shape[1]), dtype=points.dtype)
    centroids[0] = points[rng.integers(n)]
    closest = _sq_distances(points, centroids[:1])[:, 0]
    for i in range(1, k):
        total = closest.sum()
        index = rng.choice(n, p=closest / total) if total > 0 else rng.integers(n)
        centroids[i] = points[index]
        closest = np.minimum(closest, _sq_distances(points, centroids[i:i + 1])[:, 0])
    return centroids


def kmeans(points, k, init=None, seed=0, iterations=50):
    """K-means of `points` `[n, d]` into `k` clusters.

    Args:
        init: optional `[k, d]` starting centroids (a warm start), else
            K-means++ seeding from `seed`.
        iterations: the most Lloyd iterations; stops earlier when no
            assignment changes.

    Returns:
        `(centroids [k, d] float32, assignment [n] int32, iterations_run)`.
        Every centroid is the mean of the points assigned to it.
    """
    points = np.asarray(points, dtype=np.float32)
    n = len(points)
    if not 1 <= k <= n:
        raise ValueError(f"K-means needs 1 <= k <= {n} points, got k={k}")
    rng = np.random.default_rng(seed)
    if init is None:
        centroids = kmeans_plus_plus(points, k, rng)
    else:
        centroids = np.array(init, dtype=np.float32)
        if centroids.shape != (k, points.shape[1]):
            raise ValueError(f"K-means warm start must be [{k}, {points.shape[1]}], got "
                             f"{list(centroids.shape)}")
    assignment = None
    run = 0
    for run in range(1, iterations + 1):
        distances = _sq_distances(points, centroids)
        new = np.argmin(distances, axis=1).astype(np.int32)
        counts = np.bincount(new, minlength=k)
        while (counts == 0).any():  # re-seed an empty cluster with the worst-served point
            served = distances[np.arange(n), new]
            served[counts[new] <= 1] = -1.0  # never empty another cluster
            worst = int(np.argmax(served))
            counts[new[worst]] -= 1
            new[worst] = int(np.flatnonzero(counts == 0)[0])
            counts[new[worst]] += 1
        order = np.argsort(new, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.add.reduceat(points[order], starts, axis=0)
        centroids = sums / counts[:, None].astype(np.float32)
        if assignment is not None and np.array_equal(new, assignment):
            assignment = new
            break
        assignment = new
    return centroids.astype(np.float32), assignment, run
