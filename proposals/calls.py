"""The calls a proposal makes when it passes, read from its frozen document.

One list, used alike by the rehearsal (which runs them on a fork), publishing (which proposes
them) and the Safe export: the plan's parameter changes in their order, then one
``RecoveryExecutor.approvePlan`` per asset that has batches to pay. Pure: document in, calls out.

``approvePlan``'s budget is the asset's total allocation, exactly what its batches sum to, so
the executor can never pay more than the allocation the vote approved.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recovery.parameters import encode_call

APPROVE_PLAN = "approvePlan(uint256,bytes32,address,uint8,uint32,uint256)"
# RecoveryExecutor.Mode: the plan's mode names, as the contract numbers them.
EXECUTOR_MODES = {"restitute": 0, "restore": 1}


@dataclass(frozen=True, slots=True)
class ProposalCall:
    """One call of the proposal: what `propose` takes (target, value, calldata) and what voters read."""

    target: str
    value: int  # wei
    calldata: str  # 0x-hex
    signature: str  # canonical, e.g. approvePlan(uint256,bytes32,address,uint8,uint32,uint256)
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


def proposal_calls(content: Mapping[str, Any], *, recovery_executor: str) -> list[ProposalCall]:
    """Every call of the proposal for ``content`` (a frozen document), approving on ``recovery_executor``."""
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
    mode = EXECUTOR_MODES[content["plan"]["mode"]]
    for asset in content["assets"]:
        if not asset["batch_count"]:
            continue  # nothing to pay in this asset: approvePlan refuses a plan without batches
        args = (
            asset["onchain_plan_id"],
            asset["commitment_root"],
            asset["payout_token"],
            mode,
            asset["batch_count"],
            asset["total_allocated"],
        )
        encoded = encode_call(target=recovery_executor, signature=APPROVE_PLAN, args=list(args))
        calls.append(
            ProposalCall(
                target=encoded.target,
                value=0,
                calldata=encoded.calldata,
                signature=encoded.signature,
                args=args,
                summary=(
                    f"approve plan {asset['onchain_plan_id']} for {asset['asset']}: {asset['batch_count']} batches "
                    f"paying {asset['total_allocated']} base units of {asset['payout_token']} "
                    f"({content['plan']['mode']}), commitment root {asset['commitment_root']}"
                ),
                plan_asset=asset["asset"],
            )
        )
    return calls
