"""Pusher with sequential versions, atomic pushes and no duplicate pushes.

* Versions are 1, 2, 3, ... under the push destination (a model server loads the
  highest), so ``rollback --to 2`` and "the baseline is version 1" mean what they say.
* The model is copied to a hidden temporary directory and renamed into place, so a model
  server or the next run never sees a half-copied version.
* A candidate identical to the serving version is not pushed again; the run records
  which version already serves it.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.components import Pusher
from tfx.components.pusher import executor as stock
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.lib.serving_store import model_fingerprint, push, serving_version

ALREADY_SERVING = "already_serving_version"


class Executor(stock.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        pushed = output_dict[standard_component_specs.PUSHED_MODEL_KEY][0]
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(pushed)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                                  destination)
        serving_dir = destination.filesystem.base_directory
        model_dir = self.GetModelPath(input_dict)
        current: Optional[int] = serving_version(serving_dir)
        if current is not None and model_fingerprint(
                os.path.join(serving_dir, str(current))) == model_fingerprint(model_dir):
            self._MarkNotPushed(pushed)
            pushed.set_int_custom_property(ALREADY_SERVING, current)
            return
        version = push(model_dir, serving_dir)
        io_utils.copy_dir(model_dir, pushed.uri)  # the archive copy stock Pusher keeps too
        self._MarkPushed(pushed, pushed_destination=os.path.join(serving_dir, str(version)),
                         pushed_version=str(version))


class VersionedPusher(Pusher):
    """Stock Pusher to a filesystem destination, with sequential atomic versions."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
