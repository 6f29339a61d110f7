"""Serving: the model server on the push destination (TF Serving's REST API), its prediction
log and ground truth, and the traffic reader that monitoring uses (see docs/serving.md)."""
