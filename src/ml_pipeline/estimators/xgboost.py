"""``model_type: xgboost``: gradient-boosted trees of XGBoost, on the GPU when the worker and the build allow.

``xgboost-cpu`` is installed by default (``make install``), the CUDA build ``xgboost`` with the GPU extra
(``make install GPU=1``); both provide the ``xgboost`` module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ml_pipeline.estimators.base import HYPERPARAMETERS, Estimator, trial_data, unknown_parameters
from ml_pipeline.training.resources import Device, DeviceChoice, DeviceUnavailableError, detect_gpus

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def xgboost_has_cuda() -> bool:
    """Whether the installed XGBoost was built with CUDA (the full ``xgboost`` wheel, not ``xgboost-cpu``)."""
    import xgboost

    return bool(xgboost.build_info().get("USE_CUDA"))


class XGBoostEstimator(Estimator):
    """XGBoost's ``XGBClassifier`` with the ``hist`` tree method, scored by AUC while training."""

    name = "xgboost"
    supports_gpu = True
    label = "XGBoost"
    distributions = ("xgboost-cpu", "xgboost")
    trusted_types = ("xgboost.core.Booster", "xgboost.sklearn.XGBClassifier")
    preload_modules = ("xgboost",)

    def classifier(self, hyperparameters: Mapping[str, Any], seed: int, n_jobs: int, device: str) -> Any:
        """An ``XGBClassifier``: ``hist`` and AUC unless the config says otherwise."""
        from xgboost import XGBClassifier

        params = {"tree_method": "hist", "eval_metric": "auc", **hyperparameters,
                  "random_state": seed, "n_jobs": n_jobs, "device": device}
        return XGBClassifier(**params)

    def hyperparameter_problem(self, hyperparameters: Mapping[str, Any]) -> str | None:
        """A one-tree fit on 32 rows: XGBoost's own range checks, and the names it reports as not used."""
        import warnings

        from xgboost import XGBClassifier
        from xgboost.core import XGBoostError

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self.classifier({**hyperparameters, "n_estimators": 1}, seed=0, n_jobs=1, device="cpu").fit(
                    *trial_data())
            except (XGBoostError, TypeError, ValueError) as exc:
                return f"field '{HYPERPARAMETERS}': XGBoost refuses them: {str(exc).splitlines()[0]}"
        unused = [name for warning in caught if "are not used" in str(warning.message)
                  for name in re.findall(r'"([^"]+)"', str(warning.message))]
        return unknown_parameters(unused, XGBClassifier().get_params(), self.label) if unused else None

    def choose_device(self, requested: Device, *, cuda_built: bool | None = None,
                      gpus: int | None = None) -> DeviceChoice:
        """Resolve ``training.device`` on this worker (``cuda_built``/``gpus`` detected when not given).

        Raises:
            DeviceUnavailableError: ``training.device`` is ``gpu`` and this worker or build has none.
        """
        if requested == "cpu":
            return DeviceChoice("cpu", "training.device is cpu")
        cuda_built = xgboost_has_cuda() if cuda_built is None else cuda_built
        gpus = detect_gpus() if gpus is None else gpus
        if cuda_built and gpus > 0:
            return DeviceChoice("cuda", f"training.device is {requested}: {gpus} GPU(s) and a CUDA build of XGBoost")
        missing = ("XGBoost is the CPU-only build (xgboost-cpu): install the GPU extra, `make install GPU=1`"
                   if not cuda_built else "no GPU on this worker (nvidia-smi -L lists none)")
        if requested == "gpu":
            raise DeviceUnavailableError(f"training.device is gpu but {missing}; or set training.device to auto "
                                         "(GPU when there is one, else CPU)")
        return DeviceChoice("cpu", f"training.device is auto: {missing}, so the CPU")

    def for_serving(self, model: Pipeline, device: str) -> Pipeline:
        """Trained on a GPU, served anywhere: predict on the CPU unless told otherwise."""
        if device != "cpu":
            model.named_steps["classifier"].set_params(device="cpu")
        return model
