"""Named sets of run settings (`rearec-keras train --preset paper`, or
`preset: paper` in a config file). A preset is applied first; the config
file's settings and the flags override it.

The defaults of `RunConfig` are the main job's: ReaSASRec-ERL (K=2) at batch
1024, the configuration that gained most over SASRec in the budgeted
comparisons (docs/benchmarks.md, "Main job"). `paper` is ReaRec's released
code as published: PRL with its temperatures and noise warm-up, batch 2048,
at most 300 epochs (ReaRec §5.1 and the released configs). `prl-tuned` is
the best PRL of the short-budget comparisons (its description says how it
scored; docs/benchmarks.md, "Choosing the default").
"""

import dataclasses

from rearec_keras.utils.validation import check_choice


@dataclasses.dataclass(frozen=True)
class Preset:
    description: str
    settings: dict


PRESETS = {
    "paper": Preset(
        "ReaRec's released code: ReaSASRec-PRL, τ=0.07, α=5, noise γ=0.01 from epoch 3, "
        "batch 2048, Adam 1e-3, at most 300 epochs, patience 10",
        {"learning": "prl", "reasoning_steps": 2, "base_temperature": 0.07,
         "temperature_decay": 5.0, "noise_std": 0.01, "noise_warmup_epochs": 2,
         "batch_size": 2048, "learning_rate": 1e-3, "epochs": 300, "patience": 10},
    ),
    "prl-tuned": Preset(
        "ReaSASRec-PRL with flat temperatures τ=1, α=1 (the best PRL at short budgets: "
        "+3.0 % over SASRec at the small one, 3 seeds), noise γ=0.01 from epoch 3; "
        "the main job's batch 1024 and early stopping",
        {"learning": "prl", "reasoning_steps": 2, "base_temperature": 1.0,
         "temperature_decay": 1.0, "noise_std": 0.01, "noise_warmup_epochs": 2},
    ),
}


def preset_names() -> tuple:
    return tuple(PRESETS)


def preset_settings(name) -> dict:
    """The settings of preset `name` (a copy), with a clear error for an
    unknown name."""
    check_choice("preset", name, preset_names())
    return dict(PRESETS[name].settings)
