"""Deployment: the model server, its client, and the promotion history."""
