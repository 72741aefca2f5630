"""Notifiers: alerts (Slack, email) and the dead-letter queue, provider style."""
