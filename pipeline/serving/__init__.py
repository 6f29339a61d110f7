"""The model server: TF Serving's REST API on the push destination, the prediction log and
ground truth (see docs/serving.md)."""
