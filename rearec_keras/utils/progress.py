"""Progress a person can watch, and logs that stay short.

One rule for everything long (data preparation, text encoding, evaluation
over many users, DTRec's K-means, tuning trials), driven by the same
`verbose` as `model.fit`:

- `0`: nothing is printed;
- `1`: a live `keras.utils.Progbar` (count, bar, ETA, time per unit) when
  `sys.stdout` is a terminal; otherwise (a CI log, a file, a pipe, pytest's
  capture) one summary line at the end, never bar redraws;
- `2`: the summary line only, even in a terminal.

`fit_verbosity` applies the same rule to `model.fit`: a live bar per epoch
in a terminal, one line per epoch otherwise.

Example:

```python
with Progress(len(users), verbose, "evaluating test", unit="user") as progress:
    for start in range(0, len(users), batch_size):
        ...
        progress.add(len(batch))
# terminal: "evaluating test" then a live bar; a log: one line
# "evaluating test: 6,040 users in 3.2s (530us/user)"
```
"""

import sys
import time


def is_terminal(stream=None) -> bool:
    """Whether `stream` (default: the current `sys.stdout`) is a terminal."""
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


def _level(verbose) -> int:
    """`verbose` as 0, 1 or 2 (Keras' `"auto"` is 1; None and False are 0)."""
    if verbose == "auto":
        return 1
    if not verbose:
        return 0
    level = int(verbose)
    if level < 0:
        raise ValueError(f"verbose must be >= 0 or 'auto', got {verbose!r}")
    return min(level, 2)


def fit_verbosity(verbose) -> int:
    """The `model.fit` verbosity for a progress `verbose`: 1 (a live bar per
    epoch) when stdout is a terminal, 2 (one line per epoch) when it is not,
    0 silent. An explicit 2 stays 2."""
    level = _level(verbose)
    if level == 1 and not is_terminal():
        return 2
    return level


def live_bar(verbose) -> bool:
    """Whether `Progress(..., verbose)` would draw a live bar now."""
    return _level(verbose) == 1 and is_terminal()


def format_seconds(seconds: float) -> str:
    """`0.4s`, `12.3s`, `2:05`, `1:02:03`."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _per_unit(seconds: float, unit: str) -> str:
    if seconds >= 1:
        return f"{seconds:.1f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


class Progress:
    """Progress over `total` units of work: a live Keras bar with an ETA in
    a terminal, one summary line in a log, nothing at `verbose=0`.

    The display mode is chosen once, when the object is made, from
    `verbose` and whether `sys.stdout` is then a terminal (see the module
    docstring). In a terminal the `label` is printed on its own line and
    the bar below it; elsewhere the summary line reads
    `"{label}: {count} {unit}s in {time} ({time per unit})"`.

    Args:
        total: the units expected, or None if unknown (the bar then shows
            a count without ETA).
        verbose: 0, 1, 2 or `"auto"` (as 1).
        label: what is being done, e.g. `"evaluating test"`.
        unit: the name of one unit (`"user"`, `"text"`, `"trial"`).
        interval: the fewest seconds between two redraws of the bar
            (Keras' default 0.05).
        start_line: also print `"{label} ..."` at the start when not
            drawing a bar (for work long enough that a log should say what
            is running before it ends).

    Use as a context manager (the summary is written on a normal exit; on
    an exception a live bar's line is ended and no summary is written), or
    call `close()` yourself.
    """

    def __init__(self, total, verbose=1, label="", *, unit="step", interval=0.05,
                 start_line=False):
        if total is not None:
            total = int(total)
            if total < 0:
                raise ValueError(f"Progress total must be >= 0 or None, got {total}")
        self.total = total
        self.label = str(label)
        self.unit = str(unit)
        level = _level(verbose)
        self.mode = None if level == 0 else "bar" if level == 1 and is_terminal() else "line"
        self.seen = 0
        self.closed = False
        self._start = time.perf_counter()
        self._bar = None
        self._drawn = False
        if self.mode == "bar":
            import keras

            if self.label:
                _write(self.label + "\n")
            self._bar = keras.utils.Progbar(total, verbose=1, interval=interval,
                                            unit_name=self.unit)
        elif self.mode == "line" and start_line:
            _write(f"{self.label} ...\n")

    @property
    def elapsed(self) -> float:
        """Seconds since the object was made."""
        return time.perf_counter() - self._start

    def update(self, current):
        """Sets the units done so far to `current` (redraws a live bar)."""
        self.seen = int(current)
        if self._bar is not None and not self.closed:
            # Never finalized here: `close` draws the last frame once.
            self._bar.update(self.seen, finalize=False)
            self._drawn = True

    def add(self, n=1):
        """Adds `n` units done."""
        self.update(self.seen + int(n))

    def close(self, summary=None):
        """Ends the display: the bar's final frame, or the summary line.

        Args:
            summary: optional text that replaces `"{count} {unit}s"` in the
                summary line (e.g. `"12 Lloyd iterations over 3 levels"`).
        """
        if self.closed:
            return
        self.closed = True
        if self._bar is not None:
            self._bar.update(self.seen, finalize=True)
        elif self.mode == "line":
            elapsed = self.elapsed
            if summary is None:
                plural = "" if self.seen == 1 else "s"
                summary = f"{self.seen:,} {self.unit}{plural}"
                if self.seen:
                    summary += f" in {format_seconds(elapsed)} ({_per_unit(elapsed / self.seen, self.unit)})"
                else:
                    summary += f" in {format_seconds(elapsed)}"
            else:
                summary += f" in {format_seconds(elapsed)}"
            _write((f"{self.label}: " if self.label else "") + summary + "\n")

    def abort(self):
        """Ends the display after a failure: a live bar's line is ended (the
        error starts on a line of its own); no summary."""
        if self.closed:
            return
        self.closed = True
        if self._drawn:
            _write("\n")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def _write(text):
    # Progress goes to stdout (as Keras' own bars): stderr is kept for errors.
    stream = sys.stdout
    stream.write(text)
    stream.flush()
