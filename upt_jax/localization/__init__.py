"""Zero-shot spatio-temporal action localization with object-aware tubes and UPT.

Modules:

* :mod:`~upt_jax.localization.boxes`: IoU, gap distance, 3x3 tile fractions,
  Jensen-Shannon divergence (base 2).
* :mod:`~upt_jax.localization.scoring`: objects per action, box scores.
* :mod:`~upt_jax.localization.linking`: exact Viterbi tubes, K tubes.
* :mod:`~upt_jax.localization.evaluate`: ST-IoU, AP, video-mAP, top-1.
* :mod:`~upt_jax.localization.upt`: UPT toward the detected objects.
* :mod:`~upt_jax.localization.pipeline`: :func:`localize` / :func:`make_localize`;
  :func:`localize_grid` (metrics over a grid of traced hyper-parameters, for sweeps).
* :mod:`~upt_jax.localization.data`: the portable localization folder, the
  ICCV 2017 detection files, tube writers (NumPy, host side).
* :mod:`~upt_jax.localization.world`: the simulated default worlds.
"""

from upt_jax.localization.evaluate import THRESHOLDS, LocalizationMetrics
from upt_jax.localization.pipeline import (
    GridResult,
    LocalizationConfig,
    LocalizationGrid,
    LocalizationHyper,
    LocalizationInputs,
    LocalizationResult,
    check_inputs,
    localize,
    localize_grid,
    make_localize,
    make_localize_grid,
)

__all__ = [
    "THRESHOLDS",
    "LocalizationMetrics",
    "LocalizationConfig",
    "LocalizationHyper",
    "LocalizationInputs",
    "LocalizationResult",
    "check_inputs",
    "localize",
    "make_localize",
    "LocalizationGrid",
    "GridResult",
    "localize_grid",
    "make_localize_grid",
]
