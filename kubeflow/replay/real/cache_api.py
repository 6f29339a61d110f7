"""The part of KFP's API server the driver and launcher call: the v1 task service, which keeps
the cache entries (``backend/api/v1beta1/task.proto``: ``CreateTaskV1``, ``ListTasksV1``).

The launcher records a finished task with its fingerprint and ML Metadata execution ID; the
driver lists the newest task matching a fingerprint, pipeline name and namespace (a JSON
``api.Filter`` of EQUALS predicates) and reuses that execution's outputs. The messages are
declared here field for field as task.proto declares them, so the wire format is KFP's.
"""
from __future__ import annotations

import json
import threading
import uuid
from concurrent import futures
from typing import Any, Dict, List

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, timestamp_pb2
from google.protobuf import message_factory

_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_INT32 = descriptor_pb2.FieldDescriptorProto.TYPE_INT32
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL

# (name, number, type, type_name, repeated): task.proto's messages. ListTasksRequest's
# resource_reference_key (4) is left out: protobuf keeps it as an unknown field.
_MESSAGES = {
    "Task": [("id", 1, _STRING), ("namespace", 2, _STRING), ("pipelineName", 3, _STRING),
             ("runId", 4, _STRING), ("mlmdExecutionID", 5, _STRING),
             ("created_at", 6, _MESSAGE, ".google.protobuf.Timestamp"),
             ("finished_at", 7, _MESSAGE, ".google.protobuf.Timestamp"),
             ("fingerprint", 8, _STRING)],
    "CreateTaskRequest": [("task", 1, _MESSAGE, ".api.Task")],
    "ListTasksRequest": [("page_token", 1, _STRING), ("page_size", 2, _INT32),
                         ("sort_by", 3, _STRING), ("filter", 5, _STRING)],
    "ListTasksResponse": [("tasks", 1, _MESSAGE, ".api.Task", True),
                          ("next_page_token", 2, _STRING), ("total_size", 3, _INT32)],
}


def _message_classes() -> Dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(name="kfp_task_stand_in.proto", package="api",
                                              syntax="proto3",
                                              dependency=["google/protobuf/timestamp.proto"])
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field in fields:
            message.field.add(name=field[0], number=field[1], type=field[2],
                              type_name=field[3] if len(field) > 3 else None,
                              label=_REPEATED if len(field) > 4 else _OPTIONAL,
                              json_name=field[0])
    pool.Add(file)
    factory = message_factory.MessageFactory(pool)  # protobuf 3.20: no GetMessageClass yet
    return {name: factory.GetPrototype(pool.FindMessageTypeByName(f"api.{name}"))
            for name in _MESSAGES}


MESSAGES = _message_classes()


def _matches(task: Dict[str, Any], predicates: List[Dict[str, Any]]) -> bool:
    for predicate in predicates:
        if predicate.get("op") != "EQUALS":
            raise ValueError(f"the cache stand-in only filters by EQUALS, not {predicate}")
        if task.get(predicate["key"], "") != predicate.get("stringValue"):
            return False
    return True


class CacheApiServer:
    """``with CacheApiServer(path) as api:`` serves the task service on ``api.port``, keeping
    the entries in the JSON file ``path`` so a later replay finds them."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        try:
            with open(path, encoding="utf-8") as f:
                self.tasks: List[Dict[str, Any]] = json.load(f)
        except FileNotFoundError:
            self.tasks = []
        self.port = 0
        self.unknown: List[str] = []
        self._server = None

    def create(self, request, context):
        task = json_format.MessageToDict(request.task, preserving_proto_field_name=True)
        task["id"] = str(uuid.uuid4())
        with self._lock:
            self.tasks.append(task)
            with open(self._path, "w", encoding="utf-8") as f:
                json.dump(self.tasks, f, indent=1)
        return json_format.ParseDict(task, MESSAGES["Task"]())

    def list(self, request, context):
        predicates = json.loads(request.filter or "{}").get("predicates", [])
        try:
            with self._lock:
                found = [t for t in self.tasks if _matches(t, predicates)]
        except ValueError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        if request.sort_by.endswith(" desc"):
            found.reverse()  # entries are kept in creation order
        found = found[:request.page_size or None]
        response = MESSAGES["ListTasksResponse"](total_size=len(found))
        for task in found:
            response.tasks.append(json_format.ParseDict(task, MESSAGES["Task"]()))
        return response

    def __enter__(self) -> "CacheApiServer":
        handlers = {
            "CreateTaskV1": grpc.unary_unary_rpc_method_handler(
                self.create, request_deserializer=MESSAGES["CreateTaskRequest"].FromString,
                response_serializer=MESSAGES["Task"].SerializeToString),
            "ListTasksV1": grpc.unary_unary_rpc_method_handler(
                self.list, request_deserializer=MESSAGES["ListTasksRequest"].FromString,
                response_serializer=MESSAGES["ListTasksResponse"].SerializeToString),
        }
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("api.TaskService", handlers), _Recorder(self)))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.stop(grace=None)


class _Recorder(grpc.GenericRpcHandler):
    """Records any other API server method the programs call (they get UNIMPLEMENTED)."""

    def __init__(self, server: CacheApiServer) -> None:
        self._server = server

    def service(self, handler_call_details):
        self._server.unknown.append(handler_call_details.method)
        return None
