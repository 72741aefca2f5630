"""TaskFlow tasks: each one builds a RunContext and calls one core step."""
