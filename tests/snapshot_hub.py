"""Test helpers for the local Snapshot hub (``snapshothub``): a space on the demo chain and the hub fixture.

Register the fixture for a test package with ``from tests.snapshot_hub import snapshot_hub  # noqa: F401``
in its conftest (tests/conftest.py does it for the whole suite).
"""

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from chain.anvil import Anvil
from chain.demo import GOV_DECIMALS, DemoDeployment
from config.preflight import load_role_account
from snapshothub.process import HubProcess

SPACE_ID = "lifeboat-test.eth"
VOTING_PERIOD_SECONDS = 6
QUORUM = 1000.0


def demo_space(demo: DemoDeployment, **overrides: Any) -> dict[str, Any]:
    """A space on the demo chain: erc20-votes on the demo token, authors the proposer and the committee.

    Delay 0, period 6 s, type ``basic``, a small quorum; ``overrides`` replace top-level keys.
    """
    authors = [load_role_account("proposer").address, demo.committee]
    space = {
        "id": SPACE_ID,
        "name": "Lifeboat test space",
        "network": str(demo.chain_id),
        "symbol": "LBT",
        "admins": [],
        "moderators": [],
        "members": list(dict.fromkeys(authors)),
        "filters": {"minScore": 0, "onlyMembers": True},
        "voting": {"delay": 0, "period": VOTING_PERIOD_SECONDS, "type": "basic", "quorum": QUORUM},
        "strategies": [
            {
                "name": "erc20-votes",
                "network": str(demo.chain_id),
                "params": {"address": demo.address("token"), "decimals": GOV_DECIMALS, "symbol": "LBT"},
            }
        ],
    }
    return {**space, **overrides}


def start_hub(anvil_url: str, spaces: Sequence[dict[str, Any]], **options: Any) -> HubProcess:
    """A started hub process for ``spaces`` on the node at ``anvil_url`` (stop it with ``.stop()``)."""
    return HubProcess(anvil_url, spaces, **options).start()


@pytest.fixture
def snapshot_hub(anvil: Anvil, demo: DemoDeployment) -> Iterator[HubProcess]:
    """A hub process (its own database) serving ``demo_space(demo)``; stopped after the test."""
    hub = start_hub(anvil.url, [demo_space(demo)])
    try:
        yield hub
    finally:
        hub.stop()


__all__ = ["SPACE_ID", "demo_space", "snapshot_hub", "start_hub"]
