"""Plans that can be trusted: the decoder reads only compiled artifacts, concurrent builds never
fail with a server error, sums that overflow uint256 are refused, the same loss is never paid
twice, an account's proof reads only what it needs, and a payout token's decimals are checked
on chain."""

import re
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from web3 import Web3

from chain.artifacts import ARTIFACTS_DIR, bind, factory
from chain.transact import send
from recovery import plans, selectors
from recovery.exceptions import InvalidInput, PlanVersionConflict
from recovery.merkle import StandardMerkleTree
from recovery.models import Allocation, RecoveryPlan
from tests.factories import analysed_exploit
from tests.recovery.test_plans import committee_client

HALF_OF_UINT256 = 2**255


def _vault_incident_analysis(anvil, exploited, demo):
    """The exploit analysed as the demo does: vault shares and dUSD, the vault's positions in dUSD."""
    analysis = analysed_exploit(
        rpc_url=anvil.url,
        exploited=exploited,
        affected_contracts=[exploited["vault"]],
        tokens=[exploited["vault"], exploited["asset"]],
        positions={exploited["vault"]: "vault_shares"},
        from_block=demo.contracts["token"].block,
    )
    assert analysis.status == "completed", analysis.error
    return analysis


def _shares_analysis(anvil, exploited):
    return analysed_exploit(rpc_url=anvil.url, exploited=exploited)


# -- 1. The decoder reads compiled artifacts only ------------------------------------------------


def _decode(artifact: str):
    return APIClient().post(
        "/api/parameter-changes/decode/", {"calldata": "0xdeadbeef", "artifact": artifact}, format="json"
    )


@pytest.mark.django_db
def test_the_decoder_answers_a_path_to_an_existing_file_exactly_as_a_missing_one(tmp_path):
    outside = tmp_path / "secret.json"
    outside.write_text('{"abi": []}')
    assert (ARTIFACTS_DIR / "../../package.json").exists()  # what `../../package` used to open
    names = [
        str(tmp_path / "secret"),  # an absolute path to an existing JSON file
        "../../package",  # a relative path to an existing JSON file
        str(tmp_path / "missing"),  # an absolute path to nothing
        "../../nothing-here",
        "NoSuchContract",
    ]
    answers = []
    for name in names:
        reply = _decode(name)
        assert reply.status_code == 400, (name, reply.content)
        error = reply.json()["error"]
        answers.append((error["code"], error["detail"], error["message"].replace(repr(name), "NAME")))
    assert len(set(map(str, answers))) == 1, answers
    assert "no compiled contract" in answers[0][2]


@pytest.mark.django_db
def test_a_name_with_a_nul_byte_is_refused_as_an_unknown_contract():
    with pytest.raises(InvalidInput, match="no compiled contract"):
        plans.decode_parameter_change(calldata="0xdeadbeef", artifact="DemoVault\x00.json")
    assert _decode("DemoVault\x00").status_code == 400


@pytest.mark.django_db
def test_a_compiled_contract_name_still_decodes_and_a_path_in_a_plan_is_refused(anvil, exploited, demo):
    calldata = bind(Web3(), "DemoPriceFeed", demo.address("price_feed")).encode_abi("setAnswer", args=[5])
    reply = _decode("DemoPriceFeed")
    assert reply.status_code == 400  # 0xdeadbeef matches no function: the name itself was accepted
    assert "matches no function" in reply.json()["error"]["message"]
    decoded = APIClient().post(
        "/api/parameter-changes/decode/", {"calldata": calldata, "artifact": "DemoPriceFeed"}, format="json"
    )
    assert decoded.status_code == 200 and decoded.json()["args"] == ["5"]
    analysis = _shares_analysis(anvil, exploited)
    change = {"target": demo.address("price_feed"), "artifact": "../../package", "function": "x", "args": []}
    with pytest.raises(InvalidInput, match="no compiled contract"):
        plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", parameter_changes=[change])


# -- 2. Concurrent builds --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_plans_built_at_once_for_one_incident_get_versions_one_and_two_or_a_clean_conflict(
    anvil, exploited, chain_settings
):
    analysis = _shares_analysis(anvil, exploited)
    budget = sum(-row.delta for row in analysis.accounts.filter(delta__lt=0)) // 3
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def build() -> None:
        try:
            start.wait()
            plan = plans.build_plan(
                analysis_id=analysis.pk,
                mode="restitute",
                policy="pro_rata",
                budgets={exploited["vault"]: str(budget)},
            )
            outcomes.append(plan.version)
        except Exception as error:
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    versions = sorted(o for o in outcomes if isinstance(o, int))
    conflicts = [o for o in outcomes if isinstance(o, PlanVersionConflict)]
    assert len(outcomes) == 2 and len(versions) + len(conflicts) == 2, outcomes
    assert versions in ([1, 2], [1]), outcomes
    assert sorted(RecoveryPlan.objects.values_list("version", flat=True)) == versions


