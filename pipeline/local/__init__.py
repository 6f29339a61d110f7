"""The local orchestrator: runner, DAG runner, up-to-date check, lock, parallel spans, preflight, watch."""
