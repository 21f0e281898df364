"""Start-up: bad configuration stops each process with one line naming the setting; a
production configuration passes Django's deployment checks."""

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from eth_account import Account

from chain import devkeys
from chain.anvil import Anvil, anvil_binary, free_port
from chain.errors import ToolMissing

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x7Qp-" + "k3v9LmT2wR8sZ1yB6nD4fH0jC5gA" * 2,
    "ALLOWED_HOSTS": "lifeboat.example.org",
}


def _manage(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_PRIVATE_KEY", "_KEYSTORE", "_KEYSTORE_PASSWORD"))}
    clean.pop("CHAIN_RPC_URL", None)
    clean.pop("CHAIN_ID", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line of error, got:\n{result.stderr}"
    return lines[0]


def test_an_unreachable_rpc_stops_start_up_naming_chain_rpc_url():
    url = f"http://127.0.0.1:{free_port()}"
    result = _manage(
        "preflight", env={**PRODUCTION, "CHAIN_RPC_URL": url, "EXECUTOR_PRIVATE_KEY": devkeys.EXECUTOR_KEY}
    )
    assert result.returncode == 1
    line = _one_line(result)
    assert line.startswith("CommandError: CHAIN_RPC_URL:") and url in line


def test_a_wrong_chain_id_stops_start_up_naming_chain_id(anvil: Anvil):
    env = {**PRODUCTION, "CHAIN_RPC_URL": anvil.url, "CHAIN_ID": "1"}
    env |= {f"{role}_PRIVATE_KEY": devkeys.EXECUTOR_KEY for role in ("EXECUTOR", "RELAYER", "COMMITTEE")}
    result = _manage("preflight", env=env)
    assert result.returncode == 1
    line = _one_line(result)
    assert "CHAIN_ID:" in line and "31337" in line and "not 1" in line


def test_a_missing_executor_key_stops_start_up_naming_the_key(anvil: Anvil):
    result = _manage("preflight", env={**PRODUCTION, "CHAIN_RPC_URL": anvil.url})
    assert result.returncode == 1
    assert "EXECUTOR_PRIVATE_KEY: no executor key is configured" in _one_line(result)


def test_a_keystore_with_the_wrong_password_stops_start_up(anvil: Anvil, tmp_path: Path):
    keystore = tmp_path / "executor.json"
    keystore.write_text(json.dumps(Account.encrypt(devkeys.EXECUTOR_KEY, "right", iterations=2)))
    env = {
        **PRODUCTION,
        "CHAIN_RPC_URL": anvil.url,
        "EXECUTOR_KEYSTORE": str(keystore),
        "EXECUTOR_KEYSTORE_PASSWORD": "wrong",
    }
    result = _manage("preflight", env=env)
    assert result.returncode == 1
    assert "EXECUTOR_KEYSTORE: cannot decrypt" in _one_line(result)


def test_keys_from_keystores_pass_preflight_against_a_live_node(anvil: Anvil, tmp_path: Path):
    env = {**PRODUCTION, "CHAIN_RPC_URL": anvil.url, "CHAIN_ID": "31337"}
    for role, key in (
        ("EXECUTOR", devkeys.EXECUTOR_KEY),
        ("RELAYER", devkeys.RELAYER_KEY),
        ("COMMITTEE", devkeys.COMMITTEE_KEY),
    ):
        path = tmp_path / f"{role}.json"
        path.write_text(json.dumps(Account.encrypt(key, f"pw-{role}", iterations=2)))
        env |= {f"{role}_KEYSTORE": str(path), f"{role}_KEYSTORE_PASSWORD": f"pw-{role}"}
    result = _manage("preflight", env=env)
    assert result.returncode == 0, result.stderr
    assert "preflight ok: chain 31337" in result.stdout
    assert Account.from_key(devkeys.EXECUTOR_KEY).address in result.stdout


def test_a_missing_secret_key_in_production_is_one_line_naming_it():
    result = _manage("check", env={"DEBUG": "0", "CHAIN_RPC_URL": "http://127.0.0.1:8545", "SECRET_KEY": ""})
    assert result.returncode == 1
    assert _one_line(result).startswith("lifeboat: SECRET_KEY is not set")


def test_a_malformed_boolean_setting_is_named():
    result = _manage("check", env={"DEBUG": "maybe"})
    assert result.returncode == 1
    assert _one_line(result) == "lifeboat: DEBUG='maybe' is not a boolean: use 1/0, true/false, yes/no or on/off"


def test_production_settings_pass_the_deployment_checks():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, "CHAIN_RPC_URL": "http://127.0.0.1:8545"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_worker_refuses_to_start_when_the_node_is_unreachable(tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k not in ("CHAIN_ID",)}
    env |= {
        **PRODUCTION,
        "CHAIN_RPC_URL": url,
        "EXECUTOR_PRIVATE_KEY": devkeys.EXECUTOR_KEY,
        "LIFEBOAT_VAR_DIR": str(tmp_path),
    }
    worker = subprocess.run(
        [str(Path(sys.executable).parent / "celery"), "-A", "config", "worker", "--pool=solo", "--loglevel=WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode != 0
    assert f"lifeboat: CHAIN_RPC_URL: no JSON-RPC node answers at {url}" in worker.stderr + worker.stdout


def test_a_missing_anvil_names_the_install_command(tmp_path: Path):
    with pytest.raises(ToolMissing) as missing:
        anvil_binary(project_dir=tmp_path)
    assert "npm ci" in str(missing.value)


def _embedded_env(var_dir: Path, devchain_port: int) -> dict[str, str]:
    """The environment of a newcomer: no DATABASE_URL, broker, RPC URL or keys; the dev chain's port."""
    unset = ("DATABASE_URL", "CELERY_BROKER_URL", "CHAIN_RPC_URL", "CHAIN_ID", "DEBUG", "SECRET_KEY")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env = {k: v for k, v in env.items() if not k.endswith(("_PRIVATE_KEY", "_KEYSTORE", "_KEYSTORE_PASSWORD"))}
    return env | {"LIFEBOAT_VAR_DIR": str(var_dir), "DEVCHAIN_PORT": str(devchain_port)}


def test_a_fresh_clone_migrates_and_passes_preflight_with_no_var_folder(anvil: Anvil, tmp_path: Path):
    var_dir = tmp_path / "clone" / "var"
    env = _embedded_env(var_dir, devchain_port=int(anvil.url.rsplit(":", 1)[1]))
    for command in (["migrate", "--noinput", "-v", "0"], ["preflight"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stderr
    assert "preflight ok: chain 31337" in result.stdout
    assert (var_dir / "lifeboat.sqlite3").is_file()


class _FakeNode(BaseHTTPRequestHandler):
    """A JSON-RPC node that is not the dev chain: answers chain id and client version as told."""

    chain_id = 1
    version = "Geth/v1.14.11-stable/linux-amd64/go1.23.2"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        results = {"eth_chainId": hex(self.chain_id), "web3_clientVersion": self.version, "eth_blockNumber": "0x10"}
        method = request["method"]
        reply = {"jsonrpc": "2.0", "id": request["id"]}
        if method in results:
            reply["result"] = results[method]
        else:
            reply["error"] = {"code": -32601, "message": f"the method {method} does not exist"}
        body = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def _fake_node(*, version: str, chain_id: int) -> Iterator[int]:
    """A fake node on a free port of 127.0.0.1 while the block runs; yields the port."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Node", (_FakeNode,), {"version": version, "chain_id": chain_id})
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("version", "chain_id"),
    [
        ("Geth/v1.14.11-stable/linux-amd64/go1.23.2", 1),
        ("anvil/v1.7.1", 1),
        ("Geth/v1.14.11-stable/linux-amd64/go1.23.2", 31337),
    ],
)
def test_the_embedded_mode_refuses_a_node_that_is_not_the_dev_chain(tmp_path: Path, version: str, chain_id: int):
    with _fake_node(version=version, chain_id=chain_id) as port:
        env = _embedded_env(tmp_path / "var", devchain_port=port)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=180
        )
        result = subprocess.run(
            [sys.executable, "manage.py", "preflight"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    line = _one_line(result)
    assert line.startswith("CommandError: CHAIN_RPC_URL: the node at http://127.0.0.1:")
    assert f"with chain id {chain_id}, not as the dev chain (anvil, chain id 31337)" in line
    for setting in ("SECRET_KEY", "EXECUTOR_PRIVATE_KEY", "RELAYER_PRIVATE_KEY", "COMMITTEE_PRIVATE_KEY"):
        assert setting in line


def test_the_web_server_in_the_embedded_mode_refuses_a_node_that_is_not_the_dev_chain(tmp_path: Path):
    with _fake_node(version="Geth/v1.14.11-stable/linux-amd64/go1.23.2", chain_id=1) as port:
        env = _embedded_env(tmp_path / "var", devchain_port=port)
        result = subprocess.run(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{free_port()}", "--noreload", "--skip-checks"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert _one_line(result).startswith("lifeboat: CHAIN_RPC_URL: the node at http://127.0.0.1:")
    assert "not as the dev chain (anvil, chain id 31337)" in result.stderr
