"""Starting and stopping anvil, the local dev chain, from the project's ``node_modules``."""

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from chain.errors import RpcUnavailable, ToolMissing

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEV_CHAIN_ID = 31337


def anvil_binary(project_dir: Path = PROJECT_DIR) -> Path:
    """The anvil executable in ``project_dir``'s node_modules; ``ToolMissing`` says which command installs it."""
    binary = project_dir / "node_modules" / ".bin" / "anvil"
    if binary.exists():
        return binary
    if shutil.which("npm") is None:
        raise ToolMissing(
            "anvil needs Node.js and npm, which are not installed: `apt-get install nodejs npm`, then `npm ci`"
        )
    raise ToolMissing(f"anvil is not installed in {binary.parent}: run `npm ci` in {project_dir} (or `make install`)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Anvil:
    """One anvil process on 127.0.0.1; ``stop`` ends it by its PID."""

    def __init__(
        self,
        *,
        port: int = 0,
        chain_id: int = DEV_CHAIN_ID,
        block_time: int | None = None,
        code_size_limit: int | None = None,
        log_path: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = port or free_port()
        self.chain_id = chain_id
        self.block_time = block_time
        self.code_size_limit = code_size_limit
        self.log_path = log_path
        self.extra_args = tuple(extra_args)  # more anvil flags, e.g. ("--base-fee", "0") for benchmarks
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 30) -> "Anvil":
        if port_in_use(self.port):
            raise RpcUnavailable(
                f"port {self.port} on 127.0.0.1 is already in use: stop what listens there or pick another port"
            )
        command = [
            str(anvil_binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            "10",
            "--balance",
            "1000000",
            # Bulk benchmarks ask for large log ranges; the default response cap is generous enough.
            "--gas-limit",
            "60000000",
        ]
        if self.block_time:
            command += ["--block-time", str(self.block_time)]
        if self.code_size_limit:
            command += ["--code-size-limit", str(self.code_size_limit)]
        command += self.extra_args
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RpcUnavailable(f"anvil exited with code {self.process.returncode} at start-up")
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise RpcUnavailable(f"anvil did not answer on {self.url} within {timeout:.0f} s")

    def _answers(self) -> bool:
        try:
            reply = requests.post(
                self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1
            )
            return reply.ok
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> "Anvil":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
