"""The monitoring pipeline's steps: the champion's reference, one check of the newest window, keeping it.

``reference`` profiles the champion's training snapshot once per version; ``check`` judges the newest window
(data, prediction and target drift, live performance); ``record`` writes the report, the time-series row and the
retraining decision (cause and cooldown). ``results`` is what they hand each other.
"""

from ml_pipeline.pipelines.monitoring.check import check_window, newest_window
from ml_pipeline.pipelines.monitoring.record import record_check, retrain_decision
from ml_pipeline.pipelines.monitoring.reference import ReferenceMissingError, load_reference
from ml_pipeline.pipelines.monitoring.results import CheckResult, RecordedCheck, Reference

__all__ = ["CheckResult", "RecordedCheck", "Reference", "ReferenceMissingError", "check_window", "load_reference",
           "newest_window", "record_check", "retrain_decision"]
