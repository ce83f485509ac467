"""Shared body of the ml-100k tuning scripts: `rearec-keras tune` with the
script's defaults in front of the user's flags (later flags win)."""

from rearec_keras import cli


def main(argv, learning, max_trials):
    """Runs `rearec-keras tune` on ml-100k for `learning` (the paper's grid
    for it, 30 epochs per trial, patience 5, `max_trials` trials) followed
    by `argv` (any `rearec-keras tune` flag, e.g. `--space
    reasoning_steps=2` or `--hidden-dim 128`); returns its exit code."""
    defaults = ["--dataset", "ml-100k", "--learning", learning, "--algorithm", "random",
                "--max-trials", str(max_trials), "--epochs", "30", "--patience", "5",
                "--out", f"runs/tune-ml-100k-{learning}"]
    return cli.main(["tune", *defaults, *(argv or [])])
