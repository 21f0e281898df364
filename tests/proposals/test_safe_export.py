"""The Safe Transaction Builder export: the app's checksum against files the app itself made, and a
real frozen plan exported through the command and the API."""

import io
import json
import subprocess

import eth_abi
import pytest
from django.core.management import CommandError, call_command
from eth_utils import keccak
from rest_framework.test import APIClient

from chain.artifacts import load_artifact
from governance import services as venues
from proposals.calls import document_content, proposal_calls
from proposals.safe_export import (
    SafeExportError,
    add_checksum,
    batch_checksum,
    checksum_matches,
    export_safe_batch,
)
from proposals.services import freeze_proposal
from recovery import plans
from recovery.models import Incident
from recovery.parameters import function_selector
from tests.factories import analysed_exploit

# --- The oracle: files from the app's own repository ---
# safe-global/safe-react-apps at b823488a161e49ba2df510ec0d04018116ed6c63,
# apps/tx-builder/src/lib/checksum.test.js: `batchFileObject` and the checksum the test expects.
APP_UNIT_TEST_BATCH = json.loads(
    """
{"version": "1.0", "chainId": "4", "createdAt": 1646321521061,
 "meta": {"name": "test batch file", "txBuilderVersion": "1.4.0", "checksum": "",
          "createdFromSafeAddress": "0xDF8a1Ce35c9a6ACE153B4e0767942f1E2291a1Aa",
          "createdFromOwnerAddress": "0x49d4450977E2c95362C13D3a31a09311E0Ea26A6"},
 "transactions": [
  {"to": "0x49d4450977E2c95362C13D3a31a09311E0Ea26A6", "value": "0",
   "contractMethod": {"inputs": [{"internalType": "address", "name": "paramAddress", "type": "address"}],
                      "name": "testAddress", "payable": false},
   "contractInputsValues": {"paramAddress": "0x49d4450977E2c95362C13D3a31a09311E0Ea26A6"}},
  {"to": "0x49d4450977E2c95362C13D3a31a09311E0Ea26A6", "value": "0",
   "contractMethod": {"inputs": [{"internalType": "bool", "name": "paramBool", "type": "bool"}],
                      "name": "testBool", "payable": false},
   "contractInputsValues": {"paramAddress": "", "paramBool": "false"}},
  {"to": "0x49d4450977E2c95362C13D3a31a09311E0Ea26A6", "value": "2000000000000000000",
   "data": "0x42f4579000000000000000000000000049d4450977e2c95362c13d3a31a09311e0ea26a6"}]}
"""
)
APP_UNIT_TEST_CHECKSUM = "0x4ecbfd364aa6759983915644e73f8bd411e85a2dc306f252a387c2728c4db64c"

# Same commit, cypress/fixtures/test-working-batch.json: a file the Transaction Builder 1.13.1
# downloaded (its end-to-end test imports it without a checksum warning).
APP_EXPORTED_BATCH = """
{
  "version": "1.0",
  "chainId": "5",
  "createdAt": 1671532788473,
  "meta": {
    "name": "Transactions Batch",
    "description": "",
    "txBuilderVersion": "1.13.1",
    "createdFromSafeAddress": "0xE96C43C54B08eC528e9e815fC3D02Ea94A320505",
    "createdFromOwnerAddress": "",
    "checksum": "0x783b24b06f925df195ac0e0103507caf6520cff278555c11e9b8edb43bc2a196"
  },
  "transactions": [
    {
      "to": "0x51A099ac1BF46D471110AA8974024Bfe518Fd6C4",
      "value": "0",
      "data": null,
      "contractMethod": {
        "inputs": [{ "internalType": "bool", "name": "newValue", "type": "bool" }],
        "name": "testBooleanValue",
        "payable": false
      },
      "contractInputsValues": { "newValue": "true" }
    },
    {
      "to": "0x51A099ac1BF46D471110AA8974024Bfe518Fd6C4",
      "value": "0",
      "data": null,
      "contractMethod": {
        "inputs": [{ "internalType": "address", "name": "newValue", "type": "address" }],
        "name": "testAddressValue",
        "payable": false
      },
      "contractInputsValues": { "newValue": "0x51A099ac1BF46D471110AA8974024Bfe518Fd6C4" }
    }
  ]
}
"""


def test_the_checksum_is_the_one_the_apps_unit_test_expects():
    assert batch_checksum(APP_UNIT_TEST_BATCH) == APP_UNIT_TEST_CHECKSUM


