"""Feature engineering."""
