"""Triggers: waits that run on the triggerer, holding no worker slot."""
