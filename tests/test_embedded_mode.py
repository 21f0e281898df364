"""The embedded default for real: a Celery worker process on kombu's filesystem broker and a
SQLite file, with no server but the chain, runs a task end to end."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from chain import devkeys
from chain.anvil import Anvil
from chain.demo import DemoDeployment

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

SCRIPT = """
import json, sys
from chain.demo import DemoDeployment
from recovery.services import record_deployment
from recovery.tasks import check_deployment
row = record_deployment(deployment=DemoDeployment.from_json(json.loads(sys.stdin.read())))
print(json.dumps({"row": row.pk, "result": check_deployment.delay().get(timeout=60)}))
"""


def test_a_worker_on_the_filesystem_broker_runs_a_task_against_sqlite(
    tmp_path: Path, anvil: Anvil, demo_stack: DemoDeployment
):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CHAIN_ID")}
    env |= {
        "LIFEBOAT_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lifeboat.sqlite3'}",
        "CHAIN_RPC_URL": anvil.url,
        "DEBUG": "1",
        "EXECUTOR_PRIVATE_KEY": devkeys.EXECUTOR_KEY,
        "RELAYER_PRIVATE_KEY": devkeys.RELAYER_KEY,
        "COMMITTEE_PRIVATE_KEY": devkeys.COMMITTEE_KEY,
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "config", "worker", "--pool=solo", "--loglevel=INFO"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        client = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SCRIPT],
            cwd=ROOT,
            env=env,
            input=json.dumps(demo_stack.as_json()),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        log, _ = worker.communicate(timeout=60)
    assert client.returncode == 0, client.stderr + log
    reply = json.loads(client.stdout.strip().splitlines()[-1])
    assert reply["result"]["deployment"] == reply["row"]
    assert reply["result"]["healthy"] is True
    assert "filesystem://" in log
    assert (tmp_path / "celery" / "broker").is_dir()
    assert not (ROOT / "control").exists(), "the filesystem transport wrote its control folder into the project root"
