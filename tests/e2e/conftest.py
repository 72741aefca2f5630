"""The end-to-end suites run on both executors (``tests/support/platforms.py``), except the tests marked
``executor_independent``: they test the supervisor or the triggerer, which the executor does not change, and run on
the embedded default only (deselected, not skipped, for Celery: CI time on two cores)."""


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_celery = callspec is not None and callspec.params.get("platform") == "celery"
        (drop if on_celery and item.get_closest_marker("executor_independent") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
