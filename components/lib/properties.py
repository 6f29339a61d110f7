"""Reading an artifact's property from ML Metadata's proto, whatever its kind."""
from __future__ import annotations

from typing import Any, Optional

from google.protobuf import json_format
from ml_metadata.proto import metadata_store_pb2


def prop(artifact: Optional[metadata_store_pb2.Artifact], key: str) -> Any:
    """A property's value, typed or custom (TFX 1.16 stores span as custom), or None.

    None too when there is no artifact, so callers can chain optional lookups.
    """
    if artifact is None:
        return None
    for properties in (artifact.properties, artifact.custom_properties):
        if key in properties:
            kind = properties[key].WhichOneof("value")
            if kind == "struct_value":
                # How TFX stores JSON values, and how Kubeflow's executor output metadata
                # comes back: a Struct, with a lone scalar wrapped as {"__value__": x}.
                value = json_format.MessageToDict(properties[key].struct_value)
                return value.get("__value__", value)
            return getattr(properties[key], kind) if kind else None
    return None
