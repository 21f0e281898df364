"""The holders' pages of a large plan under concurrent clients: Lifeboat, the peer and the floor.

    python benchmarks/web_load.py [--accounts 100000] [--clients 20] [--seconds 15] [--rounds 2]
        [--workers 2,3,5] [--database bench_web] [--rebuild] [--drop] [--json OUT]

PostgreSQL (DATABASE_URL names the server; default the machine's local one) holds a throwaway
database ``--database`` with one incident of ``--accounts`` losers: its completed analysis (the
``AccountImpact`` rows an analysis stores, written with ``recovery.storage.bulk_insert`` and
summarised by ``recovery.diff.summarize``, as ``recovery.impact`` does), a plan built by
``recovery.plans.build_plan`` and frozen by ``proposals.services.freeze_proposal``. The data is
kept between runs while its recorded fingerprint matches (``--rebuild`` builds it again).

The server runs as in production: ``gunicorn config.wsgi:application`` (settings
``benchmarks/web_load_settings.py``: Lifeboat's, plus the peer and floor URLs), DEBUG off,
``--workers`` sync workers, persistent database connections (``conn_max_age`` 60). A comma
list of worker counts is tried first (``--probe-seconds`` per Lifeboat URL, after a warm-up)
and the best, by the geometric mean of the Lifeboat URLs' rates, serves every path. The load
tool is ``wrk`` (Debian's package): a C event loop whose CPU use is small beside the server's on
the same 2 cores, and whose Lua ``done`` hook reports exact latency percentiles. Each URL is loaded by ``--clients``
connections for ``--seconds`` seconds, by each path, every round, in a rotating order:

- lifeboat: the page itself;
- peer: the same page with the accounts table read by ``Paginator`` + ``icontains``
  (``benchmarks/web_load_app.py``) -- for the table URLs only;
- floor: a constant response of the same size from the same server, no database.

Before loading, every URL is checked: status 200, and the accounts a table lists are exactly the
expected ones (the deep page's rank range, every loser starting with the prefix, the one exact
account), the same for Lifeboat and the peer; every page gets two untimed seconds of load before
the rounds. A non-2xx answer or a broken connection fails the run; a request wrk gave up on
after 10 s is reported as a timeout (wrk's percentiles count only answered requests). The bare
SQL each Lifeboat page runs on a warm worker (one untimed request first: what a completed
analysis's page caches is not read again) is captured and timed over psycopg (``sql_ms``: the
sum of one page's queries, median of repetitions). CPU seconds are reported apart: the server (gunicorn's
processes), PostgreSQL's backends, the load generator (wrk) and the rest of the machine. Every
process started is stopped by its PID.
"""

import argparse
import contextlib
import hashlib
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/lifeboat"
SERVER_URL = (os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL).rpartition("/")[0]
DATA_VERSION = 1  # bump when the generated data changes
ASSET = "0x" + "11" * 20
RECOVERY_EXECUTOR = "0x" + "22" * 20
EXPLOITER = "0x" + "ee" * 20
PER_PAGE = 50
SECRET = "web-load-benchmark-" + "x" * 40


