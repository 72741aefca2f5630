"""Model evaluation and comparison."""
