"""The platform database's SQL stores: one base (engine, metadata, rows) and the schema, created at platform start."""