def _server_env(database: str) -> dict[str, str]:
    """The environment of the server and of this process: production settings on the bench database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DJANGO_", "DEBUG", "CHAIN_"))}
    env.update(
        DATABASE_URL=f"{SERVER_URL}/{database}",
        DJANGO_SETTINGS_MODULE="benchmarks.web_load_settings",
        DEBUG="0",
        SECRET_KEY=SECRET,
        # Plain HTTP on localhost, as behind a TLS-terminating proxy; everything else as in production.
        SECURE_SSL_REDIRECT="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # A production server names its node; no page loaded here reads the chain (no publication).
        CHAIN_RPC_URL="http://127.0.0.1:9",
        PYTHONPATH=str(ROOT),
    )
    return env


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=15, help="load duration per URL and path, each round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--workers", default="3", help="gunicorn sync workers; a comma list tries each and keeps the best"
    )
    parser.add_argument("--probe-seconds", type=int, default=5, help="load per URL when comparing worker counts")
    parser.add_argument("--database", default="bench_web")
    parser.add_argument("--rebuild", action="store_true", help="build the data again even when it matches")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end (the smoke test)")
    parser.add_argument("--sql-repeats", type=int, default=30)
    parser.add_argument("--json")
    return parser.parse_args()


ARGS = _args() if __name__ == "__main__" else None
if ARGS is not None:
    if not ARGS.database.startswith("bench_web"):
        sys.exit("--database must start with bench_web: this benchmark drops and creates it")
    os.environ.update(_server_env(ARGS.database))

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from cputime import backend_cpu, describe, machine, machine_cpu_seconds, process_cpu_seconds  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from eth_utils import to_checksum_address  # noqa: E402

from proposals.services import freeze_proposal  # noqa: E402
from recovery.diff import diff_balances, summarize  # noqa: E402
from recovery.models import AccountImpact, AnalysisStatus, ImpactAnalysis, ImpactKind, Incident  # noqa: E402
from recovery.plans import build_plan  # noqa: E402
from recovery.storage import bulk_insert  # noqa: E402

# --- the data ----------------------------------------------------------------------------------------


def account(i: int) -> str:
    """The i-th victim: a checksummed address of uniformly spread hex digits."""
    return to_checksum_address("0x" + hashlib.sha256(f"victim {i}".encode()).hexdigest()[:40])


def balances(count: int) -> tuple[dict[str, int], dict[str, int]]:
    """Every victim loses a distinct amount (so the table's order has no ties); the exploiter gains it all."""
    before, after = {}, {}
    for i in range(count):
        held = 10**18 + i * 7_919_000_000_000
        before[account(i)] = held
        after[account(i)] = held // (2 + i % 3) - i  # a distinct loss for each i
    before[to_checksum_address(EXPLOITER)] = 0
    after[to_checksum_address(EXPLOITER)] = sum(before.values()) - sum(after.values())
    return before, after


def fingerprint(count: int) -> str:
    return f"v{DATA_VERSION} accounts={count} asset={ASSET}"


def _admin() -> psycopg.Connection:
    return psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True, connect_timeout=5)


def ensure_database(name: str, count: int, *, rebuild: bool) -> tuple[int, float]:
    """The bench database with its data (built when missing or stale); the proposal id and the build seconds."""
    with _admin() as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        if exists and not rebuild:
            with psycopg.connect(f"{SERVER_URL}/{name}", connect_timeout=5) as db:
                row = db.execute(
                    "SELECT value FROM web_load_fingerprint WHERE key = 'data'"
                    if db.execute("SELECT to_regclass('web_load_fingerprint')").fetchone()[0]
                    else "SELECT NULL WHERE false"
                ).fetchone()
                proposal = db.execute(
                    "SELECT value FROM web_load_fingerprint WHERE key = 'proposal'"
                    if row is not None
                    else "SELECT NULL WHERE false"
                ).fetchone()
            if row is not None and row[0] == fingerprint(count) and proposal is not None:
                _migrate()  # a new migration (an index) applies to the kept data
                print(f"reusing database {name}: {row[0]}", flush=True)
                return int(proposal[0]), 0.0
        if exists:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    started = time.perf_counter()
    _migrate()
    proposal = build_data(count)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE web_load_fingerprint (key text PRIMARY KEY, value text NOT NULL)")
        cursor.execute(
            "INSERT INTO web_load_fingerprint VALUES ('data', %s), ('proposal', %s)", [fingerprint(count), proposal]
        )
        cursor.execute("VACUUM ANALYZE")
    seconds = time.perf_counter() - started
    print(f"built database {name}: {fingerprint(count)}, proposal {proposal}, {seconds:.0f} s", flush=True)
    return proposal, seconds


