"""The hub's HTTP server: a threaded WSGI server on 127.0.0.1 with the sequencer, GraphQL and health.

``POST /`` the sequencer; ``GET /`` its identity; ``POST /graphql`` (JSON ``{query, variables,
operationName}``) and ``GET /graphql?query=...``; ``GET /health``. Answers are JSON.
"""

import json
import logging
import socketserver
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from graphql import GraphQLError, execute, parse, validate

from snapshothub.evm import NodeUnavailable
from snapshothub.graphql_api import Resolvers, make_schema
from snapshothub.hub import Hub
from snapshothub.sequencer import Refused, ingest

log = logging.getLogger("snapshothub")

# express.json's limit on the sequencer; bodies past it never reach the checks.
MAX_REQUEST_BYTES = 20 * 1024 * 1024
STATUS_TEXT = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large"}
STATUS_TEXT |= {500: "Internal Server Error"}

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def _json(start_response: StartResponse, status: int, payload: Any) -> Iterable[bytes]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    start_response(
        f"{status} {STATUS_TEXT.get(status, 'Error')}",
        [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None when it is larger than MAX_REQUEST_BYTES."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_REQUEST_BYTES:
        return None
    return environ["wsgi.input"].read(length) if length > 0 else b""


def make_app(hub: Hub) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application of ``hub``."""
    schema = make_schema()
    started = hub.now()
    root = Resolvers(hub, started).root()

    def graphql(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "GET":
            query_string = parse_qs(environ.get("QUERY_STRING", ""))
            request = {k: v[0] for k, v in query_string.items()}
            if isinstance(request.get("variables"), str):
                try:
                    request["variables"] = json.loads(request["variables"])
                except ValueError:
                    return _json(start_response, 400, {"errors": [{"message": "Variables are invalid JSON."}]})
        else:
            raw = _read_body(environ)
            if raw is None:
                return _json(start_response, 413, {"errors": [{"message": "request entity too large"}]})
            try:
                request = json.loads(raw or b"{}")
            except ValueError:
                return _json(start_response, 400, {"errors": [{"message": "POST body sent invalid JSON."}]})
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return _json(start_response, 400, {"errors": [{"message": "Must provide query string."}]})
        try:
            document = parse(request["query"])
        except GraphQLError as error:
            return _json(start_response, 400, {"errors": [error.formatted]})
        errors = validate(schema, document)
        if errors:
            return _json(start_response, 400, {"errors": [e.formatted for e in errors]})
        variables = request.get("variables") if isinstance(request.get("variables"), dict) else None
        result = execute(
            schema, document, root_value=root, variable_values=variables, operation_name=request.get("operationName")
        )
        payload: dict[str, Any] = {}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        payload["data"] = result.data
        return _json(start_response, 200 if result.data is not None else 500, payload)

    def sequencer(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raw = _read_body(environ)
        if raw is None:
            return _json(start_response, 413, Refused("request entity too large", 413).answer())
        try:
            body = json.loads(raw)
        except ValueError:
            return _json(start_response, 400, Refused("wrong envelope format").answer())
        try:
            return _json(start_response, 200, ingest(hub, body))
        except Refused as refusal:
            log.info("refused: %s", refusal.description)
            return _json(start_response, refusal.status, refusal.answer())
        except NodeUnavailable as error:
            log.warning("%s", error)
            return _json(start_response, 500, Refused("failed to reach the node", 500).answer())

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", "/"), environ["REQUEST_METHOD"]
        if path == "/graphql" and method in ("GET", "POST"):
            return graphql(environ, start_response)
        if path == "/" and method == "POST":
            return sequencer(environ, start_response)
        if path == "/" and method == "GET":
            return _json(
                start_response,
                200,
                {"name": "snapshothub", "SNAPSHOT_ENV": "local", "version": "0.1.0", "relayer": hub.relayer.address},
            )
        if path == "/health" and method == "GET":
            return _json(start_response, 200, {"status": "ok", "spaces": sorted(hub.spaces), "time": int(time.time())})
        return _json(start_response, 404, {"error": "not_found", "error_description": f"no route {method} {path}"})

    return app


def make_hub_server(hub: Hub, host: str, port: int) -> WSGIServer:
    """A threaded server for ``hub`` bound on ``host:port`` (0: a free port); call ``serve_forever``."""
    return make_server(host, port, make_app(hub), server_class=ThreadingWSGIServer, handler_class=QuietHandler)
