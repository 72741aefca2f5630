"""A model version in memory, as the model server holds it: loaded from the registry, smoke-checked, scoring rows.

A version that cannot load or score is a ``ModelLoadError`` (it is never served); a registry that cannot be reached
is a ``TransientError`` (load it later). A model file that holds types its estimator does not trust (skops'
``UntrustedTypesFoundException``) or is not saved with skops is refused for good, never taken for an outage.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from ml_pipeline.errors import PermanentError, TransientError
from ml_pipeline.failures.classification import exception_chain, is_transient

# The loader's own refusal (a TypeError to skops): permanent, whatever it was raised while handling.
UNTRUSTED_TYPES = "skops.io.exceptions.UntrustedTypesFoundException"


class ModelLoadError(PermanentError, RuntimeError):
    """A model version cannot be loaded or fails its smoke check: it is not served."""


@dataclass(frozen=True)
class LoadedModel:
    """One model version in memory, with what ``/version`` reports about it."""

    name: str
    version: str
    run_id: str
    model: Any
    features: list[str]
    kinds: dict[str, str]
    lineage: dict[str, str]
    model_type: str = ""
    loaded_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def describe(self) -> dict[str, Any]:
        """Name, version, run, estimator (``model_type``) and lineage tags (data snapshot, code commit, config)."""
        return {"model": self.name, "version": self.version, "run_id": self.run_id, "model_type": self.model_type,
                "loaded_at": self.loaded_at, "features": self.features, "lineage": self.lineage}

    def score(self, rows: list[dict[str, Any]]) -> list[float]:
        """Probability of the positive class for each row; ``ValueError`` naming missing features."""
        import pandas as pd

        if not rows:
            return []
        missing = sorted({f for row in rows for f in self.features if f not in row})
        if missing:
            raise ValueError(f"rows lack feature(s) {missing}; model {self.name} v{self.version} needs "
                             f"{self.features}")
        try:
            frame = pd.DataFrame.from_records(rows, columns=self.features)
            for name, kind in self.kinds.items():
                frame[name] = frame[name].astype(object if kind == "string" else "float64")
            return [float(s) for s in self.model.predict_proba(frame)[:, 1]]
        except (TypeError, OverflowError, ValueError) as exc:  # the rows looked at only then: no cost per request
            for index, row in enumerate(rows):
                for name in self.features:
                    if not _scalar(row[name]):
                        shown = repr(row[name]) if len(repr(row[name])) <= 60 else f"{repr(row[name])[:57]}..."
                        raise ValueError(f"row {index}: feature {name!r} = {shown}: a feature takes one number, "
                                         "string or null") from exc
            raise


def _scalar(value: Any) -> bool:
    """One value a feature column takes (JSON's or numpy's): no object or list, no integer beyond a float's."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return abs(int(value)) <= 1.7e308
    return value is None or isinstance(value, str | bool | numbers.Real)


def load_version(tracking_uri: str, name: str, version: str) -> LoadedModel:
    """Load version ``version`` of registered model ``name`` and score a smoke row.

    Any estimator's model loads the same way: the registry adapter trusts the types of the estimator that the
    model's MLmodel file names (``registry.load_model``).

    Raises:
        ModelLoadError: The version cannot be served (refused types, no signature, a failing smoke row).
        TransientError: The registry could not be reached or failed: try again later.
    """
    import mlflow  # noqa: I001
    from mlflow import MlflowClient

    from ml_pipeline.registry import mlflow_registry as registry  # first: it switches MLflow's telemetry off

    uri = f"models:/{name}/{version}"
    try:
        mlflow.set_tracking_uri(tracking_uri)
        found = MlflowClient(tracking_uri).get_model_version(name, version)
        info = mlflow.models.get_model_info(uri)
        signature = info.signature
        model = registry.load_model(tracking_uri, uri)
    except Exception as exc:
        if refused_on_load(exc):
            raise ModelLoadError(f"{uri} is refused: {type(exc).__name__}: {str(exc)[:500]}") from exc
        if is_transient(exc) or out_of_room(exc):  # the registry down, or this host full: not the version's fault
            raise TransientError(f"cannot load {uri} now: {type(exc).__name__}: {str(exc)[:500]}") from exc
        raise ModelLoadError(f"cannot load {uri}: {type(exc).__name__}: {str(exc)[:500]}") from exc
    if signature is None or signature.inputs is None:
        raise ModelLoadError(f"{uri} was logged without an input signature: serving cannot check request rows "
                             "against it; log the model with one (mlflow.models.infer_signature)")
    inputs = signature.inputs.to_dict()
    kinds = {spec["name"]: spec["type"] for spec in inputs}
    loaded = LoadedModel(name, str(found.version), found.run_id, model, list(kinds), kinds,
                         {k: v for k, v in found.tags.items() if k.startswith("lineage.")},
                         registry.logged_model_type(info.metadata))
    smoke = {f: ("" if kind == "string" else 0.0) for f, kind in kinds.items()}
    try:
        scores = loaded.score([smoke])
    except Exception as exc:
        raise ModelLoadError(f"{uri} fails its smoke prediction: {type(exc).__name__}: {str(exc)[:500]}") from exc
    if not all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores):
        raise ModelLoadError(f"{uri} returns scores outside [0, 1] on its smoke row: {scores}")
    return loaded


def out_of_room(exc: BaseException) -> bool:
    """Whether this host ran out of disk, memory or file handles while loading: freed, the same version loads."""
    import errno

    return any(isinstance(e, MemoryError) or (isinstance(e, OSError) and e.errno in (
        errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EMFILE, errno.ENFILE)) for e in exception_chain(exc))


def refused_on_load(exc: BaseException) -> bool:
    """Whether the loader refused the model file (untrusted types, not skops): never worth trying again."""
    if isinstance(exc, PermanentError):
        return True
    return any(f"{cls.__module__}.{cls.__qualname__}" == UNTRUSTED_TYPES for cls in type(exc).__mro__)