def _migrate() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{result.stderr[-3000:]}")


def build_data(count: int) -> int:
    """Incident, completed analysis (rows as ``recovery.impact`` stores them), plan, frozen document."""
    incident = Incident.objects.create(
        title=f"Web load benchmark: {count:,} affected accounts",
        kind="protocol_exploit",
        chain_id=31337,
        opened_via="cli",
        exploiter_addresses=[to_checksum_address(EXPLOITER)],
        affected_tokens=[ASSET],
    )
    before, after = balances(count)
    deltas = diff_balances(asset=ASSET, before=before, after=after)
    analysis = ImpactAnalysis.objects.create(
        incident=incident,
        rollback_block=100,
        reference_block=200,
        tracked_assets=[to_checksum_address(ASSET)],
        status=AnalysisStatus.RUNNING,
    )
    asset = to_checksum_address(ASSET)
    bulk_insert(
        AccountImpact,
        ["analysis", "account", "asset", "kind", "before", "after", "delta"],
        ((analysis.pk, d.account, asset, ImpactKind.BALANCE, d.before, d.after, d.delta) for d in deltas),
    )
    analysis.summary = {
        "assets": {asset: summarize(deltas, asset=asset, exploiters=incident.exploiter_addresses).as_json()},
        "positions": {},
        "decimals": {asset: 18},
        "cross_checked_accounts": 0,
        "price": None,
        "warnings": [],
        "chain_id": 31337,
        "unconfirmed": False,
        "block_hashes": {"rollback": "", "reference": "", "from": ""},
    }
    analysis.status = AnalysisStatus.COMPLETED
    analysis.save()
    plan = build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", recovery_executor=RECOVERY_EXECUTOR)
    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    return document.pk


# --- the URLs and what each must show ----------------------------------------------------------------

_ROW = re.compile(r'href="/proposals/\d+/accounts/(0x[0-9a-fA-F]{40})/"')


def losers_in_order(count: int) -> list[str]:
    """Every loser, largest loss first (ties impossible: every loss differs)."""
    before, after = balances(count)
    return [
        a for a, _ in sorted(((a, after[a] - before[a]) for a in before if after[a] < before[a]), key=lambda x: x[1])
    ]


def url_mix(proposal: int, ordered: list[str]) -> list[dict[str, Any]]:
    """The URLs loaded, each with the accounts its table must list (None: no table to check)."""
    asset = to_checksum_address(ASSET)
    pages = (len(ordered) + PER_PAGE - 1) // PER_PAGE
    deep = max(1, min(900, pages - 1))
    prefix = "abc"
    exact = ordered[len(ordered) // 2]
    base = f"/proposals/{proposal}/"
    return [
        {"name": "proposal page", "path": base, "peer": False, "rows": ordered[:PER_PAGE]},
        {
            "name": f"accounts, page {deep}",
            "path": f"{base}?asset={asset}&page={deep}",
            "peer": True,
            "rows": ordered[(deep - 1) * PER_PAGE : deep * PER_PAGE],
        },
        {
            "name": f"accounts, prefix 0x{prefix}",
            "path": f"{base}?asset={asset}&q=0x{prefix}",
            "peer": True,
            "rows": [a for a in ordered if a[2:].lower().startswith(prefix)][:PER_PAGE],
        },
        {
            "name": "accounts, exact address",
            "path": f"{base}?asset={asset}&q={exact.lower()}",
            "peer": True,
            "rows": [exact],
        },
        {"name": "account lookup", "path": f"{base}accounts/{exact}/", "peer": False, "rows": None, "account": exact},
    ]


def peer_path(path: str) -> str:
    return "/bench/peer" + path


# --- processes ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn on Lifeboat's WSGI application, ``workers`` sync workers; stopped by its PID."""

    def __init__(self, workers: int, log: Path) -> None:
        self.workers, self.log, self.port = workers, log, free_port()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--worker-class",
                "sync",
                "--backlog",
                "256",
                "--timeout",
                "60",
                "--error-logfile",
                str(self.log),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
            if len(self.worker_pids()) == self.workers:
                try:
                    urllib.request.urlopen(self.url("/bench/floor/100/"), timeout=30).read()  # noqa: S310 (http://127.0.0.1)
                    return
                except OSError:  # refused, reset or timed out: not up yet
                    pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer within 120 s")

    def __exit__(self, *_: Any) -> None:
        if self.process is not None and self.process.poll() is None:
            workers = self.worker_pids()
            os.kill(self.process.pid, signal.SIGTERM)  # gunicorn's graceful stop of its own workers
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.process.kill()
                self.process.wait()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as handle:
                return [int(pid) for pid in handle.read().split()]
        except OSError:
            return []

    def cpu(self) -> float:
        """User + system seconds of the master and its live workers."""
        assert self.process is not None
        total = 0.0
        for pid in [self.process.pid, *self.worker_pids()]:
            with contextlib.suppress(OSError):
                total += process_cpu_seconds(pid)
        return total


def backend_cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """What the backends used between two readings; a backend that ended meanwhile counts up to its last reading."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


LUA = """
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"bytes":%d,"status_errors":%d,"socket_errors":%d,"timeouts":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, summary.bytes, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout))
end
"""


def settle(server: Server, database: str, *, limit: float = 60.0) -> None:
    """Wait until the server and its backends are idle: requests wrk sent before it stopped are still served."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before, backends = server.cpu(), backend_cpu(database)
        time.sleep(0.5)
        if server.cpu() - before + backend_cpu_used(backends, backend_cpu(database)) < 0.05:
            return


