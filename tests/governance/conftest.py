"""Fixtures shared by the governance tests; the helpers they use live in tests/governance/governors.py."""

import pytest

from chain.artifacts import bind
from chain.demo import holder_account
from chain.transact import send
from tests.governance.governors import (
    ABSTAIN,
    AGAINST,
    FOR,
    dev_venue,
    frozen_document,
    make_publishable,
    mine,
    propose,
    timestamp_stack,
    vote_call,
)

# Fixtures: registered here for every module of tests/governance/ (the deployment one is autouse).
__all__ = ["timestamp_stack"]


@pytest.fixture
def depth(settings):
    """Votes count at once: a confirmation depth of 0."""
    settings.CONFIRMATION_DEPTH = 0
    return settings


@pytest.fixture
def document(anvil, exploited, chain_settings):
    """A real plan (the exploited demo vault, restitute in full) frozen into its proposal document."""
    return frozen_document(anvil, exploited)


@pytest.fixture
def timestamp_document(anvil, exploited, chain_settings, timestamp_stack):
    """The same plan, its batch leaves bound to the timestamp governor's own RecoveryExecutor."""
    return frozen_document(anvil, exploited, recovery_executor=timestamp_stack["recovery_executor"])


@pytest.fixture
def venue(anvil, demo):
    """The dev governor's venue."""
    return dev_venue(demo, anvil)


@pytest.fixture
def voting_deployer(w3, demo, deployer):
    """The deployer, holding most of the supply, delegated to itself (votes count from the next block)."""
    send(w3, deployer, bind(w3, "LifeboatToken", demo.address("token")).functions.delegate(deployer.address))
    return deployer


@pytest.fixture
def active(w3, anvil, depth, venue, document, voting_deployer):
    """A proposal on the demo governor, voting open, and three holders' votes of three kinds."""
    publication, _ = propose(w3, voting_deployer, venue, document)
    mine(w3, 2)  # voting delay 1 block: active once the clock passes the snapshot
    receipts = [
        send(w3, holder_account(0), vote_call(w3, publication, FOR)),
        send(w3, holder_account(1), vote_call(w3, publication, AGAINST, reason="not like this: ünïcode ✓")),
        send(w3, holder_account(2), vote_call(w3, publication, ABSTAIN, reason="params", params=b"\x01\x02\xff")),
    ]
    return publication, receipts


@pytest.fixture
def ready(w3, anvil, demo, deployer, exploited, chain_settings):
    """A rehearsed, signed-off document and the dev venue; holder 0 carries the deployer's votes (enough for quorum)."""
    token = bind(w3, "LifeboatToken", demo.address("token"))
    send(w3, deployer, token.functions.delegate(holder_account(0).address))
    document = frozen_document(anvil, exploited)
    venue = dev_venue(demo, anvil)
    make_publishable(document, venue, anvil.url)
    return document, venue
