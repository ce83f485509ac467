"""Settings and grids shared by several ReaRec methods (one definition each)."""

from rearec_keras.methods.setting import Setting
from rearec_keras.utils.choices import LOSS_VARIANTS

LOSS_VARIANT = Setting(
    "loss_variant", "code",
    "'code': the released losses (ERL CE of the mean state, PRL last step + mean of the "
    "earlier steps); 'paper': the paper's sums over the steps",
    choices=tuple(reversed(LOSS_VARIANTS)),  # ('code', 'paper'): the default first
)
# K of the tuning grid (ReaRec §5.1 tunes K in {1, 2, 3}).
REASONING_STEPS_GRID = (1, 2, 3)
