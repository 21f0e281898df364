"""Secrets never leave: against real processes in production mode (DEBUG off, an RPC URL with
an API key, a broker URL with a password, the role keys set), no page, schema, API answer,
stored error, command output or log line contains the key, the password or a private key."""

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from chain import devkeys
from chain.anvil import Anvil, free_port
from chain.demo import DemoDeployment
from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

NODE_KEY = "nodekey8f3a1c5e9b7d2f4a6c8e0b1d"
DEAD_KEY = "deadkey5b2e8d1f7a4c9e3b6d0f2a8c"
BROKER_PASSWORD = "brokerpw-Zq7Xv2Lm9Tn4Rk8W"
SECRET_KEY = "x7Qp-" + "k3v9LmT2wR8sZ1yB6nD4fH0jC5gA" * 2
ADMIN_PASSWORD = "admin-pw-Hc4Jd8Nq2"
ROLE_KEYS = {
    "EXECUTOR_PRIVATE_KEY": devkeys.EXECUTOR_KEY,
    "RELAYER_PRIVATE_KEY": devkeys.RELAYER_KEY,
    "COMMITTEE_PRIVATE_KEY": devkeys.COMMITTEE_KEY,
}
SECRETS = [NODE_KEY, DEAD_KEY, BROKER_PASSWORD, SECRET_KEY] + [
    form for key in ROLE_KEYS.values() for form in (key, key.removeprefix("0x"))
]

SETUP = """
import json, sys
from chain.errors import ChainError
from recovery.impact import compute_impact, open_incident, request_impact
from recovery.plans import build_plan
given = json.loads(sys.stdin.read())
incident = open_incident(
    title="Vault drained", kind="protocol_exploit", chain_id=31337, affected_contracts=[given["vault"]],
    affected_tokens=[given["vault"], given["asset"]], exploiter_addresses=[given["attacker"], given["drainer"]],
)
def requested():
    return request_impact(
        incident_id=incident.pk, rpc_url=given["rpc"], rollback_block=given["rollback_block"],
        reference_block=given["reference_block"], from_block=given["from_block"], allow_unconfirmed=True,
    )
done = compute_impact(analysis_id=requested().pk, rpc_url=given["rpc"])
budgets = {given["vault"]: "1000", given["asset"]: "0"}
plan = build_plan(
    analysis_id=done.pk, mode="restitute", policy="pro_rata", budgets=budgets, recovery_executor=given["executor"]
)
failing = requested()
try:
    compute_impact(analysis_id=failing.pk, rpc_url=given["dead_rpc"])
except ChainError:
    pass
print(json.dumps({"incident": incident.pk, "analysis": done.pk, "failed": failing.pk, "plan": plan.pk}))
"""


def _assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where} shows a secret ({secret[:12]}...):\n{text[:3000]}"


def _broker_url(password: str, port: int = 6379) -> str:
    # Redis's default user has no password, and AUTH with a user name then accepts any: the URL
    # carries a real password the local server takes. The db is the session's (nothing is enqueued).
    session = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
    db = (urlsplit(session).path.strip("/") if session.startswith("redis://") else "") or "15"
    return f"redis://default:{password}@127.0.0.1:{port}/{db}"


def _production_env(tmp_path: Path, rpc_url: str, broker_url: str | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CHAIN_ID", "DATABASE_URL", "CELERY_BROKER_URL")
        and not k.endswith(("_PRIVATE_KEY", "_KEYSTORE", "_KEYSTORE_PASSWORD"))
    }
    return env | {
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "CHAIN_RPC_URL": rpc_url,
        "CELERY_BROKER_URL": broker_url or _broker_url(BROKER_PASSWORD),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lifeboat.sqlite3'}",
        "LIFEBOAT_VAR_DIR": str(tmp_path),
        **ROLE_KEYS,
    }


