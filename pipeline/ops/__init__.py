"""Later-stage operations on a run: monitor, rollback, schema inference."""
