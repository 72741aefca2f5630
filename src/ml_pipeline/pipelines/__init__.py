"""Pipelines as reference-in, reference-out steps, runnable by any orchestrator."""
