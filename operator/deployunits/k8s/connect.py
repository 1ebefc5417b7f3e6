"""Builds the transport: called only by the composition roots (the operator's start-up and the
shim's application factory), as the import contract in pyproject.toml checks."""

from deployunits.k8s._transport import KubeClient
from deployunits.k8s.connection import Connection
from deployunits.k8s.gateway import ApiServer


def connect(connection: Connection, *, max_connections: int = 100) -> ApiServer:
    """The stores over one new connection pool to the API server (close it with aclose)."""
    return ApiServer(KubeClient(connection, max_connections=max_connections))
