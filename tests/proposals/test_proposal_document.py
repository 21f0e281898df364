"""The pure document core: canonical JSON, content hash, builder and Markdown body (no database)."""

import json
import subprocess
from pathlib import Path

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from proposals.document import (
    SCHEMA,
    AnalysisFacts,
    AssetFacts,
    DocumentError,
    IncidentFacts,
    PlanFacts,
    RehearsalStatus,
    allocation_tree_hash,
    build_document,
    canonical_json,
    content_hash,
    format_units,
    render_markdown,
)

ORACLE = Path(__file__).resolve().parents[1] / "js" / "canonicalize_oracle.mjs"
VAULT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
VICTIM = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
EXPLOITER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
ROLLBACK_HASH = "0x" + "11" * 32
REFERENCE_HASH = "0x" + "22" * 32
FROM_HASH = "0x" + "33" * 32
DUMP = {
    "format": "standard-v1",
    "leafEncoding": ["address", "uint256"],
    "tree": ["0x" + "aa" * 32],
    "values": [{"value": [VICTIM, "1000000000000000000000000"], "treeIndex": 0}],
}


def canonicalize_in_node(value: object) -> bytes:
    """The `canonicalize` npm package's RFC 8785 bytes for the same JSON."""
    try:
        result = subprocess.run(
            ["node", str(ORACLE)], input=json.dumps(value).encode(), capture_output=True, check=True, timeout=60
        )
    except FileNotFoundError:
        pytest.fail("node is not on PATH: this test compares against the `canonicalize` npm package")
    return result.stdout


def sample_facts(*, version: int = 1, budget: int = 5 * 10**24) -> dict:
    incident = IncidentFacts(
        id=7,
        title="Demo vault drained — “Ünïcode” title",
        kind="protocol_exploit",
        chain_id=31337,
        affected_contracts=[VAULT],
        affected_tokens=[VAULT],
        exploiters=[EXPLOITER],
        exploit_transactions=["0x" + "44" * 32],
    )
    analysis = AnalysisFacts(
        id=3,
        rollback_block=100,
        rollback_block_hash=ROLLBACK_HASH,
        reference_block=105,
        reference_block_hash=REFERENCE_HASH,
        from_block=2,
        from_block_hash=FROM_HASH,
        node_chain_id=31337,
        unconfirmed=False,
        tracked_assets=[VAULT],
        summary={
            "decimals": {VAULT: 18},
            "assets": {
                VAULT: {
                    "accounts_seen": 24,
                    "affected": 19,
                    "losers": 18,
                    "gainers": 1,
                    "total_losses": "1000000000000000000000000",
                    "total_gains": "1000000000000000000000000",
                    "exploiter_gains": "1000000000000000000000000",
                    "net_change": "0",
                    "top_losers": [{"account": VICTIM, "loss": "1000000000000000000000000", "value": None}],
                    "histogram": [{"lower": "1", "upper": None, "count": 1, "total": "1"}],
                }
            },
            "warnings": [],
            "price": None,
        },
    )
    plan = PlanFacts(
        id=11,
        version=version,
        mode="restitute",
        policy="pro_rata",
        gas_ceiling=10_000_000,
        dust_threshold=0,
        exclusions=[EXPLOITER, VAULT],
        parameter_changes=[
            {
                "target": VAULT,
                "value": "0",
                "calldata": "0xa9059cbb",
                "signature": "transfer(address,uint256)",
                "args": [VICTIM, "5"],
            }
        ],
        summary={
            "assets": {
                VAULT: {
                    "decimals": 18,
                    "payout_decimals": 18,
                    "recipients": 1,
                    "surplus": "0",
                    "excluded": [{"account": EXPLOITER, "claim": "0", "reason": "exploiter named in the incident"}],
                }
            },
            "contracts": {
                "excluded_by_default": [{"account": VAULT, "reason": "a protocol contract named in the incident"}],
                "included": [],
            },
        },
        assets=[
            AssetFacts(
                asset=VAULT,
                payout_token=VAULT,
                budget=budget,
                total_claims=10**24,
                total_allocated=10**24,
                dust_count=0,
                dust_total=0,
                allocation_root="0x" + "55" * 32,
                commitment_root="0x" + "66" * 32,
                onchain_plan_id=2**255 + 1,
                batch_count=1,
                allocation_dump=DUMP,
            )
        ],
    )
    return {"incident": incident, "analysis": analysis, "plan": plan}


