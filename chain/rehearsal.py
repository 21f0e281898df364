"""The rehearsal on a fork: run a proposal's calls and every batch it approves, then check each balance.

Plain Python over JSON-RPC, no Django: ``proposals/rehearsals.py`` loads the data (the calls as
``proposals.calls.ProposalCall``s, which are ``ScriptCall``s) and stores the report. The steps,
on an anvil forked from the node at a confirmed block:

1. **Calls.** The governance executor (the timelock, or the governor itself) is impersonated
   and sends every call of the proposal in order, as ``execute`` would: parameter changes,
   then ``approvePlan`` per asset. A governor runs them atomically, so one reverting call means
   nothing is approved: the batches are then not run (the report says so).
2. **Batches.** The account holding ``EXECUTOR_ROLE`` on the ``RecoveryExecutor`` (the executor
   key's address) is impersonated and sends every batch with its commitment proof through
   ``executeBatch``. A batch that reverts is recorded and the next one still runs, so one report
   names every broken batch. A pull plan has no batches: every holder's ``claim`` runs instead
   (a sample, evenly spread, when the service chose one: the report says so).
3. **Balances.** Every recipient's payout-token balance is read at the fork block and after the
   last step (batched ``eth_call``s, ``chain.balances.read_balances``) and must have risen by
   exactly its allocation. With the claimable fallback, a recipient the token refused is
   ``Credited`` instead: its credit counts as paid, and the report lists it as a finding.
   A balance that rose by less than was sent (a fee-on-transfer or rebasing token) fails the
   rehearsal with the token named: such a token cannot be paid exactly, so nothing paying it
   may be signed off or published.

Every transaction is sent with a gas price of zero on a fork whose base fee is zero, so no
impersonated account needs ETH for gas and none has its balance changed: a call carrying
``value`` pays it from what the executor really holds. A transaction's revert reason is read
by replaying it with ``eth_call`` at the block before it (automining puts one transaction in
each block), so a step costs one execution unless it fails.

Numbers in the report stay JSON-exact (see ``proposals/document.py``): amounts, plan ids and
event arguments are decimal strings; gas and counts are plain integers.
"""

import functools
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import collapse_if_tuple, event_abi_to_log_topic, keccak, to_checksum_address

from chain.anvil import Anvil
from chain.artifacts import artifact_names, load_artifact
from chain.balances import read_balances
from chain.errors import NotAnErc20, RpcError
from chain.logs import RawRpc
from chain.margin import MarginAccount, RestoreRow, encode_restore, signed_word
from chain.transact import decode_revert

Progress = Callable[[str], None]

EXECUTOR_ROLE = "0x" + keccak(text="EXECUTOR_ROLE").hex()
_HAS_ROLE = keccak(text="hasRole(bytes32,address)")[:4]
_EXECUTE_BATCH = keccak(text="executeBatch(uint256,uint256,address[],uint256[],bytes32[])")[:4]
_CLAIM = keccak(text="claim(uint256,uint256,address,uint256,bytes32[])")[:4]
_EXECUTE_POSITION_BATCH = keccak(text="executePositionBatch(uint256,uint256,bytes,bytes32[])")[:4]
_RESTORER_ROLE = keccak(text="RESTORER_ROLE()")[:4]
_ACCOUNT_OF = keccak(text="accountOf(address)")[:4]
_FUNDING_INDEX = keccak(text="fundingIndex()")[:4]
_BALANCE_OF = keccak(text="balanceOf(address)")[:4]
_RESERVED = keccak(text="reserved(address)")[:4]
# What a restored account is compared on: accountOf's fields, then the funding it owes.
POSITION_FIELDS = ("collateral", "debt", "size", "entry_price", "margin", "funding_debt")
# How many balance mismatches the report lists (all are counted).
MISMATCHES_SHOWN = 20
# balanceOf calls a JSON-RPC batch: a fork fetches the slots a batch needs from the node
# concurrently, so large batches halve a cold read of 10,000 balances.
BALANCE_BATCH = 1_000
# anvil automines a transaction just after answering eth_sendTransaction: poll for its receipt.
RECEIPT_POLLS = 2_000


class ScriptCall(Protocol):
    """One call of the proposal as the rehearsal runs it and names it in the report."""

    @property
    def target(self) -> str: ...

    @property
    def value(self) -> int: ...  # wei

    @property
    def calldata(self) -> str: ...  # 0x-hex

    @property
    def signature(self) -> str: ...

    @property
    def summary(self) -> str: ...

    @property
    def plan_asset(self) -> str | None: ...  # the asset an approvePlan call approves


@dataclass(frozen=True, slots=True)
class ForkPoint:
    """Where the fork starts: a block at least the confirmation depth below the node's head."""

    chain_id: int
    block: int
    block_hash: str