def test_the_checksum_ignores_key_order_and_the_batch_name_but_not_transaction_order():
    reordered = {key: APP_UNIT_TEST_BATCH[key] for key in reversed(APP_UNIT_TEST_BATCH)}
    reordered["meta"] = {key: APP_UNIT_TEST_BATCH["meta"][key] for key in reversed(APP_UNIT_TEST_BATCH["meta"])}
    assert batch_checksum(reordered) == APP_UNIT_TEST_CHECKSUM
    renamed = {**APP_UNIT_TEST_BATCH, "meta": {**APP_UNIT_TEST_BATCH["meta"], "name": "another name"}}
    assert batch_checksum(renamed) == APP_UNIT_TEST_CHECKSUM
    reversed_transactions = {**APP_UNIT_TEST_BATCH, "transactions": APP_UNIT_TEST_BATCH["transactions"][::-1]}
    assert batch_checksum(reversed_transactions) != APP_UNIT_TEST_CHECKSUM


def test_a_file_the_app_exported_validates_and_edited_copies_do_not():
    exported = json.loads(APP_EXPORTED_BATCH)
    assert checksum_matches(exported)
    # The app's other fixtures are this file edited (test-mainnet-batch.json: the chain id;
    # test-modified-batch.json: addresses and values blanked), with the checksum left as it was.
    assert not checksum_matches({**exported, "chainId": "1"})
    blanked = [{**tx, "to": "", "value": ""} for tx in exported["transactions"]]
    assert not checksum_matches({**exported, "transactions": blanked})
    assert add_checksum({**exported, "meta": {**exported["meta"], "checksum": "0xstale"}}) == exported


def test_strings_and_key_order_serialize_as_javascript_does():
    # JSON.stringify and Array.prototype.sort (UTF-16 code units) run by node, against ours.
    keys = ["b", "a", "\uff61", "\U0001f600", "A", "é", "\u2028", "10", "9"]
    values = ['quote " back \\ slash', "tab\tnew\nline\r\x08\x0c", "\x00\x01\x1f\x7f", "\ud800 lone", "ünïcødé ✓ 😀"]
    batch = {"meta": {"name": "n"}, "values": values, "keys": {key: index for index, key in enumerate(keys)}}
    script = (
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const ser = v => Array.isArray(v) ? '[' + v.map(ser).join(',') + ']'"
        " : (v !== null && typeof v === 'object') ? (() => { const k = Object.keys(v).sort();"
        " return '{' + JSON.stringify(k) + k.map(x => ser(v[x]) + ',').join('') + '}'; })()"
        " : JSON.stringify(v);"
        "process.stdout.write(JSON.stringify(ser({...input, meta: {...input.meta, name: null}})));"
    )
    node = subprocess.run(
        ["node", "-e", script], input=json.dumps(batch), capture_output=True, text=True, check=True, timeout=60
    )
    serialized = json.loads(node.stdout)
    assert batch_checksum(batch) == "0x" + keccak(serialized.encode("utf-8", "surrogatepass")).hex()


@pytest.mark.parametrize("value", [0.5, 2**53, {1, 2}])
def test_values_javascript_would_misread_are_refused(value):
    with pytest.raises(SafeExportError):
        batch_checksum({"meta": {"name": ""}, "createdAt": value})


# --- A real plan, exported ---


@pytest.fixture
def exported(anvil, exploited, chain_settings, demo):
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    plan = plans.build_plan(
        analysis_id=analysis.pk,
        mode="restitute",
        policy="full",
        parameter_changes=[
            {"target": exploited["vault"], "signature": "pause()", "args": []},
            {"target": demo.address("recovery_executor"), "signature": "revokePlan(uint256)", "args": ["77"]},
        ],
    )
    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    venue = venues.add_governor_venue(
        chain_id=demo.chain_id,
        governor=demo.address("governor"),
        recovery_executor=demo.address("recovery_executor"),
        rpc_url=anvil.url,
    )
    return document, venue


