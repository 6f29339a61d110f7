"""The local Flink cluster for the flink-local Beam profile: install, start/stop, worker pool."""