def _walk(value: object) -> list[object]:
    if isinstance(value, dict):
        return [value, *(item for child in value.values() for item in _walk(child))]
    if isinstance(value, list):
        return [value, *(item for child in value for item in _walk(child))]
    return [value]


def test_the_canonical_bytes_and_hash_are_the_same_on_every_build():
    first = canonical_json(build_document(**sample_facts()))
    second = canonical_json(build_document(**sample_facts()))
    assert first == second
    assert content_hash(first) == content_hash(second) == "0x" + keccak(first).hex()


@given(st.permutations(["schema", "incident", "analysis", "impact", "plan", "parameter_changes", "assets"]))
def test_the_canonical_bytes_do_not_depend_on_the_order_keys_were_inserted(order):
    document = build_document(**sample_facts())
    reordered = {key: document[key] for key in order}
    assert canonical_json(reordered) == canonical_json(document)


def test_the_canonical_bytes_equal_those_of_the_canonicalize_npm_package():
    document = build_document(**sample_facts())
    assert canonicalize_in_node(document) == canonical_json(document)


def test_a_float_anywhere_is_refused():
    with pytest.raises(DocumentError, match=r"\$\.a\[1\]\.b is a float"):
        canonical_json({"a": [1, {"b": 0.5}]})


def test_an_integer_json_readers_cannot_hold_exactly_is_refused():
    with pytest.raises(DocumentError, match="2\\*\\*53"):
        canonical_json({"amount": 2**53})


def test_the_document_holds_amounts_and_ids_as_strings_and_no_float():
    document = build_document(**sample_facts())
    assert not [item for item in _walk(document) if isinstance(item, float)]
    asset = document["assets"][0]
    assert asset["budget"] == str(5 * 10**24)
    assert asset["onchain_plan_id"] == str(2**255 + 1)
    assert document["incident"]["chain_id"] == "31337"
    assert document["schema"] == SCHEMA


def test_the_document_covers_the_allocation_tree_by_its_hash_not_its_contents():
    document = build_document(**sample_facts())
    tree = document["assets"][0]["allocation_tree"]
    assert tree["hash"] == "0x" + keccak(canonical_json(DUMP)).hex() == allocation_tree_hash(DUMP)
    assert "values" not in json.dumps(document["assets"])


def test_a_different_plan_version_has_a_different_content_hash():
    one = content_hash(canonical_json(build_document(**sample_facts(version=1))))
    two = content_hash(canonical_json(build_document(**sample_facts(version=2))))
    assert one != two


def test_the_exclusions_carry_their_reasons():
    exclusions = build_document(**sample_facts())["plan"]["exclusions"]
    assert exclusions == [
        {"account": EXPLOITER, "reason": "exploiter named in the incident"},
        {"account": VAULT, "reason": "a protocol contract named in the incident"},
    ]


@pytest.mark.parametrize(
    ("amount", "decimals", "shown"),
    [
        (0, 18, "0"),
        (10**18, 18, "1"),
        (1_234_567 * 10**18 + 5 * 10**17, 18, "1,234,567.5"),
        (1, 18, "0.000000000000000001"),
        (-25, 1, "-2.5"),
        (2**256 - 1, 0, f"{2**256 - 1:,}"),
        ("1000000", 6, "1"),
    ],
)
def test_amounts_are_formatted_exactly_with_the_token_decimals(amount, decimals, shown):
    assert format_units(amount, decimals) == shown


def test_the_body_names_the_blocks_the_roots_and_ends_with_the_content_hash():
    document = build_document(**sample_facts())
    digest = content_hash(canonical_json(document))
    body = render_markdown(document, content_hash=digest, document_url="/api/proposals/1/document.json")
    assert body.rstrip("\n").splitlines()[-1] == f"content-hash: {digest}"
    for expected in (ROLLBACK_HASH, REFERENCE_HASH, "0x" + "55" * 32, "0x" + "66" * 32, "chain id 31337"):
        assert expected in body
    assert "1,000,000 (1000000000000000000000000 base units)" in body
    assert "`transfer(address,uint256)`" in body
    assert "Rehearsal: not yet run" in body
    assert "RFC 8785" in body
    assert "keccak256" in body


def test_the_body_shows_a_rehearsal_result_once_one_is_attached():
    document = build_document(**sample_facts())
    body = render_markdown(
        document, content_hash="0x00", rehearsal=RehearsalStatus(passed=False, report_hash="0xabc", summary="3 steps")
    )
    assert "Rehearsal: FAILED. 3 steps" in body
    assert "Report hash: 0xabc" in body
