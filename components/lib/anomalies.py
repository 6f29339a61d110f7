"""Schema anomalies in one line per feature, for the validation gate, drift and the report."""
from __future__ import annotations

from typing import Dict, List

from tensorflow_metadata.proto.v0 import anomalies_pb2


def _reason(reason: anomalies_pb2.AnomalyInfo.Reason) -> str:
    # TFDV's short texts can mislead ("Column dropped" for a label missing in 2% of rows);
    # the long one says what was expected and what was found.
    short, long = reason.short_description, reason.description.strip()
    if not (short and long) or long.startswith(short):
        return long or short
    return f"{short} ({long})"


def describe(*anomalies: anomalies_pb2.Anomalies) -> List[str]:
    """'feature: short description (details)' for each anomalous feature, sorted by feature.

    Several results (one per split) merge per feature: the same bad column in train and
    eval is one entry, with every distinct reason once.
    """
    reasons: Dict[str, Dict[str, None]] = {}
    for result in anomalies:
        for feature, info in result.anomaly_info.items():
            found = [_reason(r) for r in info.reason] or [info.short_description]
            reasons.setdefault(feature, {}).update(dict.fromkeys(found))
        if result.HasField("dataset_anomaly_info"):
            found = [r.short_description for r in result.dataset_anomaly_info.reason]
            reasons.setdefault("<dataset>", {}).update(dict.fromkeys(found))
    return [f"{feature}: {'; '.join(reasons[feature])}" for feature in sorted(reasons)]
