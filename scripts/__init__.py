"""Developer scripts (importable, so tests can reuse them)."""