@dataclass(frozen=True, slots=True)
class BatchToRun:
    asset: str
    payout_token: str
    onchain_plan_id: int
    index: int
    recipients: tuple[str, ...]
    amounts: tuple[int, ...]
    proof: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PositionBatchToRun:
    """One batch of a restore-positions plan: its committed rows, re-created on ``venue``."""

    asset: str  # the analysed (old) market
    payout_token: str  # the markets' asset: what the venue pulls from the executor
    onchain_plan_id: int
    index: int
    venue: str  # the migrated market
    rows: tuple[RestoreRow, ...]
    proof: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(row.asset_needed for row in self.rows)


@dataclass(frozen=True, slots=True)
class ClaimToRun:
    """One holder's claim of a pull plan: the allocation leaf [index, account, amount] and its proof."""

    asset: str
    payout_token: str
    onchain_plan_id: int
    index: int
    account: str
    amount: int
    proof: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RehearsalScript:
    """Everything a rehearsal runs and checks (built by the service from a frozen document)."""

    calls: Sequence[ScriptCall]
    governance_executor: str  # the timelock, or the governor when it has none
    recovery_executor: str
    batch_executor: str  # the account that will send the batches (EXECUTOR_ROLE)
    batches: Sequence[BatchToRun]
    payouts: Mapping[str, Mapping[str, int]]  # payout token -> account (lowercase) -> amount it must gain
    problems: Sequence[str] = ()  # found while building the script (stored batches off the commitment...)
    claims: Sequence[ClaimToRun] = ()  # pull plans: the claims to run (all, or a sample)
    claims_total: int = 0  # pull plans: how many allocations there are (more than ``claims`` when sampled)
    position_batches: Sequence[PositionBatchToRun] = ()  # restore-positions plans: run after ``batches``
    restores_positions: bool = False  # a restore-positions plan (its report checks positions, even with no batch)


def fork_point(rpc: RawRpc, *, confirmation_depth: int) -> ForkPoint:
    """The block to fork at: the head less ``confirmation_depth`` (never below 0), with its hash."""
    chain_id = int(rpc.call("eth_chainId", []), 16)
    head = int(rpc.call("eth_blockNumber", []), 16)
    block = max(0, head - max(0, confirmation_depth))
    header = rpc.call("eth_getBlockByNumber", [hex(block), False])
    if not isinstance(header, dict) or not header.get("hash"):
        raise RpcError(f"the node has no block {block} (head {head})")
    return ForkPoint(chain_id=chain_id, block=block, block_hash=header["hash"])


@contextmanager
def forked(rpc_url: str, point: ForkPoint, *, progress: Progress | None = None) -> Iterator[RawRpc]:
    """An anvil forked from ``rpc_url`` at ``point``, stopped by its PID on the way out, whatever happens.

    anvil's output goes nowhere (it would print the fork URL). The fork's block at ``point`` must
    carry the same hash as the node's: anything else is not a fork of that chain.

    ``--no-storage-caching``: anvil otherwise keeps what a fork read on disk
    (``~/.foundry/cache/rpc/<chain>/<block>``) keyed by chain and block NUMBER, and a later fork
    of a restarted dev chain (chain 31337 again, another state at the same number) would read
    that stale state.
    """
    say = progress or (lambda _line: None)
    fork = Anvil(
        chain_id=point.chain_id,
        extra_args=[
            *("--fork-url", rpc_url, "--fork-block-number", str(point.block)),
            *("--base-fee", "0", "--no-storage-caching"),
        ],
    )
    fork.start()
    try:
        assert fork.process is not None
        say(f"fork started at block {point.block} of chain {point.chain_id} (anvil pid {fork.process.pid})")
        with RawRpc(fork.url, retries=1) as rpc:
            header = rpc.call("eth_getBlockByNumber", [hex(point.block), False])
            if not isinstance(header, dict) or header.get("hash") != point.block_hash:
                raise RpcError(f"the fork's block {point.block} does not carry the node's hash {point.block_hash}")
            yield rpc
    finally:
        fork.stop()
        say("fork stopped")


