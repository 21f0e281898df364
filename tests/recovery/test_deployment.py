"""The dev chain command, the recorded deployment, the periodic check through a real worker,
and the page that shows it."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from web3 import Web3

from chain.artifacts import bind
from chain.demo import DemoDeployment, holder_deposit
from recovery.models import Deployment
from recovery.services import record_deployment
from recovery.tasks import check_deployment


@pytest.mark.django_db
def test_devchain_deploys_seeds_and_records_the_demo_stack(settings, tmp_path):
    settings.DEVCHAIN_STATE_FILE = tmp_path / "devchain.json"
    settings.VAR_DIR = tmp_path
    call_command("devchain", port=0, holders=5, no_wait=True, ready_file=str(tmp_path / "ready"))

    row = Deployment.objects.get()
    state = json.loads(settings.DEVCHAIN_STATE_FILE.read_text())
    assert state["deployment_id"] == row.pk
    assert row.chain_id == state["chain_id"] == 31337
    assert row.holder_count == len(state["holders"]) == 5
    roles = {c.role: c for c in row.contracts.all()}
    assert set(roles) == {
        "token",
        "timelock",
        "governor",
        "asset",
        "vault",
        "price_feed",
        "recovery_executor",
        "migrated_vault_share",
        "reference_feed",
        "snapshot_registry",
        "margin_market",
        "migrated_margin_market",
    }
    for role, contract in roles.items():
        assert contract.address == state["contracts"][role]["address"]
        assert contract.block >= 1
    assert (tmp_path / "ready").read_text().strip() == row.rpc_url


def test_seeded_holders_hold_their_deposits_and_votes(w3: Web3, demo: DemoDeployment):
    vault = bind(w3, "DemoVault", demo.address("vault"))
    token = bind(w3, "LifeboatToken", demo.address("token"))
    for index, holder in enumerate(demo.holders):
        assert vault.functions.balanceOf(holder).call() == holder_deposit(index)  # first deposits mint 1:1
        assert token.functions.getVotes(holder).call() == token.functions.balanceOf(holder).call() > 0
    assert vault.functions.totalAssets().call() == sum(holder_deposit(i) for i in range(len(demo.holders)))


def test_governance_owns_the_executor_and_the_timelock_has_no_other_admin(w3: Web3, demo: DemoDeployment):
    executor = bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))
    timelock = bind(w3, "LifeboatTimelock", demo.address("timelock"))
    governor = bind(w3, "LifeboatGovernor", demo.address("governor"))
    assert executor.functions.hasRole(executor.functions.APPROVER_ROLE().call(), demo.address("timelock")).call()
    assert executor.functions.hasRole(executor.functions.EXECUTOR_ROLE().call(), demo.executor).call()
    assert executor.functions.hasRole(executor.functions.GUARDIAN_ROLE().call(), demo.committee).call()
    # The committee approves plans too: the dev chain's approver of passed Snapshot votes.
    assert executor.functions.hasRole(executor.functions.APPROVER_ROLE().call(), demo.committee).call()
    executor_admin = executor.functions.DEFAULT_ADMIN_ROLE().call()
    assert executor.functions.hasRole(executor_admin, demo.address("timelock")).call()
    assert not executor.functions.hasRole(executor_admin, demo.deployer).call()
    admin = timelock.functions.DEFAULT_ADMIN_ROLE().call()
    assert not timelock.functions.hasRole(admin, demo.deployer).call()
    assert timelock.functions.hasRole(timelock.functions.PROPOSER_ROLE().call(), governor.address).call()
    assert governor.functions.timelock().call() == demo.address("timelock")


def test_the_worker_checks_that_every_recorded_contract_has_code(celery_worker, chain_settings, demo: DemoDeployment):
    row = record_deployment(deployment=demo)
    result = check_deployment.delay().get(timeout=30)
    assert result == {"deployment": row.pk, "head_block": result["head_block"], "healthy": True}
    row.refresh_from_db()
    assert row.healthy is True and row.head_block >= max(c.block for c in demo.contracts.values())
    assert all(c.has_code for c in row.contracts.all())


def test_the_worker_flags_a_deployment_whose_contracts_are_gone(
    celery_worker, chain_settings, demo: DemoDeployment, w3
):
    row = record_deployment(deployment=demo)
    w3.provider.make_request("anvil_setCode", [demo.address("vault"), "0x"])
    assert check_deployment.delay().get(timeout=30)["healthy"] is False
    assert row.contracts.get(role="vault").has_code is False
    assert row.contracts.get(role="token").has_code is True


@pytest.mark.django_db
def test_the_home_page_shows_the_deployment(client, chain_settings, demo: DemoDeployment):
    record_deployment(deployment=demo)
    page = client.get(reverse("home"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="chain-status">live' in html
    for contract in demo.contracts.values():
        assert contract.address in html
    assert f'data-testid="holder-count">{len(demo.holders)}<' in html


@pytest.mark.django_db
def test_the_home_page_says_when_the_node_is_unreachable(client, settings):
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"
    page = client.get(reverse("home"))
    assert page.status_code == 200
    assert "unreachable" in page.content.decode()
    assert "No deployment is recorded" in page.content.decode()
