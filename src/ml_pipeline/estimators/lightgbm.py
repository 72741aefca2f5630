"""``model_type: lightgbm``: LightGBM's gradient-boosted trees, on the CPU, deterministic for a fixed seed.

PyPI's ``lightgbm`` wheel is the CPU build, so ``training.device: gpu`` is refused (the base class's device
choice) and ``auto`` trains on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml_pipeline.estimators.base import Estimator


class LightGBMEstimator(Estimator):
    """LightGBM's ``LGBMClassifier``, with the settings that make two runs on the same data give the same model."""

    name = "lightgbm"
    label = "LightGBM"
    distributions = ("lightgbm",)
    trusted_types = ("collections.OrderedDict", "lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier")
    preload_modules = ("lightgbm",)

    def classifier(self, hyperparameters: Mapping[str, Any], seed: int, n_jobs: int, device: str) -> Any:
        """An ``LGBMClassifier``, quiet unless the config asks; seeded, row-wise and deterministic always.

        ``device`` is always ``cpu`` here (``choose_device`` never picks another).
        """
        from lightgbm import LGBMClassifier

        # random_state is the sklearn name of LightGBM's `seed`: it seeds every random choice of the C++ code.
        params = {"verbose": -1, **hyperparameters, "random_state": seed, "n_jobs": n_jobs,
                  "deterministic": True, "force_row_wise": True}
        return LGBMClassifier(**params)