def rehearse_on_fork(
    rpc: RawRpc, script: RehearsalScript, *, point: ForkPoint, progress: Progress | None = None
) -> dict:
    """Run ``script`` on the fork behind ``rpc``; the report (see the module docstring)."""
    say = progress or (lambda _line: None)
    failures: list[str] = list(script.problems)
    before = _read_payout_balances(rpc, script.payouts, block=point.block, failures=failures)

    # Every transaction may use a whole block: a batch too large for one fails here as it would on chain.
    gas = int(rpc.call("eth_getBlockByNumber", ["latest", False])["gasLimit"], 16)
    calls = _run_calls(rpc, script, gas=gas, say=say)
    failed_calls = [step for step in calls if step["status"] == "reverted"]
    failures += [
        f"call {step['index'] + 1} ({step['summary']}) reverted: {step['revert']['shown']}" for step in failed_calls
    ]

    role = _check_executor_role(rpc, script)
    if not role["holds"]:
        failures.append(role["message"])
    say(f"executor role: {role['message']}")

    restoring: dict[str, Any] = {
        "status": "skipped",
        "note": "not run: " + ("a call of the proposal reverted" if failed_calls else "no position batch to run"),
    }
    if script.position_batches and not failed_calls:
        # After the calls: a parameter change of the proposal may grant the role or fund the executor.
        restoring = _check_restore(rpc, script)
        failures += [check["message"] for check in restoring["venues"] if not check["holds"]]
        failures += [check["message"] for check in restoring["funds"] if not check["enough"]]
        for check in (*restoring["venues"], *restoring["funds"]):
            say(f"restore: {check['message']}")

    if failed_calls or not role["holds"] or script.problems:
        reason = (
            "not run: a call of the proposal reverted, so its execution would revert and approve nothing"
            if failed_calls
            else "not run: " + (role["message"] if not role["holds"] else "; ".join(script.problems))
        )
        batches = [_batch_entry(batch, status="skipped", note=reason) for batch in script.batches]
        batches += [_position_batch_entry(batch, status="skipped", note=reason) for batch in script.position_batches]
        claims = [_claim_entry(claim, status="skipped", note=reason) for claim in script.claims]
        balances: dict[str, Any] = {"status": "skipped", "note": reason}
        positions: dict[str, Any] = {"status": "skipped", "note": reason}
        credited: list[dict[str, str]] = []
        say(f"batches {reason}")
    else:
        batches = _run_batches(rpc, script, gas=gas, say=say)
        batches += _run_position_batches(rpc, script, gas=gas, say=say)
        failures += [
            f"batch {step['index']} of {step['asset']} reverted: {step['revert']['shown']}"
            for step in batches
            if step["status"] == "reverted"
        ]
        claims = _run_claims(rpc, script, gas=gas, say=say)
        failures += [
            f"claim {step['index']} of {step['asset']} ({step['account']}) reverted: {step['revert']['shown']}"
            for step in claims
            if step["status"] == "reverted"
        ]
        credited = _credited(batches)
        head = int(rpc.call("eth_blockNumber", []), 16)
        after = _read_payout_balances(rpc, script.payouts, block=head, failures=failures)
        balances = _check_balances(script.payouts, before, after, credited=credited)
        failures += [_short_paid_failure(entry) for entry in balances["short_paid_tokens"]]
        if balances["mismatched"]:
            failures.append(
                f"{balances['mismatched']} of {balances['checked']} recipients' balances did not rise by "
                "exactly their allocation"
            )
        say(f"balances: {balances['checked']} checked, {balances['mismatched']} mismatched")
        positions = _check_positions(rpc, script.position_batches, block=head)
        if positions["mismatched"]:
            failures.append(
                f"{positions['mismatched']} of {positions['checked']} restored accounts on the venue do not equal "
                "their committed rows"
            )
        if script.position_batches:
            say(f"positions: {positions['checked']} checked, {positions['mismatched']} mismatched")

    total_gas = sum(step.get("gas_used") or 0 for step in (*calls, *batches, *claims))
    findings = [
        f"{entry['account']} was credited {entry['amount']} of {entry['token']} instead of paid (plan "
        f"{entry['plan_id']}): the token refused the transfer; the account claims it with claimCredit"
        for entry in credited
    ]
    report = {
        "passed": not failures,
        "failures": failures,
        "chain_id": str(point.chain_id),
        "fork": {"block": point.block, "hash": point.block_hash},
        "governance_executor": to_checksum_address(script.governance_executor),
        "recovery_executor": to_checksum_address(script.recovery_executor),
        "batch_executor": to_checksum_address(script.batch_executor),
        "executor_role": role,
        "calls": calls,
        "batches": batches,
        "claims": claims,
        "claims_run": {
            "run": len(script.claims),
            "total": script.claims_total,
            "sampled": len(script.claims) < script.claims_total,
        },
        "credited": credited,
        "findings": findings,
        "balances": balances,
        "total_gas": total_gas,
    }
    if script.restores_positions or script.position_batches:
        # Only a restore-positions report has these: a payment plan's report keeps its exact content.
        report["restore"] = restoring
        report["positions"] = positions
    return report


def summary_line(report: Mapping[str, Any]) -> str:
    """One sentence for people: what ran and, when it failed, the first reason."""
    calls, batches = report.get("calls", []), report.get("batches", [])
    claims, claims_run = report.get("claims", []), report.get("claims_run") or {}
    balances = report.get("balances") or {}
    claimed = ""
    if claims_run.get("total"):
        sample = f" (a sample of {claims_run['total']})" if claims_run.get("sampled") else ""
        claimed = f"{sum(1 for c in claims if c['status'] == 'ok')} of {len(claims)} claim(s){sample} paid, "
    credited = f"{len(report['credited'])} recipient(s) credited, " if report.get("credited") else ""
    positions = report.get("positions")
    checked = (
        f"{positions.get('matched', 0)} of {positions.get('checked', 0)} restored position(s) exact, "
        if positions is not None
        else f"{balances.get('matched', 0)} of {balances.get('checked', 0)} balance(s) exact, "
    )
    ran = (
        f"{len(calls)} call(s), {sum(1 for b in batches if b['status'] == 'ok')} of {len(batches)} batch(es) "
        f"{'run' if positions is not None else 'paid'}, "
        f"{claimed}{credited}{checked}"
        f"{report.get('total_gas', 0):,} gas, on a fork of chain {report.get('chain_id')} "
        f"at block {report.get('fork', {}).get('block')}"
    )
    failures = report.get("failures") or []
    if not failures:
        return ran + "."
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return f"{ran}. First failure: {failures[0]}{more}."


