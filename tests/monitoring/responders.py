"""Test support for the monitors' responses: a real local webhook receiver, and firings to answer.

``receiver`` is an ``http.server`` on 127.0.0.1 (a free port) in a thread of the test process:
it records every request (path, headers, body) and answers 500 to the first ``fail_first``
requests, then 200. ``make_firing`` builds the watched deployment, rule and open firing the
engine would have made, pointed at the session's anvil.
"""

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitoring.models import Firing, ResponseKind, Rule, RuleKind, Severity, WatchedDeployment

WEBHOOK_SECRET = "whsec-lifeboat-test-0f3a9c"
URL_TOKEN = "tok3n-in-the-path-77d1"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    fail_first: int = 0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    """Import ``receiver_fixture`` into a test module to use the ``receiver`` fixture."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
                failing = len(state.requests) <= state.fail_first
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:  # quiet: the test reads state.requests
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def hook_url(receiver: Receiver) -> str:
    """The receiver's URL with a token in its path and query, as providers hand them out."""
    return f"{receiver.url}/hooks/{URL_TOKEN}?key={URL_TOKEN}"


def configure_webhook(settings: object, receiver: Receiver, *, name: str = "ops") -> None:
    url = hook_url(receiver)
    settings.MONITOR_WEBHOOKS = [{"name": name, "url": url, "secret": WEBHOOK_SECRET}]  # type: ignore[attr-defined]
    settings.LIFEBOAT_SECRETS = [*settings.LIFEBOAT_SECRETS, url, WEBHOOK_SECRET]  # type: ignore[attr-defined]


def make_firing(
    *,
    rpc_url: str,
    targets: list[str],
    response: str = ResponseKind.PAUSE,
    contracts: dict[str, str] | None = None,
    cause: str = "drain:vault",
    name: str = "demo",
    rule_name: str = "vault drain",
) -> Firing:
    watched, _ = WatchedDeployment.objects.get_or_create(
        name=name, defaults={"chain_id": 31337, "rpc_url": rpc_url, "contracts": contracts or {}}
    )
    rule, _ = Rule.objects.get_or_create(
        watched=watched,
        name=rule_name,
        defaults={
            "kind": RuleKind.DRAIN,
            "severity": Severity.CRITICAL,
            "response": response,
            "pause_targets": targets,
            "params": {},
        },
    )
    return Firing.objects.create(
        rule=rule,
        cause=cause,
        message=f"{cause}: outflow of 75% of the vault's assets within 5 blocks",
        first_block=10,
        last_block=11,
        evidence=[{"block_number": 11, "block_hash": "0x" + "ab" * 32, "values": {"outflow": str(10**24)}}],
    )
