"""Stored results of base models at known settings, printed next to a run's
own result so that the first thing a user sees is what reasoning buys
(`rearec-keras train` prints the gain over the matching reference).

A reference matches a run when every setting it records equals the run's
(the seed aside: a reference is a mean over seeds). Its settings are the
values it was trained with, written out, so that a later change of a
default stops the match instead of comparing unlike runs.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Reference:
    """A base model's stored test metrics.

    Attributes:
        model: its name, e.g. `"SASRec"`.
        settings: the `RunConfig` values it was trained with.
        test: metric key (`"ndcg@10"`) -> `(mean, std)` over `seeds`.
        seeds: the seeds of the runs.
        source: how it was measured (command, machine, where it is documented).
    """

    model: str
    settings: dict
    test: dict
    seeds: tuple
    source: str

    def matches(self, config) -> bool:
        """Whether `config` trains with every setting of this reference."""
        return all(getattr(config, key, None) == value for key, value in self.settings.items())


# docs/benchmarks.md "ReaRec vs base, 3 seeds": every run stopped early (best
# epoch <= 50 of at most 150), so the epoch cap is not a setting of the result.
SASREC_ML100K = Reference(
    model="SASRec",
    settings={
        "dataset": "ml-100k", "split": "leave_one_out", "max_length": 50,
        "rating_threshold": None, "k_core": None, "duplicates": "exact",
        "backbone": "sasrec", "hidden_dim": 64, "num_layers": 2, "num_heads": 2,
        "intermediate_dim": 300, "dropout": 0.5, "attention_dropout": 0.5,
        "input_dropout": 0.2, "base_temperature": 0.07, "negatives": "full",
        "precision": "float32", "batch_size": 1024, "learning_rate": 1e-3,
        "patience": 10, "monitor": "ndcg@20",
    },
    test={"ndcg@10": (0.0572, 0.0020), "ndcg@20": (0.0795, 0.0014),
          "recall@10": (0.1297, 0.0076), "recall@20": (0.2188, 0.0056)},
    seeds=(0, 1, 2),
    source="python benchmarks/quality.py --batch-size 1024 --epochs 150 "
           "(JAX, one H100; docs/benchmarks.md, 'ReaRec vs base, 3 seeds')",
)

REFERENCES = (SASREC_ML100K,)


def reference_for(config):
    """The stored base-model reference a run of `config` compares with, or
    None (no reference at these settings, or the run is the base model)."""
    if config.learning == "base":
        return None
    return next((ref for ref in REFERENCES if ref.matches(config)), None)


def reference_table(metrics: dict, reference: Reference, label: str) -> str:
    """This run's test metrics, the reference's mean ± std and the relative
    gain, as a markdown table (the metrics both have)."""
    test = metrics["test"]["final"]
    keys = [k for k in reference.test if k in test]
    header = [k.replace("ndcg@", "N@").replace("recall@", "R@") for k in keys]
    gains = [test[k] / reference.test[k][0] - 1 for k in keys]
    lines = [
        f"| test | {' | '.join(header)} |",
        "|---" * (len(keys) + 1) + "|",
        f"| {label} | " + " | ".join(f"{test[k]:.4f}" for k in keys) + " |",
        f"| {reference.model}, mean ± std of {len(reference.seeds)} seeds | "
        + " | ".join(f"{reference.test[k][0]:.4f} ± {reference.test[k][1]:.4f}" for k in keys)
        + " |",
        "| gain | " + " | ".join(f"{100 * g:+.1f}%" for g in gains) + " |",
    ]
    mean_gain = 100 * sum(gains) / len(gains)
    return (f"{reference.model} at the same settings (stored; {reference.source}):\n\n"
            + "\n".join(lines) + f"\n\nmean gain over the {len(keys)} metrics: {mean_gain:+.1f}%")