@pytest.mark.django_db
@pytest.mark.chain
def test_the_batch_holds_every_call_of_the_proposal_and_re_encodes_to_its_calldata(exported):
    document, venue = exported
    batch = export_safe_batch(proposal_id=document.pk, venue_id=venue.pk)
    calls = proposal_calls(document_content(document.canonical_bytes), recovery_executor=venue.recovery_executor)
    assert checksum_matches(json.loads(json.dumps(batch)))
    assert (batch["version"], batch["chainId"]) == ("1.0", str(venue.chain_id))
    assert abs(batch["createdAt"] - document.created_at.timestamp() * 1000) < 1  # the freeze time, in ms
    assert batch["meta"]["createdFromSafeAddress"] == ""
    assert document.content_hash in batch["meta"]["description"]
    assert len(batch["transactions"]) == len(calls) >= 3
    abi = {entry["name"]: entry for entry in load_artifact("RecoveryExecutor").abi if entry.get("type") == "function"}
    for call, tx in zip(calls, batch["transactions"], strict=True):
        assert (tx["to"], tx["value"]) == (call.target, str(call.value))
        method = tx["contractMethod"]
        if call.target != venue.recovery_executor:
            # The vault's pause(): no ABI Lifeboat knows for it, so the raw calldata goes as it is.
            assert (tx["data"], method, tx["contractInputsValues"]) == (call.calldata, None, None)
            continue
        # A RecoveryExecutor call: decoded as the app shows it, and encoding its input strings
        # back (as the app does on import) gives exactly the calldata the proposal makes.
        assert tx["data"] is None
        assert method["inputs"] == [
            {key: item[key] for key in ("internalType", "name", "type")} for item in abi[method["name"]]["inputs"]
        ]
        assert method["payable"] is False
        types = [item["type"] for item in method["inputs"]]
        values = [
            _typed(kind, tx["contractInputsValues"][item["name"]])
            for kind, item in zip(types, method["inputs"], strict=True)
        ]
        signature = f"{method['name']}({','.join(types)})"
        assert function_selector(signature) + eth_abi.encode(types, values).hex() == call.calldata
    assert [tx["contractMethod"]["name"] for tx in batch["transactions"] if tx["contractMethod"]] == [
        "revokePlan",
        "approvePlan",
    ]
    approve = batch["transactions"][-1]["contractInputsValues"]
    asset = document_content(document.canonical_bytes)["assets"][0]
    assert approve["budget"] == asset["total_allocated"] and approve["root"] == asset["commitment_root"]
    plan = document_content(document.canonical_bytes)["plan"]
    assert (approve["incidentKey"], approve["version"]) == (plan["incident_key"], str(plan["version"]))
    assert (approve["delivery"], approve["claimDeadline"]) == ("1", "0")  # push_fallback, no deadline


def _typed(kind: str, text: str) -> object:
    if kind.startswith(("uint", "int")):
        return int(text)
    if kind.startswith("bytes"):
        return bytes.fromhex(text[2:])
    return text


@pytest.mark.django_db
@pytest.mark.chain
def test_the_api_serves_the_same_bytes_on_every_download(exported, demo):
    document, venue = exported
    url = f"/api/proposals/{document.pk}/safe-batch.json?venue={venue.pk}"
    first, second = APIClient().get(url), APIClient().get(url)
    assert first.status_code == 200 and first["Content-Type"] == "application/json"
    assert "attachment" in first["Content-Disposition"]
    assert first.content == second.content
    batch = json.loads(first.content)
    assert checksum_matches(batch)
    with_safe = APIClient().get(f"{url}&safe={demo.address('timelock')}").json()
    assert with_safe["meta"]["createdFromSafeAddress"] == demo.address("timelock")
    assert with_safe["meta"]["checksum"] != batch["meta"]["checksum"] and checksum_matches(with_safe)


@pytest.mark.django_db
@pytest.mark.chain
def test_bad_requests_answer_4xx(exported, demo):
    document, venue = exported
    client = APIClient()
    for path, status, code in (
        (f"/api/proposals/999999/safe-batch.json?venue={venue.pk}", 404, "proposal_not_found"),
        (f"/api/proposals/{document.pk}/safe-batch.json?venue=999999", 404, "venue_not_found"),
        (f"/api/proposals/{document.pk}/safe-batch.json", 400, "invalid_input"),
        (f"/api/proposals/{document.pk}/safe-batch.json?venue={venue.pk}&safe=0x1234", 400, "invalid_input"),
        (
            f"/api/proposals/{document.pk}/safe-batch.json?venue={venue.pk}&safe={demo.address('timelock').lower()}",
            400,
            "invalid_input",
        ),
    ):
        answer = client.get(path)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), path
    Incident.objects.filter(pk=document.incident_id).update(chain_id=1)
    answer = client.get(f"/api/proposals/{document.pk}/safe-batch.json?venue={venue.pk}")
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "venue_chain_mismatch")


@pytest.mark.django_db
@pytest.mark.chain
def test_the_command_writes_the_file_the_api_serves(exported, tmp_path):
    document, venue = exported
    target = tmp_path / "batch.json"
    out = io.StringIO()
    call_command(
        "proposal",
        "export-safe",
        "--proposal",
        str(document.pk),
        "--venue",
        str(venue.pk),
        "--out",
        str(target),
        stdout=out,
    )
    written = json.loads(target.read_text())
    assert written == APIClient().get(f"/api/proposals/{document.pk}/safe-batch.json?venue={venue.pk}").json()
    assert f"checksum: {written['meta']['checksum']}" in out.getvalue()
    with pytest.raises(CommandError, match="cannot write"):
        call_command(
            "proposal",
            "export-safe",
            "--proposal",
            str(document.pk),
            "--venue",
            str(venue.pk),
            "--out",
            str(tmp_path / "missing" / "batch.json"),
        )
    with pytest.raises(CommandError, match="there is no proposal document 999999"):
        call_command("proposal", "export-safe", "--proposal", "999999", "--venue", str(venue.pk))
