"""Serving: the model server, its prediction log and ground truth, and the traffic reader."""
