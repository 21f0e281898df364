"""The Snapshot HTTP client: retries with backoff on a closed port or a 5xx, a refusal's reason word for word,
GraphQL errors, and the request counts; against a scripted local HTTP server and the real local hub."""

import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from governance import snapshot_client
from governance.snapshot_client import graphql, post_message
from governance.snapshot_errors import SnapshotHubError, SnapshotRefused, SnapshotUnavailable
from governance.snapshot_messages import VOTE_TYPES, message_data, sign, vote_message
from tests.snapshot_hub import SPACE_ID


class _Scripted(ThreadingHTTPServer):
    """Answers each POST with the next (status, body) of ``script`` (the last one repeats); records the bodies."""

    def __init__(self, script: list[tuple[int, object]], sock: socket.socket | None = None) -> None:
        self.script = list(script)
        self.bodies: list[bytes] = []
        if sock is None:
            super().__init__(("127.0.0.1", 0), _Handler)
        else:
            super().__init__(sock.getsockname(), _Handler, bind_and_activate=False)
            self.socket.close()
            self.socket = sock
            self.server_address = sock.getsockname()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: _Scripted = self.server  # type: ignore[assignment]
        server.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        status, body = server.script.pop(0) if len(server.script) > 1 else server.script[0]
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def scripted():
    servers: list[_Scripted] = []

    def start(script, sock=None) -> _Scripted:
        server = _Scripted(script, sock)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fast_retries(settings):
    settings.SNAPSHOT_HTTP_ATTEMPTS = 4
    settings.SNAPSHOT_HTTP_BACKOFF_SECONDS = 0.01
    settings.SNAPSHOT_HTTP_TIMEOUT_SECONDS = 5
    return settings


def _envelope(**overrides) -> dict:
    from chain.devkeys import COMMITTEE_KEY
    from chain.keys import load_account

    account = load_account(private_key=COMMITTEE_KEY)
    fields = {
        "voter": account.address,
        "space": "lifeboat-demo.eth",
        "proposal": "0x" + "ab" * 32,
        "choice": 1,
        "timestamp": int(time.time()),
    }
    return sign(account, message_data(VOTE_TYPES, vote_message(**{**fields, **overrides})))


def test_a_5xx_is_retried_with_the_same_body_then_the_answer_returned(scripted, fast_retries):
    server = scripted(
        [(502, {"error": "server_error", "error_description": "boom"}), (200, {"id": "0x1", "ipfs": "b"})]
    )
    counter: Counter[str] = Counter()
    envelope = _envelope()
    answer = post_message(server.url, envelope, counter=counter)
    assert answer == {"id": "0x1", "ipfs": "b"}
    assert len(server.bodies) == 2 and server.bodies[0] == server.bodies[1]
    assert json.loads(server.bodies[0]) == envelope
    assert counter["post"] == 2


def test_a_closed_port_is_retried_until_it_listens(scripted, fast_retries, monkeypatch):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    waits: list[float] = []

    def open_port_while_waiting(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            sock.listen(16)
            scripted([(200, {"id": "0x2", "ipfs": "c"})], sock)

    monkeypatch.setattr(snapshot_client, "time", SimpleNamespace(sleep=open_port_while_waiting))
    counter: Counter[str] = Counter()
    host, port = sock.getsockname()
    answer = post_message(f"http://{host}:{port}/", _envelope(), counter=counter)
    assert answer["id"] == "0x2"
    assert counter["post"] == 3
    assert waits == [0.01, 0.02]  # exponential backoff from SNAPSHOT_HTTP_BACKOFF_SECONDS


def test_every_attempt_failing_is_503_naming_the_redacted_url(scripted, fast_retries):
    server = scripted([(503, b"down")])
    secret_url = server.url + "v1/SECRETKEY123?apikey=SECRETKEY123"
    with pytest.raises(SnapshotUnavailable) as failed:
        post_message(secret_url, _envelope())
    assert failed.value.status == 503
    assert "SECRETKEY123" not in failed.value.message
    assert "did not answer after 4 attempts" in failed.value.message
    assert len(server.bodies) == 4


def test_a_4xx_is_refused_with_the_sequencers_words_and_not_retried(scripted, fast_retries):
    server = scripted([(400, {"error": "client_error", "error_description": "wrong timestamp"})])
    with pytest.raises(SnapshotRefused) as refused:
        post_message(server.url, _envelope())
    assert refused.value.status == 409
    assert refused.value.detail["error"] == "client_error"
    assert refused.value.detail["error_description"] == "wrong timestamp"
    assert "wrong timestamp" in refused.value.message
    assert len(server.bodies) == 1


def test_graphql_errors_and_non_graphql_answers_are_clear(scripted, fast_retries):
    server = scripted([(200, {"data": None, "errors": [{"message": "Cannot query field 'nope' on type 'Query'."}]})])
    with pytest.raises(SnapshotHubError, match="Cannot query field 'nope'"):
        graphql(server.url, "{ nope }")
    server = scripted([(404, b"<html>not here</html>")])
    with pytest.raises(SnapshotHubError, match="without GraphQL data"):
        graphql(server.url, '{ space(id: "x") { id } }')


def test_graphql_keeps_fractions_exact(scripted, fast_retries):
    from decimal import Decimal

    server = scripted([(200, b'{"data": {"space": {"voting": {"quorum": 0.1}}}}')])
    data = graphql(server.url, '{ space(id: "x") { voting { quorum } } }')
    assert data["space"]["voting"]["quorum"] == Decimal("0.1")


# --- against the real local hub ---


def test_the_hub_refuses_a_stale_vote_with_its_reason(snapshot_hub, fast_retries):
    stale = _envelope(space=SPACE_ID, timestamp=int(time.time()) - 7 * 24 * 3600)
    with pytest.raises(SnapshotRefused) as refused:
        post_message(snapshot_hub.sequencer_url, stale)
    assert refused.value.detail["error_description"] == "wrong timestamp"


def test_the_hub_answers_graphql_and_counts_queries(snapshot_hub, fast_retries):
    counter: Counter[str] = Counter()
    data = graphql(
        snapshot_hub.graphql_url,
        "query S($id: String!) { space(id: $id) { id network } }",
        {"id": SPACE_ID},
        counter=counter,
    )
    assert data["space"]["id"] == SPACE_ID
    assert counter == Counter({"graphql": 1})
    with pytest.raises(SnapshotHubError, match="nope"):
        graphql(snapshot_hub.graphql_url, "{ nope }")
