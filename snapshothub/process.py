"""Running the hub as its own process: ``HubProcess`` starts ``python -m snapshothub serve --port 0``.

Used by the test fixture and the ``snapshothub`` management command. The caller gives the node's
URL and the spaces; the process writes its base URL to a ready file once it listens.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent


class HubStartError(RuntimeError):
    """The hub process exited or did not listen in time; the message ends with its log's tail."""


class HubProcess:
    """One hub process on 127.0.0.1 for ``spaces`` on the node at ``rpc_url``.

    ``db_path``/``log_path`` default to files in a temporary directory removed on ``stop``.
    Use as a context manager, or ``start()``/``stop()``.
    """

    def __init__(
        self,
        rpc_url: str,
        spaces: Sequence[dict[str, Any]],
        *,
        db_path: str | Path | None = None,
        log_path: str | Path | None = None,
        port: int = 0,
        finalize_delay: int = 0,
        body_limit: int = 0,
    ) -> None:
        self.rpc_url = rpc_url
        self.spaces = list(spaces)
        self.port = port
        self.finalize_delay = finalize_delay
        self.body_limit = body_limit
        self._tmp = tempfile.TemporaryDirectory(prefix="snapshothub-")
        workdir = Path(self._tmp.name)
        self.db_path = Path(db_path) if db_path else workdir / "hub.sqlite3"
        self.log_path = Path(log_path) if log_path else workdir / "hub.log"
        self.spaces_path = workdir / "spaces.json"
        self.ready_path = workdir / "ready"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def sequencer_url(self) -> str:
        return self.url + "/"

    @property
    def graphql_url(self) -> str:
        return self.url + "/graphql"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "snapshothub",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--spaces",
            str(self.spaces_path),
            "--db",
            str(self.db_path),
            "--ready-file",
            str(self.ready_path),
            "--finalize-delay",
            str(self.finalize_delay),
            "--body-limit",
            str(self.body_limit),
        ]

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start(self, *, timeout: float = 30) -> "HubProcess":
        """Start the process and wait until it listens; HubStartError (with the log tail) otherwise."""
        self.spaces_path.write_text(json.dumps(self.spaces, indent=2))
        self.ready_path.unlink(missing_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")])),
            # In the environment, not on the command line: `ps` shows every process's arguments.
            "SNAPSHOTHUB_RPC_URL": self.rpc_url,
        }
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=PROJECT_DIR, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_path.exists() and (url := self.ready_path.read_text().strip()):
                self.url = url
                return self
            if self.process.poll() is not None:
                raise HubStartError(
                    f"the snapshot hub exited with code {self.process.returncode} at start-up:\n{self.log_tail()}"
                )
            time.sleep(0.05)
        self.stop()
        raise HubStartError(f"the snapshot hub did not listen within {timeout:.0f} s:\n{self.log_tail()}")

    def wait(self) -> int:
        """Block until the process exits; its exit code."""
        assert self.process is not None
        return self.process.wait()

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL after 10 s; removes the temporary directory."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._tmp.cleanup()

    def __enter__(self) -> "HubProcess":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