# -- 3. Sums that overflow uint256 ----------------------------------------------------------------


def _overflowing_claims(exploited) -> list[dict[str, str]]:
    first, second = exploited["victims"][:2]
    return [{"account": first, "amount": str(HALF_OF_UINT256)}, {"account": second, "amount": str(HALF_OF_UINT256)}]


@pytest.mark.django_db
def test_claims_summing_beyond_uint256_are_refused_by_the_api_naming_the_asset(anvil, exploited):
    analysis = _shares_analysis(anvil, exploited)
    reply = committee_client().post(
        f"/api/analyses/{analysis.pk}/plans/",
        {"mode": "restitute", "policy": "full", "claims": {exploited["vault"]: _overflowing_claims(exploited)}},
        format="json",
    )
    assert reply.status_code == 400, reply.content
    message = reply.json()["error"]["message"]
    assert exploited["vault"] in message and "overflows uint256" in message
    assert not RecoveryPlan.objects.exists()


@pytest.mark.django_db
def test_claims_summing_beyond_uint256_end_the_command_with_one_error_line(anvil, exploited, tmp_path):
    analysis = _shares_analysis(anvil, exploited)
    path = tmp_path / "claims.csv"
    path.write_text(
        "account,amount\n" + "".join(f"{c['account']},{c['amount']}\n" for c in _overflowing_claims(exploited))
    )
    with pytest.raises(CommandError, match="overflows uint256") as refused:
        call_command(
            "plan",
            "build",
            f"--analysis={analysis.pk}",
            "--mode=restitute",
            "--policy=full",
            f"--claims={exploited['vault']}={path}",
        )
    assert exploited["vault"] in str(refused.value) and "\n" not in str(refused.value)
    assert not RecoveryPlan.objects.exists()


@pytest.mark.django_db
def test_a_pro_rata_plan_over_overflowing_claims_is_refused_too(anvil, exploited):
    analysis = _shares_analysis(anvil, exploited)
    with pytest.raises(InvalidInput, match=r"claims sum to \d+, which overflows uint256"):
        plans.build_plan(
            analysis_id=analysis.pk,
            mode="restitute",
            policy="pro_rata",
            budgets={exploited["vault"]: "1000"},
            claims={exploited["vault"]: _overflowing_claims(exploited)},
        )


# -- 4. The same loss is never paid twice ----------------------------------------------------------


@pytest.mark.django_db
def test_a_full_plan_pays_the_holders_losses_and_never_the_vault_contract(anvil, exploited, demo):
    analysis = _vault_incident_analysis(anvil, exploited, demo)
    vault, asset = exploited["vault"], exploited["asset"]
    vault_dusd_loss = -analysis.accounts.get(account=vault, asset=asset, kind="balance").delta
    assert vault_dusd_loss > 0  # the vault is the one dUSD loser: the drained dUSD was its holding

    plan = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full")

    assert not Allocation.objects.filter(account=vault).exists()
    share_losses = {
        row.account: -row.delta for row in analysis.accounts.filter(asset=vault, kind="balance", delta__lt=0)
    }
    paid = dict(Allocation.objects.filter(plan_asset__asset=vault).values_list("account", "amount"))
    assert paid == share_losses and set(paid) == set(exploited["victims"])
    dusd = plan.summary["assets"][asset]
    assert dusd["total_allocated"] == "0"
    assert {"account": vault, "claim": str(vault_dusd_loss)} == {
        k: v for k, v in next(e for e in dusd["excluded"] if e["account"] == vault).items() if k != "reason"
    }
    shown = {e["account"]: e["reason"] for e in plan.summary["contracts"]["excluded_by_default"]}
    assert "named in the incident" in shown[vault]
    assert plan.summary["contracts"]["included"] == []
    assert vault in plan.exclusions


@pytest.mark.django_db
def test_including_the_vault_while_paying_its_holders_is_refused_as_paying_one_loss_twice(anvil, exploited, demo):
    analysis = _vault_incident_analysis(anvil, exploited, demo)
    with pytest.raises(InvalidInput, match="would be paid twice for one loss"):
        plans.build_plan(
            analysis_id=analysis.pk, mode="restitute", policy="full", include_contracts=[exploited["vault"]]
        )
    assert not RecoveryPlan.objects.exists()


