"""Operators: one module per service or concern, provider style."""
