"""ML Metadata's gRPC service on 127.0.0.1, over ml_metadata's own embedded store on SQLite.

KFP's driver and launcher talk to MLMD's gRPC server; that server is a thin wrapper around the
same C++ store the ``ml_metadata`` package embeds, so every RPC is forwarded to it unchanged
(the request and response messages are the service's own). What stands in for KFP's MLMD
deployment is only the database: a SQLite file instead of MySQL.
"""
from __future__ import annotations

import threading
from concurrent import futures
from typing import Callable, Dict, List

import grpc
from ml_metadata import errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2

SERVICE = metadata_store_service_pb2.DESCRIPTOR.services_by_name["MetadataStoreService"]
_CODES = {code.value[0]: code for code in grpc.StatusCode}


class MlmdServer:
    """``with MlmdServer(path) as mlmd:`` serves the store in ``path`` on ``mlmd.port``."""

    def __init__(self, sqlite_path: str) -> None:
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = sqlite_path
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self._store = metadata_store.MetadataStore(config)
        # The embedded store is one SQLite connection: one call at a time.
        self._lock = threading.Lock()
        self.calls: List[str] = []
        self.port = 0
        self._server = None

    def _handler(self, method: str) -> Callable:
        response_class = getattr(metadata_store_service_pb2,
                                 SERVICE.methods_by_name[method].output_type.name)

        def call(request, context):
            response = response_class()
            self.calls.append(method)
            try:
                with self._lock:
                    self._store._call(method, request, response)  # the store's own dispatch
            except AttributeError:
                context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not in ml_metadata")
            except errors.StatusError as e:
                context.abort(_CODES.get(e.error_code, grpc.StatusCode.UNKNOWN), str(e))
            return response
        return call

    def __enter__(self) -> "MlmdServer":
        handlers: Dict[str, grpc.RpcMethodHandler] = {}
        for method in SERVICE.methods:
            request_class = getattr(metadata_store_service_pb2, method.input_type.name)
            response_class = getattr(metadata_store_service_pb2, method.output_type.name)
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                self._handler(method.name), request_deserializer=request_class.FromString,
                response_serializer=response_class.SerializeToString)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[
            ("grpc.max_receive_message_length", 100 << 20),
            ("grpc.max_send_message_length", 100 << 20)])
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.stop(grace=None)

    def client(self) -> metadata_store.MetadataStore:
        """A client of this server, as the driver and launcher are."""
        config = metadata_store_pb2.MetadataStoreClientConfig(host="127.0.0.1", port=self.port)
        return metadata_store.MetadataStore(config)
