"""Sensors: waiting for external data without holding worker slots."""
