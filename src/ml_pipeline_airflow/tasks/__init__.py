"""TaskFlow tasks: each one builds a RunContext and calls one core step.

A task that returns a dict pushes it as one XCom (``multiple_outputs=False``): from a ``-> dict`` annotation Airflow
would also push every key as an XCom of its own, one Task Execution API call each (twelve for ``load_data``, about
0.12 s of its run). ``combine_partitions`` keeps them: training takes its ``loaded`` and ``features`` keys apart.
"""
