"""``ml-pipeline``'s command groups that need the running platform, one module per group.

Each module has a ``register(commands)`` like the core's groups in ``ml_pipeline.cli``; ``ml_platform.pipeline_cli``
adds them to the core's parser, so users type ``ml-pipeline dlq list`` while the core never imports this layer.
Handlers import the platform's services when they run: ``ml-pipeline --help`` stays instant.
"""
