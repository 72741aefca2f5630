"""The dead-letter store both the queue's and the spool's tests write to: SQLite in the test's folder."""

import pytest

from ml_pipeline.failures.dead_letters import DeadLetterStore


@pytest.fixture
def store(tmp_path):
    store = DeadLetterStore(f"sqlite:///{tmp_path}/dlq.db")
    store.create_schema()
    return store