# --- steps ---


def _run_calls(rpc: RawRpc, script: RehearsalScript, *, gas: int, say: Progress) -> list[dict]:
    sender = to_checksum_address(script.governance_executor)
    rpc.call("anvil_impersonateAccount", [sender])
    steps = []
    failed = False
    for index, call in enumerate(script.calls):
        entry: dict[str, Any] = {
            "index": index,
            "target": call.target,
            "value": str(call.value),
            "signature": call.signature,
            "summary": call.summary,
            "plan_asset": call.plan_asset,
        }
        if failed:
            entry.update(status="skipped", gas_used=None, revert=None, events=[], other_events={})
        else:
            entry.update(_transact(rpc, sender=sender, to=call.target, data=call.calldata, value=call.value, gas=gas))
            failed = entry["status"] == "reverted"
        steps.append(entry)
        say(f"call {index + 1}/{len(script.calls)} {call.signature}: {_outcome(entry)}")
    rpc.call("anvil_stopImpersonatingAccount", [sender])
    return steps


def _check_executor_role(rpc: RawRpc, script: RehearsalScript) -> dict[str, Any]:
    account = to_checksum_address(script.batch_executor)
    target = to_checksum_address(script.recovery_executor)
    data = "0x" + (_HAS_ROLE + abi_encode(["bytes32", "address"], [bytes.fromhex(EXECUTOR_ROLE[2:]), account])).hex()
    reply = rpc.batch([("eth_call", [{"to": target, "data": data}, "latest"])])[0]
    answer = reply.get("result")
    holds = isinstance(answer, str) and len(answer) == 66 and int(answer, 16) == 1
    if holds:
        message = f"{account} holds EXECUTOR_ROLE on the RecoveryExecutor {target}"
    elif not isinstance(answer, str) or len(answer) != 66:
        message = (
            f"{target} does not answer hasRole: it is not a RecoveryExecutor (check the venue's recovery_executor)"
        )
    else:
        message = (
            f"{account} (the executor key's address) does not hold EXECUTOR_ROLE on the RecoveryExecutor {target}: "
            f"an admin grants it with grantRole({EXECUTOR_ROLE}, {account}), or configure EXECUTOR_PRIVATE_KEY "
            "with the key that holds it"
        )
    return {"account": account, "role": EXECUTOR_ROLE, "holds": holds, "message": message}


def _run_batches(rpc: RawRpc, script: RehearsalScript, *, gas: int, say: Progress) -> list[dict]:
    sender = to_checksum_address(script.batch_executor)
    target = to_checksum_address(script.recovery_executor)
    rpc.call("anvil_impersonateAccount", [sender])
    steps = []
    for position, batch in enumerate(script.batches):
        data = execute_batch_calldata(batch)
        entry = _batch_entry(batch, status="", note="")
        entry.update(_transact(rpc, sender=sender, to=target, data=data, value=0, gas=gas))
        steps.append(entry)
        say(
            f"batch {position + 1}/{len(script.batches)} (index {batch.index}, {len(batch.recipients)} recipients): "
            f"{_outcome(entry)}"
        )
    rpc.call("anvil_stopImpersonatingAccount", [sender])
    return steps


def _run_claims(rpc: RawRpc, script: RehearsalScript, *, gas: int, say: Progress) -> list[dict]:
    """Every claim of the script, sent by the batch executor for the holder (anyone may; tokens go to the holder)."""
    if not script.claims:
        return []
    sender = to_checksum_address(script.batch_executor)
    target = to_checksum_address(script.recovery_executor)
    rpc.call("anvil_impersonateAccount", [sender])
    steps = []
    for position, claim in enumerate(script.claims):
        entry = _claim_entry(claim, status="", note="")
        entry.update(_transact(rpc, sender=sender, to=target, data=claim_calldata(claim), value=0, gas=gas))
        steps.append(entry)
        if entry["status"] != "ok" or position % 100 == 0 or position == len(script.claims) - 1:
            say(f"claim {position + 1}/{len(script.claims)} (index {claim.index}): {_outcome(entry)}")
    rpc.call("anvil_stopImpersonatingAccount", [sender])
    return steps


