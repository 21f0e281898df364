"""`make demo` keeps working: the scenario runs end to end and reports what it promises."""

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run_demo(tmp_path: Path, *args: str, timeout: int, drop: tuple[str, ...] = ()) -> str:
    """``manage.py demo ARGS`` on its own SQLite file and var folder; its report (stdout), having exited 0."""
    env = {k: v for k, v in os.environ.items() if k not in ("CHAIN_RPC_URL", "CHAIN_ID", *drop)}
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}", "LIFEBOAT_VAR_DIR": str(tmp_path)}
    # Its own broker: the suite's worker on the test broker must never take the demo's tasks.
    env["CELERY_BROKER_URL"] = "filesystem://"
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--holders", "16", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_demo_runs_from_the_exploit_to_the_verified_payment_and_exits_zero(tmp_path: Path):
    report = _run_demo(tmp_path, timeout=300)
    assert "draining 12 holders" in report
    # Before the exploit: the monitor watches, the state is archived and its root committed on chain.
    assert "watched deployment 'demo': " in report and "vault-drain" in report
    assert "state snapshot 1 at block " in report and ", root 0x" in report
    assert "root committed to the SnapshotRegistry 0x" in report
    # Detection and first response: the drain rule fires, the guardian pauses the vault, an incident opens.
    assert "opened firings [" in report
    assert "(vault-drain, critical)" in report
    assert "guardian pause of the vault: done, tx 0x" in report
    assert "the vault paused 1 block(s) after the exploit" in report
    assert "the monitor opened incident 1: vault-drain" in report
    assert "committee-1 unpaused the RecoveryExecutor through Lifeboat: tx 0x" in report
    assert "(recorded unpause by committee-1)" in report
    assert "the vault stays paused (deposit and redeem refused; transfers go on): paused() = True" in report
    # The analysis starts from the archived balances; 17 accounts: the 16 holders and the RecoveryExecutor's reserve.
    assert "follows the monitor's incident 1" in report
    assert "replayed from the state snapshot at block " in report
    assert "17 accounts seen, 12 affected, 12 lost" in report
    assert "allocation root (each holder's proof): 0x" in report
    assert "commitment root (RecoveryExecutor):    0x" in report
    assert "verifies" in report and "DOES NOT VERIFY" not in report
    # The governor's side: rehearsal, sign-off, publication, votes of both kinds, outcome.
    assert "PASSED on a fork at block" in report
    assert "signed by committee-1" in report and "signed by committee-2" in report
    assert "publishing again answers the same publication (True)" in report
    assert "voted gaslessly" in report
    assert "equal to the governor's proposalVotes: True" in report
    assert "(state executed)" in report
    assert "PlanApproved: plan " in report and " is Approved with root 0x" in report
    # Paid by a real Celery worker process, then verified on chain account by account.
    assert "a Celery worker pays the approved batches" in report
    assert "run completed:" in report and "12 accounts" in report
    assert "12/12 accounts paid in full" in report and "owed 0, unexpected recipients 0" in report
    assert "verdict: complete" in report
    # Last, the escape hatch: its file and SHA-256.
    hatch = next(line.split()[0] for line in report.splitlines() if "lifeboat-escape-hatch-31337-" in line)
    assert Path(hatch).is_file() and Path(hatch).parent == tmp_path / "escape-hatch"
    assert f"sha256 {hashlib.sha256(Path(hatch).read_bytes()).hexdigest()}" in report


def test_the_snapshot_demo_publishes_votes_closes_and_approves_the_plan_once_then_pays(tmp_path: Path):
    report = _run_demo(tmp_path, "--venue", "snapshot", timeout=400, drop=("CONFIRMATION_DEPTH",))
    # Steps 1-8 as on the governor: the Snapshot path needs the same rehearsal and sign-off.
    assert "PASSED on a fork at block" in report
    assert "signed by committee-1" in report and "signed by committee-2" in report
    # Published once on the local hub, with the document's content-hash as the body's last word.
    assert "published: Snapshot proposal 0x" in report
    assert "the body's last word: content-hash: 0x" in report
    assert "publishing again answers the same row (True), nothing posted twice" in report
    # Votes of both kinds, counted exactly and equal to the hub's scores; the changed vote counts once.
    assert "submitted it through Lifeboat (one against)" in report
    assert "posted their signed Vote to the hub (one abstains)" in report
    assert "equal to the hub's scores to its float precision: True" in report
    # Closed, passed, approved on chain exactly once.
    assert "outcome passed" in report
    assert report.count("PlanApproved: plan ") == 1
    assert "approving again answers the same approval (True, confirmed); nothing sent: True" in report
    assert " is Approved with root 0x" in report
    assert "stopped" in report
    # Detection and the pause happen before the vote, whichever the venue.
    assert "the vault paused 1 block(s) after the exploit" in report
    assert "replayed from the state snapshot at block " in report
    # Then paid by a real worker and verified.
    assert "run completed:" in report and "12/12 accounts paid in full" in report
    assert "verdict: complete" in report