def load(server: Server, path: str, *, clients: int, seconds: int, script: Path, database: str) -> dict[str, Any]:
    """``wrk`` with ``clients`` connections on one URL for ``seconds``; latency, rate and everyone's CPU."""
    settle(server, database)
    server_cpu, pg_cpu, machine_cpu = server.cpu(), backend_cpu(database), machine_cpu_seconds()
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s", "-s", str(script)]
    process = subprocess.Popen(
        [*command, server.url(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=seconds + 60)
    # The generator's own CPU: wrk is the only child this process reaps meanwhile.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    generator = usage.ru_utime + usage.ru_stime - reaped.ru_utime - reaped.ru_stime
    line = next((x for x in out.splitlines() if x.startswith("WRKJSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed on {path}: {out[-1000:]} {err[-1000:]}")
    figures = json.loads(line[len("WRKJSON ") :])
    server_used, pg_used = server.cpu() - server_cpu, backend_cpu_used(pg_cpu, backend_cpu(database))
    return {
        "p50_ms": figures["p50_us"] / 1000,
        "p95_ms": figures["p95_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "rps": figures["requests"] / (figures["duration_us"] / 1e6),
        "requests": figures["requests"],
        "errors": figures["status_errors"] + figures["socket_errors"],  # a failed answer: the run fails
        "timeouts": figures["timeouts"],  # no answer within wrk's 10 s: reported, counted in no latency
        "server_cpu": server_used,
        "server_cpu_ms_per_request": server_used * 1000 / max(figures["requests"], 1),
        "postgres_cpu": pg_used,
        "generator_cpu": generator,
        "other_cpu": max(0.0, machine_cpu_seconds() - machine_cpu - server_used - pg_used - generator),
    }


# --- checks and the bare SQL -------------------------------------------------------------------------


def fetch(server: Server, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(server.url(path), timeout=60) as reply:  # noqa: S310 (http://127.0.0.1)
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def check(server: Server, urls: list[dict[str, Any]]) -> dict[str, bool]:
    """Every URL answers 200 with exactly the expected accounts, Lifeboat and peer alike; sizes recorded."""
    checks = {}
    for entry in urls:
        status, body = fetch(server, entry["path"])
        entry["bytes"] = len(body.encode())
        ok = status == 200
        if entry["rows"] is not None:
            ok = ok and _ROW.findall(body) == entry["rows"]
        if entry.get("account"):
            ok = ok and entry["account"] in body and "proof" in body.lower()
        checks[f"lifeboat: {entry['name']}"] = ok
        if entry["peer"]:
            status, peer_body = fetch(server, peer_path(entry["path"]))
            checks[f"peer: {entry['name']}"] = status == 200 and _ROW.findall(peer_body) == entry["rows"]
            entry["peer_bytes"] = len(peer_body.encode())
        status, floor_body = fetch(server, f"/bench/floor/{entry['bytes']}/")
        checks[f"floor: {entry['name']} size"] = status == 200 and len(floor_body.encode()) == entry["bytes"]
    return checks


def bare_sql(urls: list[dict[str, Any]], repeats: int) -> dict[str, float]:
    """Each Lifeboat page's queries (captured from one in-process request) run over psycopg: ms per page, median."""
    client = Client()
    timings = {}
    dsn = os.environ["DATABASE_URL"]
    with psycopg.connect(dsn) as db:
        for entry in urls:
            # Once first, as the server's warm workers have: what a completed analysis's page caches is not read again.
            assert client.get(entry["path"], HTTP_HOST="127.0.0.1").status_code == 200
            with CaptureQueriesContext(connection) as captured:
                assert client.get(entry["path"], HTTP_HOST="127.0.0.1").status_code == 200
            queries = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                for sql in queries:
                    db.execute(sql).fetchall()  # no parameters: psycopg sends the text as it is
                samples.append(time.perf_counter() - started)
            timings[entry["name"]] = statistics.median(samples) * 1000
            entry["queries"] = len(queries)
    return timings


# --- the run -----------------------------------------------------------------------------------------


def warm(server: Server, urls: list[dict[str, Any]], *, clients: int, script: Path, database: str) -> None:
    """Two untimed seconds of load on each page, so every worker has loaded its code and connection."""
    for entry in urls:
        for path in [entry["path"], *([peer_path(entry["path"])] if entry["peer"] else [])]:
            load(server, path, clients=clients, seconds=2, script=script, database=database)


def run_paths(
    server: Server, urls: list[dict[str, Any]], *, rounds: int, seconds: int, clients: int, script: Path, database: str
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    jobs = []
    for entry in urls:
        jobs.append((entry["name"], "lifeboat", entry["path"]))
        if entry["peer"]:
            jobs.append((entry["name"], "peer", peer_path(entry["path"])))
        jobs.append((entry["name"], "floor", f"/bench/floor/{entry['bytes']}/"))
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for round_index in range(rounds):
        shift = round_index % len(jobs)
        for name, kind, path in jobs[shift:] + jobs[:shift]:
            result = load(server, path, clients=clients, seconds=seconds, script=script, database=database)
            samples.setdefault((name, kind), []).append(result)
            print(
                f"  round {round_index + 1} {kind:8} {name:28} p50 {result['p50_ms']:7.1f} ms"
                f"  p95 {result['p95_ms']:7.1f} ms  {result['rps']:7.1f} req/s  errors {result['errors']}"
                f"  timeouts {result['timeouts']}",
                flush=True,
            )
    return samples


def median_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


HEADER = (
    "| URL | path | p50 ms | p95 ms | req/s | Lifeboat req/s ÷ path's | server CPU ms/req | PostgreSQL CPU ms/req "
    "| server CPU s | PostgreSQL CPU s | wrk CPU s | other CPU s | timeouts |"
)
LABELS = {
    "lifeboat": "**Lifeboat**",
    "peer": "peer: Paginator + icontains",
    "floor": "floor: constant page, same size",
}


def table(urls: list[dict[str, Any]], rows: dict[tuple[str, str], dict[str, Any]], sql: dict[str, float]) -> str:
    lines = [HEADER, "| --- | --- |" + " ---: |" * 11]
    for entry in urls:
        name = entry["name"]
        lifeboat = rows[(name, "lifeboat")]
        for kind in ("lifeboat", "peer", "floor"):
            row = rows.get((name, kind))
            if row is None:
                continue
            per_request = 1000 / max(row["requests"], 1)
            lines.append(
                f"| {name} | {LABELS[kind]} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {row['rps']:.0f} | "
                f"{lifeboat['rps'] / row['rps']:.2f} | {row['server_cpu'] * per_request:.1f} | "
                f"{row['postgres_cpu'] * per_request:.1f} | {row['server_cpu']:.1f} | {row['postgres_cpu']:.1f} | "
                f"{row['generator_cpu']:.1f} | {row['other_cpu']:.1f} | {row['timeouts']:.0f} |"
            )
        queries = entry.get("queries", "?")
        lines.append(f"| {name} | bare SQL: Lifeboat's {queries} queries, one client | {sql[name]:.1f} |" + " |" * 10)
    return "\n".join(lines)


def main() -> int:
    args = ARGS
    assert args is not None
    info = machine()
    print(describe(info), flush=True)
    proposal, build_seconds = ensure_database(args.database, args.accounts, rebuild=args.rebuild)
    ordered = losers_in_order(args.accounts)
    urls = url_mix(proposal, ordered)
    workers = [int(w) for w in args.workers.split(",")]
    out: dict[str, Any] = {"machine": info, "accounts": args.accounts, "clients": args.clients, "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="web_load_") as tmp:
        script = Path(tmp) / "report.lua"
        script.write_text(LUA)
        log = Path(tmp) / "gunicorn.log"
        chosen, probes = workers[0], {}
        if len(workers) > 1:
            for count in workers:
                with Server(count, log) as server:
                    warm(server, urls, clients=args.clients, script=script, database=args.database)
                    rates = [
                        load(
                            server,
                            e["path"],
                            clients=args.clients,
                            seconds=args.probe_seconds,
                            script=script,
                            database=args.database,
                        )["rps"]
                        for e in urls
                    ]
                probes[count] = statistics.geometric_mean([max(rate, 0.01) for rate in rates])  # 0: none finished
                print(f"workers {count}: geometric mean {probes[count]:.1f} req/s over the Lifeboat URLs", flush=True)
            chosen = max(probes, key=probes.get)
        with Server(chosen, log) as server:
            checks = check(server, urls)
            for name, ok in checks.items():
                print(f"check {'ok ' if ok else 'FAILED'} {name}", flush=True)
            if not all(checks.values()):
                out["checks"] = checks
                if args.json:
                    Path(args.json).write_text(json.dumps(out, indent=2))
                return 1
            sql = bare_sql(urls, args.sql_repeats)
            warm(server, urls, clients=args.clients, script=script, database=args.database)
            samples = run_paths(
                server,
                urls,
                rounds=args.rounds,
                seconds=args.seconds,
                clients=args.clients,
                script=script,
                database=args.database,
            )
    if args.drop:
        connection.close()
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    rows = {key: median_of(results) for key, results in samples.items()}
    print()
    print(
        f"{args.accounts:,} accounts, {args.clients} clients, {args.seconds} s per URL and path, {args.rounds} rounds "
        f"(medians), gunicorn {chosen} sync workers{f' (tried {probes})' if probes else ''}, "
        f"data built in {build_seconds:.0f} s"
    )
    print(table(urls, rows, sql))
    errors = sum(r["errors"] for results in samples.values() for r in results)
    out.update(
        workers=chosen,
        worker_probes=probes,
        build_seconds=build_seconds,
        checks=checks,
        sql_ms=sql,
        urls=[{k: v for k, v in e.items() if k != "rows"} for e in urls],
        rows=[{"url": name, "path": kind, **row} for (name, kind), row in rows.items()],
        errors=errors,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