def _claim_entry(claim: ClaimToRun, *, status: str, note: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "asset": claim.asset,
        "payout_token": claim.payout_token,
        "plan_id": str(claim.onchain_plan_id),
        "index": claim.index,
        "account": to_checksum_address(claim.account),
        "amount": str(claim.amount),
    }
    if status:
        entry.update(status=status, note=note, gas_used=None, revert=None, events=[], other_events={})
    return entry


def claim_calldata(claim: ClaimToRun) -> str:
    encoded = abi_encode(
        ["uint256", "uint256", "address", "uint256", "bytes32[]"],
        [
            claim.onchain_plan_id,
            claim.index,
            to_checksum_address(claim.account),
            claim.amount,
            [bytes.fromhex(node[2:]) for node in claim.proof],
        ],
    )
    return "0x" + (_CLAIM + encoded).hex()


def _credited(batches: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The ``Credited`` events of the batches run: recipients the token refused, credited instead."""
    found = []
    for step in batches:
        for event in step.get("events") or []:
            if event.get("event") == "Credited":
                args = event["args"]
                found.append(
                    {
                        "plan_id": str(args["planId"]),
                        "account": to_checksum_address(args["account"]),
                        "token": to_checksum_address(args["token"]),
                        "amount": str(args["amount"]),
                    }
                )
    return found


def _short_paid_failure(entry: Mapping[str, Any]) -> str:
    return (
        f"the payout token {entry['token']} delivered less than was sent: {entry['account']} received "
        f"{entry['received']} of {entry['expected']} ({entry['count']} recipient(s) short in all). It is a "
        "fee-on-transfer or rebasing token and cannot be paid exactly: a plan paying it cannot be signed off or "
        "published; pay in another token (a migrated one in restore mode)"
    )


def _batch_entry(batch: BatchToRun, *, status: str, note: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "asset": batch.asset,
        "payout_token": batch.payout_token,
        "plan_id": str(batch.onchain_plan_id),
        "index": batch.index,
        "recipients": len(batch.recipients),
        "total": str(sum(batch.amounts)),
    }
    if status:
        entry.update(status=status, note=note, gas_used=None, revert=None, events=[], other_events={})
    return entry


def execute_batch_calldata(batch: BatchToRun) -> str:
    encoded = abi_encode(
        ["uint256", "uint256", "address[]", "uint256[]", "bytes32[]"],
        [
            batch.onchain_plan_id,
            batch.index,
            [to_checksum_address(r) for r in batch.recipients],
            list(batch.amounts),
            [bytes.fromhex(node[2:]) for node in batch.proof],
        ],
    )
    return "0x" + (_EXECUTE_BATCH + encoded).hex()


# --- restore-positions plans ---


def _run_position_batches(rpc: RawRpc, script: RehearsalScript, *, gas: int, say: Progress) -> list[dict]:
    if not script.position_batches:
        return []
    sender = to_checksum_address(script.batch_executor)
    target = to_checksum_address(script.recovery_executor)
    rpc.call("anvil_impersonateAccount", [sender])
    steps = []
    for position, batch in enumerate(script.position_batches):
        entry = _position_batch_entry(batch, status="", note="")
        entry.update(
            _transact(rpc, sender=sender, to=target, data=execute_position_batch_calldata(batch), value=0, gas=gas)
        )
        steps.append(entry)
        say(
            f"position batch {position + 1}/{len(script.position_batches)} (index {batch.index}, {len(batch.rows)} "
            f"account{'' if len(batch.rows) == 1 else 's'} on {entry['venue']}): {_outcome(entry)}"
        )
    rpc.call("anvil_stopImpersonatingAccount", [sender])
    return steps


def _position_batch_entry(batch: PositionBatchToRun, *, status: str, note: str) -> dict[str, Any]:
    """A restore batch in the report's ``batches``: ``recipients`` counts its accounts, ``total`` the asset it needs."""
    entry: dict[str, Any] = {
        "asset": batch.asset,
        "payout_token": batch.payout_token,
        "plan_id": str(batch.onchain_plan_id),
        "index": batch.index,
        "venue": to_checksum_address(batch.venue),
        "recipients": len(batch.rows),
        "total": str(batch.total),
    }
    if status:
        entry.update(status=status, note=note, gas_used=None, revert=None, events=[], other_events={})
    return entry


def execute_position_batch_calldata(batch: PositionBatchToRun) -> str:
    """``executePositionBatch(planId, index, abi.encode(venue, rows), proof)``: what the batch leaf commits to."""
    encoded = abi_encode(
        ["uint256", "uint256", "bytes", "bytes32[]"],
        [
            batch.onchain_plan_id,
            batch.index,
            encode_restore(to_checksum_address(batch.venue), batch.rows),
            [bytes.fromhex(node[2:]) for node in batch.proof],
        ],
    )
    return "0x" + (_EXECUTE_POSITION_BATCH + encoded).hex()


def _check_restore(rpc: RawRpc, script: RehearsalScript) -> dict[str, Any]:
    """Whether each venue grants the RecoveryExecutor its RESTORER_ROLE, and whether the executor holds,
    beyond what it reserves for others, the asset the position batches need (per asset)."""
    executor = to_checksum_address(script.recovery_executor)
    venues = list(dict.fromkeys(to_checksum_address(batch.venue) for batch in script.position_batches))
    needed: dict[str, int] = defaultdict(int)
    for batch in script.position_batches:
        needed[to_checksum_address(batch.payout_token)] += batch.total
    requests = [("eth_call", [{"to": venue, "data": "0x" + _RESTORER_ROLE.hex()}, "latest"]) for venue in venues]
    for token in needed:
        owner = abi_encode(["address"], [executor])
        requests.append(("eth_call", [{"to": token, "data": "0x" + (_BALANCE_OF + owner).hex()}, "latest"]))
        requests.append(("eth_call", [{"to": executor, "data": "0x" + (_RESERVED + owner).hex()}, "latest"]))
    replies = rpc.batch(requests)
    roles = [_word(reply) for reply in replies[: len(venues)]]
    holds_requests = [
        (
            "eth_call",
            [
                {"to": venue, "data": "0x" + (_HAS_ROLE + abi_encode(["bytes32", "address"], [role, executor])).hex()},
                "latest",
            ],
        )
        for venue, role in zip(venues, roles, strict=True)
        if role is not None
    ]
    holds_replies = iter(rpc.batch(holds_requests) if holds_requests else [])
    venue_checks = []
    for venue, role in zip(venues, roles, strict=True):
        if role is None:
            holds = False
            message = f"the venue {venue} answers no RESTORER_ROLE(): it is not a margin market that can take a restore"
        else:
            granted = _word(next(holds_replies))
            holds = granted is not None and int.from_bytes(granted, "big") == 1
            role_hex = "0x" + role.hex()
            message = (
                f"the venue {venue} grants the RecoveryExecutor {executor} its RESTORER_ROLE"
                if holds
                else f"the venue {venue} does not grant the RecoveryExecutor {executor} its RESTORER_ROLE "
                f"({role_hex}): every position batch reverts; the venue's admin calls grantRole({role_hex}, "
                f"{executor}) before execution (or the proposal does, as a parameter change)"
            )
        venue_checks.append({"venue": venue, "holds": holds, "message": message})
    fund_checks = []
    for position, (token, amount) in enumerate(needed.items()):
        balance = _word(replies[len(venues) + 2 * position])
        reserved = _word(replies[len(venues) + 2 * position + 1])
        held = None if balance is None else int.from_bytes(balance, "big")
        free = None if held is None else max(0, held - (0 if reserved is None else int.from_bytes(reserved, "big")))
        enough = free is not None and free >= amount
        batches = sum(1 for batch in script.position_batches if to_checksum_address(batch.payout_token) == token)
        if free is None:
            message = f"the balance of {executor} in {token} cannot be read: the position batches need {amount} of it"
        elif enough:
            message = (
                f"the RecoveryExecutor {executor} holds {free} of {token} beyond what it reserves, at least the "
                f"{amount} the {batches} position batch(es) need"
            )
        else:
            message = (
                f"the RecoveryExecutor {executor} holds {free} of {token} beyond what it reserves, but the {batches} "
                f"position batch(es) need {amount} (collateral plus margin of every restored account): batches revert "
                f"ReservedFunds until it is sent the {amount - free} missing"
            )
        fund_checks.append(
            {
                "token": token,
                "needed": str(amount),
                "free": None if free is None else str(free),
                "enough": enough,
                "message": message,
            }
        )
    return {"status": "checked", "venues": venue_checks, "funds": fund_checks}


def _check_positions(rpc: RawRpc, batches: Sequence[PositionBatchToRun], *, block: int) -> dict[str, Any]:
    """Every restored row against its account's ``accountOf`` on its venue at ``block`` (batched ``eth_call``s).

    The funding debt is compared as the venue's ``fundingIndex`` at ``block`` minus the account's
    entry funding: ``restorePositions`` set the entry funding so that this difference carries over.
    """
    rows = [(to_checksum_address(batch.venue), row) for batch in batches for row in batch.rows]
    venues = list(dict.fromkeys(venue for venue, _row in rows))
    tag = hex(block)
    index_replies = (
        rpc.batch([("eth_call", [{"to": v, "data": "0x" + _FUNDING_INDEX.hex()}, tag]) for v in venues])
        if venues
        else []
    )
    funding = {
        venue: None if word is None else signed_word(int.from_bytes(word, "big"))
        for venue, word in zip(venues, (_word(reply) for reply in index_replies), strict=True)
    }
    found: list[MarginAccount | None] = []
    for start in range(0, len(rows), BALANCE_BATCH):
        chunk = rows[start : start + BALANCE_BATCH]
        replies = rpc.batch(
            [
                (
                    "eth_call",
                    [
                        {"to": venue, "data": "0x" + (_ACCOUNT_OF + abi_encode(["address"], [row.account])).hex()},
                        tag,
                    ],
                )
                for venue, row in chunk
            ]
        )
        for reply in replies:
            result = reply.get("result") if reply.get("error") is None else None
            data = bytes.fromhex(result[2:]) if isinstance(result, str) and result.startswith("0x") else b""
            found.append(MarginAccount.from_words(data) if len(data) >= 192 else None)
    mismatched = 0
    shown: list[dict[str, Any]] = []
    for (venue, row), account in zip(rows, found, strict=True):
        index = funding[venue]
        expected = dict(zip(POSITION_FIELDS, row.as_tuple()[1:], strict=True))
        actual: dict[str, int | None] = (
            dict.fromkeys(POSITION_FIELDS)
            if account is None
            else {
                "collateral": account.collateral,
                "debt": account.debt,
                "size": account.size,
                "entry_price": account.entry_price,
                "margin": account.margin,
                "funding_debt": None if index is None else index - account.entry_funding,
            }
        )
        differences = [
            {
                "field": name,
                "expected": str(expected[name]),
                "found": "unknown" if actual[name] is None else str(actual[name]),
            }
            for name in POSITION_FIELDS
            if actual[name] != expected[name]
        ]
        if not differences:
            continue
        mismatched += 1
        if len(shown) < MISMATCHES_SHOWN:
            shown.append({"venue": venue, "account": to_checksum_address(row.account), "differences": differences})
    return {
        "status": "ok" if not mismatched else "mismatched",
        "block": block,
        "checked": len(rows),
        "matched": len(rows) - mismatched,
        "mismatched": mismatched,
        "mismatches": shown,
    }


def _word(reply: Mapping[str, Any]) -> bytes | None:
    """One 32-byte return word, or None for an error or anything else."""
    result = reply.get("result")
    if reply.get("error") is not None or not isinstance(result, str) or len(result) != 66:
        return None
    return bytes.fromhex(result[2:])


def _transact(rpc: RawRpc, *, sender: str, to: str, data: str, value: int, gas: int) -> dict[str, Any]:
    """Send one transaction from the impersonated ``sender``; its status, gas, revert and events."""
    tx = {"from": sender, "to": to, "data": data, "value": hex(value), "gas": hex(gas), "gasPrice": "0x0"}
    tx_hash = rpc.call("eth_sendTransaction", [tx])
    receipt = wait_for_receipt(rpc, tx_hash)
    result: dict[str, Any] = {
        "tx_hash": tx_hash,
        "block": int(receipt["blockNumber"], 16),
        "gas_used": int(receipt["gasUsed"], 16),
        "revert": None,
    }
    if int(receipt["status"], 16) == 1:
        result["status"] = "ok"
        result["events"], result["other_events"] = _events(receipt["logs"], emitter=to)
        return result
    result["status"] = "reverted"
    result["events"], result["other_events"] = [], {}
    # The state before the transaction is that of the block before its own (one transaction a block).
    call = {key: tx[key] for key in ("from", "to", "data", "value", "gas", "gasPrice")}
    reply = rpc.batch([("eth_call", [call, hex(result["block"] - 1)])])[0]
    error = reply.get("error") or {}
    revert_data = error.get("data") if isinstance(error, dict) else None
    if isinstance(revert_data, dict):  # some nodes nest it
        revert_data = revert_data.get("data")
    if isinstance(revert_data, str) and revert_data.startswith("0x"):
        name, args = decode_revert(revert_data)
    elif error:
        name, args = str(error.get("message", "revert"))[:200], ()
    else:  # the replay did not revert: out of gas, or state the replay cannot see
        name, args = "reverted (the replay at the block before did not: out of gas?)", ()
    shown_args = [_jsonable(arg) for arg in args]
    shown = f"{name}({', '.join(map(str, shown_args))})" if args else name
    result["revert"] = {"error": name, "args": shown_args, "shown": shown}
    return result


def wait_for_receipt(rpc: RawRpc, tx_hash: str) -> dict[str, Any]:
    for _ in range(RECEIPT_POLLS):
        receipt = rpc.call("eth_getTransactionReceipt", [tx_hash])
        if receipt:
            return receipt
        time.sleep(0.005)
    raise RpcError(f"the fork mined no receipt for {tx_hash}")


def _outcome(entry: Mapping[str, Any]) -> str:
    if entry["status"] == "ok":
        return f"ok, gas {entry['gas_used']:,}"
    if entry["status"] == "reverted":
        return f"REVERTED: {entry['revert']['shown']} (gas {entry['gas_used']:,})"
    return "skipped"


# --- balances ---


def _read_payout_balances(
    rpc: RawRpc, payouts: Mapping[str, Mapping[str, int]], *, block: int, failures: list[str]
) -> dict[str, dict[str, int]]:
    balances: dict[str, dict[str, int]] = {}
    for token, expected in payouts.items():
        try:
            balances[token] = read_balances(rpc, token, list(expected), block, batch_size=BALANCE_BATCH)
        except NotAnErc20 as error:
            failures.append(f"the payout token's balances cannot be read: {error}")
            balances[token] = {}
    return balances


def _check_balances(
    payouts: Mapping[str, Mapping[str, int]],
    before: Mapping[str, Mapping[str, int]],
    after: Mapping[str, Mapping[str, int]],
    *,
    credited: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """Each recipient's rise against its allocation; a credit (the claimable fallback) counts as paid.

    ``short_paid_tokens``: per token, the first recipient whose balance rose, but by less than
    it was sent (a fee-on-transfer or rebasing token), and how many were short.
    """
    credit: dict[tuple[str, str], int] = defaultdict(int)
    for entry in credited:
        credit[(entry["token"].lower(), entry["account"].lower())] += int(entry["amount"])
    checked = mismatched = 0
    shown: list[dict[str, str]] = []
    short: dict[str, dict[str, Any]] = {}
    for token, expected in payouts.items():
        old, new = before.get(token, {}), after.get(token, {})
        for account, amount in expected.items():
            checked += 1
            start, end = old.get(account), new.get(account)
            if start is not None and end is not None:
                received = end - start + credit.get((token.lower(), account.lower()), 0)
                if received == amount:
                    continue
                if 0 < received < amount:
                    first = short.setdefault(
                        token.lower(),
                        {
                            "token": to_checksum_address(token),
                            "account": to_checksum_address(account),
                            "expected": str(amount),
                            "received": str(received),
                            "count": 0,
                        },
                    )
                    first["count"] += 1
            mismatched += 1
            if len(shown) < MISMATCHES_SHOWN:
                shown.append(
                    {
                        "token": to_checksum_address(token),
                        "account": to_checksum_address(account),
                        "expected": str(amount),
                        "received": "unknown" if start is None or end is None else str(end - start),
                        "before": "unknown" if start is None else str(start),
                        "after": "unknown" if end is None else str(end),
                    }
                )
    return {
        "status": "ok" if not mismatched else "mismatched",
        "checked": checked,
        "matched": checked - mismatched,
        "mismatched": mismatched,
        "mismatches": shown,
        "credited": len(credited),
        "short_paid_tokens": list(short.values()),
    }


# --- events ---


def _events(logs: Sequence[Mapping[str, Any]], *, emitter: str) -> tuple[list[dict], dict[str, int]]:
    """Logs of the called contract, decoded where an artifact knows them (topic0 otherwise);
    the other contracts' logs (a batch's Transfers) counted by name."""
    emitter = emitter.lower()
    own: list[dict] = []
    others: Counter[str] = Counter()
    for log in logs:
        topics = log.get("topics") or []
        if log["address"].lower() == emitter:
            own.append(_decode_log(log))
            continue
        candidates = _known_events().get(topics[0]) if topics else None
        others[candidates[0]["name"] if candidates else (topics[0] if topics else "anonymous")] += 1
    return own, dict(sorted(others.items()))


def _decode_log(log: Mapping[str, Any]) -> dict[str, Any]:
    topics = log.get("topics") or []
    data = bytes.fromhex(log.get("data", "0x")[2:])
    for abi in _known_events().get(topics[0], []) if topics else []:
        indexed = [item for item in abi["inputs"] if item["indexed"]]
        if len(indexed) != len(topics) - 1:
            continue
        plain = [item for item in abi["inputs"] if not item["indexed"]]
        try:
            values = abi_decode([collapse_if_tuple(item) for item in plain], data)
            args = {}
            for item, topic in zip(indexed, topics[1:], strict=True):
                kind = collapse_if_tuple(item)
                dynamic = kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")
                args[item["name"]] = topic if dynamic else _jsonable(abi_decode([kind], bytes.fromhex(topic[2:]))[0])
        except Exception:  # noqa: S112 - any decoding failure means "not this ABI": try the next
            continue
        args.update({item["name"]: _jsonable(value) for item, value in zip(plain, values, strict=True)})
        return {"address": to_checksum_address(log["address"]), "event": abi["name"], "args": args}
    return {"address": to_checksum_address(log["address"]), "topic0": topics[0] if topics else None}


@functools.cache
def _known_events() -> dict[str, list[dict]]:
    """Every event any compiled artifact declares, by topic0 (several contracts declare Transfer)."""
    found: dict[str, dict[str, dict]] = defaultdict(dict)
    for name in artifact_names():
        for entry in load_artifact(name).abi:
            if entry.get("type") == "event" and not entry.get("anonymous"):
                topic = "0x" + event_abi_to_log_topic(entry).hex()
                layout = str([(item["type"], item["indexed"]) for item in entry["inputs"]])
                found[topic].setdefault(layout, entry)
    return {topic: list(layouts.values()) for topic, layouts in found.items()}


def _jsonable(value: Any) -> Any:
    """An ABI value as JSON that stays exact: integers as decimal strings, bytes as 0x hex."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        try:
            return to_checksum_address(value)
        except ValueError:
            return value
    return value
