"""Failure handling: which errors are transient, and the dead-letter queue of work that failed for good."""
