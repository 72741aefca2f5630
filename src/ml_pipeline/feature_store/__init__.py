"""The feature store (Feast): where the feature pipeline writes derived features and training and serving read them.

``settings`` says where the store lives (no Feast import), ``offline`` writes and checks
the per-day feature files, ``store`` talks to Feast (registry, materialization,
point-in-time retrieval, online lookup).
"""
