"""The calls a proposal makes when it passes, read from its frozen document.

One list, used alike by the rehearsal (which runs them on a fork), publishing (which proposes
them) and the Safe export: the plan's parameter changes in their order, then one
``RecoveryExecutor.approvePlan`` per asset that has something to pay. Pure: document in, calls out.

``approvePlan``'s root is the batch commitment for a push plan and the allocation root for a
pull plan; its count is the number of batches (push) or of allocations (pull); its budget is the
asset's total allocation, exactly what the batches or claims sum to, so the executor can never
pay more than the allocation the vote approved. The incident key and plan version make a higher
version supersede the earlier ones on chain.

The batch leaves name the RecoveryExecutor they were built for (``plan.recovery_executor`` in
the document): approving them on another executor would approve a root none of its proofs
verify against, so that is refused (``ExecutorMismatch``, 409).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proposals.exceptions import ExecutorMismatch
from recovery.parameters import encode_call

APPROVE_PLAN = "approvePlan(uint256,bytes32,uint64,bytes32,address,uint8,uint8,uint32,uint256,uint64)"
# RecoveryExecutor.Mode and Delivery: the plan's names, as the contract numbers them.
EXECUTOR_MODES = {"restitute": 0, "restore": 1, "restore_positions": 2}
EXECUTOR_DELIVERIES = {"push": 0, "push_fallback": 1, "pull": 2}


@dataclass(frozen=True, slots=True)
class ProposalCall:
    """One call of the proposal: what `propose` takes (target, value, calldata) and what voters read."""

    target: str
    value: int  # wei
    calldata: str  # 0x-hex
    signature: str  # canonical, e.g. approvePlan(uint256,bytes32,uint64,bytes32,address,uint8,uint8,uint32,...)
    args: tuple[Any, ...]  # as the document holds them (JSON values, amounts as decimal strings)
    summary: str  # one line for people
    plan_asset: str | None = None  # the asset an approvePlan call approves; None for a parameter change

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "value": str(self.value),
            "calldata": self.calldata,
            "signature": self.signature,
            "args": list(self.args),
            "summary": self.summary,
            "plan_asset": self.plan_asset,
        }


def document_content(canonical: bytes) -> dict[str, Any]:
    """The document dict back from its canonical bytes."""
    return json.loads(canonical)


def require_same_executor(content: Mapping[str, Any], *, recovery_executor: str) -> None:
    """``ExecutorMismatch`` (409) unless the document's batch leaves are bound to ``recovery_executor``."""
    plan = content["plan"]
    bound = plan.get("recovery_executor") or ""
    if bound.lower() != recovery_executor.lower():
        raise ExecutorMismatch(
            f"plan {plan.get('id')} (version {plan.get('version')}) is bound to the RecoveryExecutor "
            f"{bound or 'none'}, but the venue approves on {recovery_executor}: its batch leaves name their "
            "executor, so none would verify there. Use a venue on the plan's executor, or build a new plan "
            f"version with recovery_executor={recovery_executor}",
            plan=plan.get("id"),
            plan_executor=bound,
            venue_executor=recovery_executor,
        )


def approve_count(asset: Mapping[str, Any], *, delivery: str) -> int:
    """``approvePlan``'s count of an asset: its allocations (pull) or its batches (push)."""
    return int(asset.get("recipients") or 0) if delivery == "pull" else int(asset["batch_count"])


def proposal_calls(content: Mapping[str, Any], *, recovery_executor: str) -> list[ProposalCall]:
    """Every call of the proposal for ``content`` (a frozen document), approving on ``recovery_executor``.

    ``ExecutorMismatch`` (409) when the plan's batch leaves are bound to another executor.
    """
    require_same_executor(content, recovery_executor=recovery_executor)
    calls = [
        ProposalCall(
            target=change["target"],
            value=int(change["value"]),
            calldata=change["calldata"],
            signature=change["signature"],
            args=tuple(change.get("args", [])),
            summary=f"parameter change {change['index']}: {change['signature']} on {change['target']}",
        )
        for change in content["parameter_changes"]
    ]
    plan = content["plan"]
    mode, delivery = plan["mode"], plan["delivery"]
    pull = delivery == "pull"
    deadline = plan["claim_deadline"] if pull else 0
    for asset in content["assets"]:
        count = approve_count(asset, delivery=delivery)
        if not count:
            continue  # nothing to pay in this asset: approvePlan refuses a plan without batches or leaves
        root = asset["allocation_root"] if pull else asset["commitment_root"]
        args = (
            asset["onchain_plan_id"],
            plan["incident_key"],
            plan["version"],
            root,
            asset["payout_token"],
            EXECUTOR_MODES[mode],
            EXECUTOR_DELIVERIES[delivery],
            count,
            # Restoring positions the committee may give a budget above what the rows need (never below).
            asset["budget"] if mode == "restore_positions" and asset.get("budget") else asset["total_allocated"],
            deadline,
        )
        encoded = encode_call(target=recovery_executor, signature=APPROVE_PLAN, args=list(args))
        what = (
            f"{count} claims until {deadline} (unix time), allocation root {root}"
            if pull
            else f"{count} batches ({delivery}), commitment root {root}"
        )
        calls.append(
            ProposalCall(
                target=encoded.target,
                value=0,
                calldata=encoded.calldata,
                signature=encoded.signature,
                args=args,
                summary=(
                    f"approve plan {asset['onchain_plan_id']} (version {plan['version']} of incident key "
                    f"{plan['incident_key']}) for {asset['asset']}: paying {asset['total_allocated']} base units of "
                    f"{asset['payout_token']} ({mode}) in {what}"
                ),
                plan_asset=asset["asset"],
            )
        )
    return calls