def test_the_oracle_demo_restores_the_unfairly_liquidated_positions_once_and_reports_each_one(tmp_path: Path):
    report = _run_demo(tmp_path, "--scenario", "oracle", timeout=400)
    # The exploit scenario's steps do not run.
    assert "draining" not in report and "vault's redeem()" not in report
    # Seeded margin accounts; the monitor's oracle rules pause the margin market too.
    assert "16 holders seeded, 16 of them with margin accounts" in report
    assert "oracle-deviation (critical): pauses " in report
    # The wrong price: 6 of the 16 seeded kinds (bold borrows, leveraged longs) fall below the line.
    assert "setAnswer(80000000) by the feed's owner in block " in report
    assert "6 accounts now liquidatable" in report
    assert report.count(" liquidated in block ") == 5
    assert "1 liquidatable account(s) not reached yet" in report
    # Detection and first response: the market is paused, the last liquidation refused, an incident opens.
    assert "opened firings [" in report
    assert "guardian pause of the margin market: done, tx 0x" in report
    assert "paused() = True" in report
    assert "refused with EnforcedPause" in report
    assert "the monitor opened incident 1: " in report
    # Each account before (rollback block) and after; the liquidated ones were healthy at the true price.
    assert report.count("     before: ") == 16 and report.count("     after:  ") == 16
    assert report.count("  liquidated; health at the reference price 1.00000000: ") == 5
    assert "5 of 16 accounts liquidated at the wrong price, every one healthy at the reference price" in report
    # The impact of the margin market: the five liquidations, each unfair (the monitor flagged the price).
    assert "== 7. recovery of incident 1: 5 liquidated positions" in report
    assert "margin: 5 of " in report and "5 of them unfair (at a price the monitor flagged), 0 fair" in report
    assert report.count("     unfair: ") == 5
    # The restore plan, after the RecoveryExecutor's recorded unpause; the old market stays paused.
    assert "committee-1 unpaused the RecoveryExecutor through Lifeboat: tx 0x" in report
    assert "the old margin market stays paused (liquidations refused): paused() = True" in report
    assert "plan 1 v1 (restore_positions, full): 5 positions in 3 batches" in report
    assert "every row is its account's position at block " in report
    # The same rehearsal, sign-off and vote as the exploit scenario's.
    assert "PASSED on a fork at block" in report and "5 of 5 restored position(s) exact" in report
    assert "signed by committee-1" in report and "signed by committee-2" in report
    assert "equal to the governor's proposalVotes: True" in report and "(state executed)" in report
    assert " is Approved with root 0x" in report
    # Executed by a real Celery worker, exactly once; verified.
    assert "run completed: 5 positions restored" in report
    assert "BatchExecuted once for each of the 3 batches (True)" in report
    assert "AccountUpdated(restored) once for each of the 5 accounts (True)" in report
    assert "starting it again is refused: execution run 1 of plan 1 is completed" in report
    assert report.count("restored == before: yes") == 5 and "restored == before: NO" not in report
    assert "5 of 5 liquidated positions restored exactly as they were at block " in report
    assert "verdict: complete" in report

    # The positions report: each liquidated account restored as it was at the rollback block, once.
    written = json.loads((tmp_path / "demo-positions.json").read_text())
    assert written["run"]["status"] == "completed" and written["run"]["runs_for_plan"] == 1
    assert written["batch_executed"] == {"0": 1, "1": 1, "2": 1}
    liquidated = [entry for entry in written["accounts"] if entry["liquidated"]]
    assert len(written["accounts"]) == 16 and len(liquidated) == 5
    fields = ("collateral", "debt", "size", "entry_price", "margin")
    for entry in liquidated:
        assert entry["restored_equals_before"] is True, entry
        assert [entry["restored"][f] for f in fields] == [entry["before"][f] for f in fields], entry
        assert entry["funding_owed_restored"] == entry["funding_owed_before"], entry
        assert entry["after"] == dict.fromkeys((*fields, "entry_funding"), "0")  # liquidated: emptied on the old market
        assert entry["restored_events"] == 1
    for entry in written["accounts"]:
        if not entry["liquidated"]:  # not in the plan: unchanged on the old market, nothing on the migrated one
            assert entry["after"] == entry["before"] and set(entry["restored"].values()) == {"0"}, entry
    assert "| restored == before |" in (tmp_path / "demo-positions.md").read_text()
    # Exactly once in the database too: one execution run, completed, every batch confirmed once.
    with sqlite3.connect(tmp_path / "demo.sqlite3") as db:
        assert db.execute("SELECT status FROM recovery_executionrun").fetchall() == [("completed",)]
        sends = db.execute("SELECT batch_id, state FROM recovery_batchsend ORDER BY batch_id").fetchall()
    assert len(sends) == 3 and len({batch for batch, _ in sends}) == 3 and {s for _, s in sends} == {"confirmed"}
