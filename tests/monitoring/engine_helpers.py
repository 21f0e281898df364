"""Helpers of the monitor engine's tests: runs with their on-commit callbacks, rules, chain moves."""

from datetime import datetime

from web3 import Web3

from chain.artifacts import bind
from chain.demo import DemoDeployment
from chain.devkeys import DEPLOYER_KEY
from chain.keys import load_account
from chain.transact import send
from monitoring import engine
from monitoring.engine import RunResult
from monitoring.models import Rule, WatchedDeployment
from tests.rpc_proxy import RpcProxy


def run(watched: WatchedDeployment, *, now: datetime | None = None, commits: object = None) -> RunResult:
    """One run of the monitor, with the on-commit callbacks executed (the test's transaction never commits)."""
    assert commits is not None, "pass django_capture_on_commit_callbacks"
    with commits(execute=True):  # type: ignore[operator]
        result = engine.run_watched(watched.pk, now=now)
    assert result is not None
    return result


def rule(watched: WatchedDeployment, name: str) -> Rule:
    return Rule.objects.get(watched=watched, name=name)


def only(watched: WatchedDeployment, *names: str) -> None:
    """Enable only the named rules (the others are left out of the run)."""
    Rule.objects.filter(watched=watched).exclude(name__in=names).update(enabled=False)
    Rule.objects.filter(watched=watched, name__in=names).update(enabled=True)


def mine(w3: Web3, blocks: int = 1) -> int:
    for _ in range(blocks):
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return int(w3.eth.block_number)


def set_answer(w3: Web3, demo: DemoDeployment, role: str, answer: int) -> int:
    """Publish ``answer`` on the feed of ``role`` (its owner is the deployer); the block it landed in."""
    feed = bind(w3, "DemoPriceFeed", demo.address(role))
    receipt = send(w3, load_account(private_key=DEPLOYER_KEY), feed.functions.setAnswer(answer))
    return int(receipt["blockNumber"])


def set_round_data(w3: Web3, demo: DemoDeployment, answer: int, updated_at: int) -> int:
    feed = bind(w3, "DemoPriceFeed", demo.address("price_feed"))
    receipt = send(w3, load_account(private_key=DEPLOYER_KEY), feed.functions.setRoundData(answer, updated_at))
    return int(receipt["blockNumber"])


class SwitchableProxy(RpcProxy):
    """A node that can be switched off (connections dropped) and on again."""

    up = True

    def forward(self, body: bytes) -> bool:
        return self.up
