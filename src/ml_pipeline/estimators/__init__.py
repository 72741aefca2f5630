"""Estimators: the model libraries a config's ``model_type`` can name (``registry.py`` lists them)."""
