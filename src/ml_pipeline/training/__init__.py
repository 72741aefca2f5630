"""Model training."""