@pytest.mark.django_db
def test_the_vault_included_deliberately_is_paid_and_shown_in_the_plan(anvil, exploited, demo):
    analysis = _vault_incident_analysis(anvil, exploited, demo)
    vault, asset = exploited["vault"], exploited["asset"]
    vault_dusd_loss = -analysis.accounts.get(account=vault, asset=asset, kind="balance").delta
    # Made whole through the vault itself: nothing paid on the shares, the vault's dUSD restored.
    reply = committee_client().post(
        f"/api/analyses/{analysis.pk}/plans/",
        {
            "mode": "restitute",
            "policy": "pro_rata",
            "budgets": {vault: "0", asset: str(vault_dusd_loss)},
            "include_contracts": [vault],
        },
        format="json",
    )
    assert reply.status_code == 201, reply.content
    plan = reply.json()
    assert Allocation.objects.get(plan_asset__asset=asset).account == vault
    assert plan["summary"]["assets"][asset]["total_allocated"] == str(vault_dusd_loss)
    (included,) = plan["summary"]["contracts"]["included"]
    assert included["account"] == vault and "included deliberately" in included["reason"]
    assert vault not in plan["exclusions"]


@pytest.mark.django_db
def test_only_a_contract_excluded_by_default_can_be_included(anvil, exploited, demo):
    analysis = _vault_incident_analysis(anvil, exploited, demo)
    for account, message in (
        (exploited["victims"][0], "not excluded by default"),
        (exploited["attacker"], "as an exploiter"),
    ):
        with pytest.raises(InvalidInput, match=message):
            plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", include_contracts=[account])


@pytest.mark.django_db
def test_the_plan_command_includes_a_contract_with_a_flag_and_prints_it(anvil, exploited, demo, capsys):
    analysis = _vault_incident_analysis(anvil, exploited, demo)
    vault, asset = exploited["vault"], exploited["asset"]
    call_command(
        "plan",
        "build",
        f"--analysis={analysis.pk}",
        "--mode=restitute",
        "--policy=pro_rata",
        f"--budget={vault}=0",
        f"--budget={asset}=1000",
        f"--include-contract={vault}",
    )
    out = capsys.readouterr().out
    assert f"included: {vault}" in out
    assert Allocation.objects.get(plan_asset__asset=asset).account == vault


# -- 5. Reads that scale, and the payout token's decimals -------------------------------------------


@pytest.mark.django_db
def test_an_account_lookup_never_selects_the_tree_dump_or_the_whole_node_array(anvil, exploited):
    analysis = _shares_analysis(anvil, exploited)
    plan = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full")
    holder = exploited["victims"][0]
    with CaptureQueriesContext(connection) as queries:
        position = selectors.account_position(plan_id=plan.pk, account=holder)
    sql = [query["sql"] for query in queries.captured_queries]
    assert not any("allocation_dump" in text for text in sql), sql
    whole = [text for text in sql if len(re.findall(r'"allocation_nodes"', text)) > len(re.findall(r"SUBSTR", text))]
    assert not whole, whole
    (mine,) = position["assets"]
    assert StandardMerkleTree.verify_proof(
        mine["allocation_root"],
        ["uint256", "address", "uint256"],
        [mine["leaf_index"], holder, int(mine["allocation"])],
        mine["proof"],
    )


@pytest.mark.django_db
def test_a_payout_token_with_other_decimals_than_the_asset_is_refused(anvil, w3, exploited, deployer):
    analysis = _shares_analysis(anvil, exploited)
    receipt = send(
        w3, deployer, factory(w3, "RecoveryToken").constructor("Shares v2, 18 decimals", "V2", 18, deployer.address)
    )
    with pytest.raises(InvalidInput, match=r"has 18 decimals, 0x\w+ has 6"):
        plans.build_plan(
            analysis_id=analysis.pk,
            mode="restore",
            policy="full",
            payout_tokens={exploited["vault"]: receipt["contractAddress"]},
            rpc_url=anvil.url,
        )
    with pytest.raises(InvalidInput, match="no contract at this address"):
        plans.build_plan(
            analysis_id=analysis.pk,
            mode="restore",
            policy="full",
            payout_tokens={exploited["vault"]: exploited["attacker"]},
            rpc_url=anvil.url,
        )
    assert not RecoveryPlan.objects.exists()


@pytest.mark.django_db
def test_a_restore_plan_records_the_migrated_tokens_decimals_read_on_chain(anvil, demo, exploited):
    analysis = _shares_analysis(anvil, exploited)
    migrated = demo.address("migrated_vault_share")
    plan = plans.build_plan(
        analysis_id=analysis.pk,
        mode="restore",
        policy="full",
        payout_tokens={exploited["vault"]: migrated},
        rpc_url=anvil.url,
    )
    entry = plan.summary["assets"][exploited["vault"]]
    assert entry["payout_token"] == migrated
    assert entry["decimals"] == entry["payout_decimals"] == 6
