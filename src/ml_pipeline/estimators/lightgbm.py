"""``model_type: lightgbm``: LightGBM's gradient-boosted trees, on the CPU, deterministic for a fixed seed.

PyPI's ``lightgbm`` wheel is the CPU build, so ``training.device: gpu`` is refused (the base class's device
choice) and ``auto`` trains on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml_pipeline.estimators.base import HYPERPARAMETERS, Estimator, trial_data, unknown_parameters


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

    def hyperparameter_problem(self, hyperparameters: Mapping[str, Any]) -> str | None:
        """Names against LightGBM's parameters and their aliases, then its range checks in a one-tree fit."""
        from lightgbm import LGBMClassifier
        from lightgbm.basic import LightGBMError

        known = set(LGBMClassifier().get_params())
        try:  # every core parameter and alias, as LightGBM's C++ lists them (LGBM_DumpParamAliases)
            from lightgbm.basic import _ConfigAliases

            known |= {alias for name, aliases in _ConfigAliases._get_all_param_aliases().items()
                      for alias in (name, *aliases)}
        except (ImportError, AttributeError):  # another LightGBM: the fit below still checks the values
            known = set()
        unknown = [name for name in hyperparameters if known and name not in known]
        if unknown:
            return unknown_parameters(unknown, known, self.label)
        try:
            self.classifier({**hyperparameters, "n_estimators": 1}, seed=0, n_jobs=1, device="cpu").fit(
                *trial_data())
        except (LightGBMError, TypeError, ValueError) as exc:
            return f"field '{HYPERPARAMETERS}': LightGBM refuses them: {str(exc).split(' at /')[0].strip()}"
        return None
