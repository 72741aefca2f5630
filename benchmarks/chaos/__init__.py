"""The fault-injection suite of issue #20: ``make chaos`` (``python -m benchmarks.chaos``).

``cases`` holds the faults with their figures and goals (``tests/e2e/test_chaos.py`` runs the cheap ones on every
``make test``); ``__main__`` runs them all against one platform, prints the table and writes
``benchmarks/results/chaos.json``. The faults themselves are in ``tests/support/chaos.py``.
"""