def _manage(*args: str, env: dict[str, str], stdin: str = "", timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _Server:
    """``manage.py runserver --noreload`` in production mode, on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.get("/api/schema/")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"the server did not start:\n{self.log}") from None
                time.sleep(0.3)

    def request(self, method: str, path: str, *, body: object = None, auth: bool = False) -> tuple[int, str]:
        headers = {"Accept": "application/json, text/html"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, headers=headers)
        request.method = method
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own local server
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def get(self, path: str, *, auth: bool = False) -> tuple[int, str]:
        return self.request("GET", path, auth=auth)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.log = self.process.communicate(timeout=30)[0]

    log = ""


@pytest.fixture
def production(tmp_path: Path, anvil: Anvil, demo: DemoDeployment, exploited: dict) -> dict:
    """A migrated database with an incident, a completed analysis, a plan and a failed analysis."""
    rpc = f"{anvil.url}/?apikey={NODE_KEY}"
    dead_rpc = f"http://127.0.0.1:{free_port()}/v3/{DEAD_KEY}"
    env = _production_env(tmp_path, rpc)
    for command in (
        ["migrate", "--noinput", "-v", "0"],
        ["createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.org"],
    ):
        result = _manage(*command, env=env | {"DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD})
        assert result.returncode == 0, result.stderr
    given = {**exploited, "rpc": rpc, "dead_rpc": dead_rpc, "executor": demo.address("recovery_executor")}
    given = {k: v for k, v in given.items() if isinstance(v, str | int)}
    setup = _manage("shell", "-c", SETUP, env=env, stdin=json.dumps(given))
    assert setup.returncode == 0, setup.stderr
    ids = json.loads(setup.stdout.strip().splitlines()[-1])
    return {"env": env, "rpc": rpc, "dead_rpc": dead_rpc, "ids": ids, "exploited": exploited, "tmp_path": tmp_path}


def _get_paths(schema: dict, values: dict[str, str]) -> list[str]:
    paths = []
    for template, operations in schema["paths"].items():
        if "get" in operations:
            paths.append(re.sub(r"\{(\w+)\}", lambda match: values.get(match.group(1), "1"), template))
    return paths


def test_no_page_schema_or_api_answer_shows_the_node_key_or_the_broker_password(production: dict):
    ids, exploited = production["ids"], production["exploited"]
    server = _Server(production["env"])
    try:
        status, schema_json = server.get("/api/schema/?format=json")
        assert status == 200
        values = {
            "incident_id": str(ids["incident"]),
            "analysis_id": str(ids["analysis"]),
            "plan_id": str(ids["plan"]),
            "address": exploited["victims"][0],
        }
        paths = ["/", "/api/schema/", "/api/docs/", *_get_paths(json.loads(schema_json), values)]
        paths.append(f"/api/analyses/{ids['failed']}/")
        assert len(paths) > 6
        answers = {(path, auth): server.get(path, auth=auth) for path in paths for auth in (False, True)}
    finally:
        server.stop()
    for (path, auth), (status, body) in answers.items():
        assert status < 500, f"GET {path} (signed in: {auth}) answered {status}: {body[:500]}"
        _assert_clean(body, f"GET {path}")
    # The failed analysis' stored error is served, and it names the node without its key.
    failed = json.loads(answers[(f"/api/analyses/{ids['failed']}/", False)][1])
    assert failed["status"] == "failed" and failed["error"]
    assert "127.0.0.1:" in failed["error"]
    _assert_clean(server.log, "the server's log")


def test_the_error_paths_of_an_unreachable_node_show_no_key(production: dict):
    env = production["env"] | {"CHAIN_RPC_URL": production["dead_rpc"]}
    server = _Server(env)
    try:
        home = server.get("/")
        analysis = server.request(
            "POST",
            f"/api/incidents/{production['ids']['incident']}/analyses/",
            body={"rollback_block": 1, "reference_block": 2},
            auth=True,
        )
    finally:
        server.stop()
    assert home[0] == 200 and "unreachable" in home[1]
    assert 400 <= analysis[0] < 600 and analysis[0] != 500, analysis
    for where, text in (("the home page", home[1]), ("the analysis request", analysis[1]), ("the log", server.log)):
        _assert_clean(text, where)


def test_command_output_shows_no_key_or_password(production: dict, tmp_path: Path):
    env, exploited = production["env"], production["exploited"]
    dead_broker = _broker_url(BROKER_PASSWORD, port=free_port())
    runs = {
        "preflight, broker down": _manage("preflight", env=env | {"CELERY_BROKER_URL": dead_broker}),
        "preflight, node down": _manage("preflight", env=env | {"CHAIN_RPC_URL": production["dead_rpc"]}),
        "impact compute --rpc, node down": _manage(
            "impact",
            "compute",
            "--rpc",
            production["dead_rpc"],
            "--token",
            exploited["asset"],
            "--rollback-block",
            "1",
            "--reference-block",
            "2",
            "--json",
            env=env,
        ),
        "impact compute --rpc, not a token": _manage(
            "impact",
            "compute",
            "--rpc",
            production["rpc"],
            "--token",
            exploited["attacker"],
            "--rollback-block",
            str(exploited["rollback_block"]),
            "--reference-block",
            str(exploited["reference_block"]),
            "--json",
            env=env,
        ),
    }
    for where, result in runs.items():
        assert result.returncode != 0, f"{where} succeeded: {result.stdout}"
        assert result.stderr.strip(), f"{where} gave no error"
        _assert_clean(result.stdout + result.stderr, where)
    assert (
        "CELERY_BROKER_URL: cannot reach the broker at redis://***@127.0.0.1:" in runs["preflight, broker down"].stderr
    )


def test_a_celery_worker_logs_through_the_redacting_filter(tmp_path: Path):
    """A message for a task the worker does not know is logged with its whole body: the
    secrets in it (a keyed URL, a private key) must come out masked."""
    queue = f"lifeboat-secrets-{os.getpid()}"
    dead_rpc = f"http://127.0.0.1:{free_port()}/v3/{DEAD_KEY}"
    env = _production_env(tmp_path, dead_rpc) | {
        "LIFEBOAT_PREFLIGHT_ON_WORKER_START": "0",
        "CELERY_RESULT_BACKEND": "cache+memory://",  # no database to migrate for one refused message
    }
    celery_app.send_task("lifeboat.no_such_task", args=[dead_rpc, devkeys.EXECUTOR_KEY], queue=queue)
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "config", "worker", "--pool=solo", "--loglevel=INFO", "-Q", queue],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        for line in worker.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "unregistered task" in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        seen.wait(timeout=90)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        reader.join(timeout=10)
    log = "".join(lines)
    assert seen.is_set(), f"the worker never logged the unregistered task:\n{log}"
    _assert_clean(log, "the worker's log")
    assert "http://127.0.0.1:" in log and "/***" in log
