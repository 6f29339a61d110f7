"""The code a data scientist edits for a new dataset: preprocessing_fn and run_fn."""
