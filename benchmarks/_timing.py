"""Round-robin timing shared by the benchmark scripts."""

import time

import numpy as np


def interleaved_samples(calls, rounds):
    """Seconds of every call of each zero-argument callable, timed round-robin.

    Every round calls each function once, so slow drifts of the machine
    (other processes, clock boosts) hit all of them alike instead of biasing
    whichever was timed last. Warm up (compile) before calling this.
    """
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: np.asarray(t) for name, t in times.items()}


def interleaved_medians(calls, rounds):
    """Median seconds of each callable (see `interleaved_samples`)."""
    return {name: float(np.median(t)) for name, t in interleaved_samples(calls, rounds).items()}
