"""Experiment tracking and the model registry (MLflow)."""

VERSION_PATTERN = r"[1-9][0-9]{0,9}"
"""A registered model's version as MLflow numbers them (1, 2, …; ASCII digits, no leading zero), wherever one is
read from outside: a deployment's params, an asset event, a dead letter being replayed."""
