"""Real Celery worker processes for the process-level fault tests, and the database they share.

A worker process cannot open the test's in-memory SQLite database, so the fault tests use a
PostgreSQL database of their own on 127.0.0.1:5432 (trust auth; always running here and in CI),
whatever database the rest of the suite uses: ``FaultDatabases`` migrates a template once per
module (``manage.py migrate`` in a subprocess) and every test gets a fresh copy of it (``CREATE
DATABASE ... TEMPLATE``), dropped afterwards. The test process reaches it through ``use_database``,
which puts a connection to it in place of Django's ``default`` for the duration (the ORM code of
the tests then writes and reads the rows the workers see); the workers and the ``plan execute``
command get it as ``DATABASE_URL``.

Every process started here is stopped by its PID (``stop``), in a ``finally`` of the caller.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dj_database_url
import psycopg
from django.db import connections
from django.db.utils import load_backend

from chain import devkeys

PROJECT_DIR = Path(__file__).resolve().parents[2]
PG_SERVER = os.environ.get("LIFEBOAT_FAULTS_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("LIFEBOAT_FAULTS_REDIS_URL", "redis://127.0.0.1:6379/8")
RABBIT_URL = os.environ.get("LIFEBOAT_FAULTS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY = str(PROJECT_DIR / ".venv" / "bin" / "celery") if (PROJECT_DIR / ".venv").exists() else "celery"


def _admin() -> psycopg.Connection:
    return psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3)


def postgres_available() -> bool:
    try:
        with _admin():
            return True
    except psycopg.Error:
        return False


class FaultDatabases:
    """A migrated template database and fresh copies of it, one per test."""

    def __init__(self) -> None:
        self.prefix = f"lifeboat_faults_{uuid.uuid4().hex[:8]}"
        self.template = f"{self.prefix}_tpl"
        self.copies: list[str] = []

    def url(self, name: str) -> str:
        return f"{PG_SERVER}/{name}"

    def create_template(self, env: dict[str, str]) -> None:
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{self.template}"')
        manage(["migrate", "--noinput", "-v", "0"], env={**env, "DATABASE_URL": self.url(self.template)}, timeout=180)

    def fresh(self) -> str:
        name = f"{self.prefix}_{len(self.copies)}"
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.copies.append(name)
        return self.url(name)

    def drop(self, url: str) -> None:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def drop_all(self) -> None:
        with _admin() as admin:
            for name in [*self.copies, self.template]:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def use_database(url: str) -> Iterator[None]:
    """Django's ``default`` connection of this process on ``url`` for the duration (then the old one back)."""
    config = connections.configure_settings({"default": dj_database_url.parse(url)})["default"]
    wrapper = load_backend(config["ENGINE"]).DatabaseWrapper(config, "default")
    previous = connections["default"]
    connections["default"] = wrapper
    try:
        yield
    finally:
        wrapper.close()
        connections["default"] = previous


def base_env(*, database_url: str, rpc_url: str, broker_url: str, queue: str) -> dict[str, str]:
    """The environment of a worker or a command: the test's database, node, broker and queue; dev keys."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CELERY_", "DATABASE_", "LIFEBOAT_", "EXECUTOR_", "CHAIN_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.recovery.fault_settings",
        PYTHONPATH=str(PROJECT_DIR),
        DATABASE_URL=database_url,
        CHAIN_RPC_URL=rpc_url,
        CONFIRMATION_DEPTH="0",
        SECRET_KEY="lifeboat-fault-tests-" + "x" * 40,
        EXECUTOR_PRIVATE_KEY=devkeys.EXECUTOR_KEY,
        RELAYER_PRIVATE_KEY=devkeys.RELAYER_KEY,
        COMMITTEE_PRIVATE_KEY=devkeys.COMMITTEE_KEY,
        LIFEBOAT_PREFLIGHT_ON_WORKER_START="0",
        CELERY_BROKER_URL=broker_url,
        CELERY_RESULT_BACKEND="django-db",
        # A killed worker's message stays invisible for an hour on Redis: recovery must not wait for it.
        CELERY_VISIBILITY_TIMEOUT_SECONDS="3600",
        LIFEBOAT_FAULTS_QUEUE=queue,
        # Short waits so a follower gives up on a dead node soon and the reconciler takes over.
        EXECUTION_RECEIPT_TIMEOUT_SECONDS="20",
        EXECUTION_SENDER_LEASE_SECONDS="10",
    )
    return env


def manage(args: list[str], *, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "manage.py"), *args],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


@contextlib.contextmanager
def migrated_databases(rpc_url: str) -> Iterator[FaultDatabases]:
    """A migrated template on the fault tests' PostgreSQL for a test module; every copy dropped afterwards.

    Fails (not skips) naming the command that starts PostgreSQL when it is not reachable.
    """
    import pytest

    if not postgres_available():
        pytest.fail(
            "PostgreSQL on 127.0.0.1:5432 is not reachable: the worker-process tests need it "
            "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)"
        )
    dbs = FaultDatabases()
    try:
        dbs.create_template(base_env(database_url="", rpc_url=rpc_url, broker_url=REDIS_URL, queue="unused"))
        yield dbs
    finally:
        dbs.drop_all()


class Worker:
    """One ``celery worker --pool=solo`` process consuming ``queue``; its output goes to ``log``."""

    def __init__(self, env: dict[str, str], *, queue: str, log: Path, name: str, failpoints: str = "") -> None:
        self.env = {**env, "LIFEBOAT_FAILPOINTS": failpoints}
        self.queue = queue
        self.log = log
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Worker":
        output = open(self.log, "ab")  # noqa: SIM115 - the process owns it; closed in stop()
        self.process = subprocess.Popen(
            [
                CELERY,
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "-c",
                "1",
                "-Q",
                self.queue,
                "-n",
                f"{self.name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
            ],
            env=self.env,
            cwd=PROJECT_DIR,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        output.close()
        return self

    def killed_by_sigkill(self) -> bool:
        return self.process is not None and self.process.poll() == -signal.SIGKILL

    def wait_exit(self, timeout: float) -> int | None:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """End this worker by its PID: TERM (warm shutdown), then KILL."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str, logs: Callable[[], str] = str) -> None:
    """Poll ``predicate`` until true; after ``timeout`` fail naming ``what`` (with the workers' logs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s\n{logs()}")


def purge_queue(broker_url: str, queue: str) -> None:
    """Drop the messages of ``queue`` (left by an earlier run or by a killed worker)."""
    from kombu import Connection

    with Connection(broker_url, connect_timeout=3) as connection:
        channel = connection.channel()
        with contextlib.suppress(Exception):
            channel.queue_purge(queue)
        with contextlib.suppress(Exception):
            channel.queue_delete(queue)


def broker_available(broker_url: str) -> bool:
    from kombu import Connection

    try:
        with Connection(broker_url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
            return True
    except Exception:
        return False
