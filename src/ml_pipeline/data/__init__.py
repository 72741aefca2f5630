"""Data generation, loading and validation."""
