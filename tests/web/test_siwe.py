"""Sign-In with Ethereum (EIP-4361): the message text against viem's, the strict parser, every check of
``verify``, and the nonce, login and logout views with CSRF enforced."""

import dataclasses
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from eth_account import Account
from eth_account.messages import encode_defunct

from chain import devkeys
from chain.artifacts import factory
from chain.rpc import connect
from chain.transact import send
from web import siwe
from web.models import SiweNonce

ORACLE = Path(__file__).resolve().parent.parent / "js" / "siwe_oracle.mjs"
HOLDER_KEY = devkeys.COMMITTEE_KEY
HOLDER = Account.from_key(HOLDER_KEY).address
OTHER_KEY = devkeys.ATTACKER_KEY
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
DOMAIN = "lifeboat.example"
URI = "https://lifeboat.example/"
CHAIN = 31337


def viem(op: str, **payload: Any) -> dict[str, Any]:
    """One call to tests/js/siwe_oracle.mjs (viem/siwe)."""
    result = subprocess.run(
        ["node", str(ORACLE)],
        input=json.dumps({"op": op, **payload}),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def viem_fields(message: siwe.SiweMessage) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "domain": message.domain,
        "address": message.address,
        "uri": message.uri,
        "version": message.version,
        "chainId": message.chain_id,
        "nonce": message.nonce,
        "issuedAt": siwe.format_time(message.issued_at),
    }
    optional = {
        "statement": message.statement,
        "scheme": message.scheme,
        "expirationTime": message.expiration_time and siwe.format_time(message.expiration_time),
        "notBefore": message.not_before and siwe.format_time(message.not_before),
        "requestId": message.request_id,
        "resources": list(message.resources) or None,
    }
    return fields | {name: value for name, value in optional.items() if value is not None}


def a_message(**changes: Any) -> siwe.SiweMessage:
    base = siwe.SiweMessage(
        domain=DOMAIN,
        address=HOLDER,
        statement="Sign in to Lifeboat to review recovery proposals, check your account and vote.",
        uri=URI,
        chain_id=CHAIN,
        nonce="0123456789abcdefABCDEF",
        issued_at=NOW - timedelta(seconds=5),
        expiration_time=NOW + timedelta(minutes=10),
    )
    return dataclasses.replace(base, **changes)


FULL = a_message(
    scheme="https",
    not_before=NOW - timedelta(minutes=1),
    request_id="req-42",
    resources=("ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/", "https://lifeboat.example/terms"),
)


def sign(text: str, key: str = HOLDER_KEY) -> str:
    return Account.sign_message(encode_defunct(text=text), private_key=key).signature.to_0x_hex()


# --- The text, against viem ---


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(a_message(), id="statement-and-expiry"),
        pytest.param(FULL, id="every-field"),
        pytest.param(a_message(expiration_time=None), id="required-fields-and-statement"),
    ],
)
def test_the_message_text_is_the_one_viem_creates_for_the_same_fields(message: siwe.SiweMessage):
    assert siwe.format_message(message) == viem("create", fields=viem_fields(message))["message"]


@pytest.mark.parametrize("message", [a_message(), FULL, a_message(statement=None)], ids=["plain", "full", "bare"])
def test_viem_reads_lifeboats_text_back_to_the_same_fields(message: siwe.SiweMessage):
    parsed = viem("parse", message=siwe.format_message(message))["fields"]
    assert parsed == viem_fields(message)


@pytest.mark.parametrize("message", [a_message(), FULL, a_message(statement=None)], ids=["plain", "full", "bare"])
def test_a_formatted_message_parses_back_to_its_fields(message: siwe.SiweMessage):
    assert siwe.parse_message(siwe.format_message(message)) == message


def test_without_a_statement_two_empty_lines_follow_the_address_as_in_the_abnf_and_viem():
    message = a_message(statement=None)
    text = siwe.format_message(message)
    assert f"{HOLDER}\n\n\nURI: " in text  # the ABNF: address LF LF [statement LF] LF "URI: "
    assert text == viem("create", fields=viem_fields(message))["message"]
    with pytest.raises(ValueError, match="line 5: expected an empty line after the statement"):
        siwe.parse_message(text.replace("\n\n\nURI: ", "\n\nURI: "))


def test_viem_validates_a_lifeboat_message_for_its_domain_nonce_and_time():
    text = siwe.format_message(FULL)
    answer = viem("validate", message=text, domain=DOMAIN, nonce=FULL.nonce, time=NOW.isoformat())
    assert answer["valid"] is True
    late = viem("validate", message=text, domain=DOMAIN, nonce=FULL.nonce, time=(NOW + timedelta(hours=1)).isoformat())
    assert late["valid"] is False


def test_format_refuses_fields_the_abnf_does_not_allow():
    for change, words in [
        ({"statement": "two\nlines"}, "statement"),
        ({"nonce": "short"}, "nonce"),
        ({"version": "2"}, "version"),
        ({"uri": "not a uri"}, "uri"),
        ({"domain": "https://lifeboat.example"}, "domain"),
        ({"issued_at": datetime(2026, 12, 1, 12, 0)}, "timezone-aware"),  # naive on purpose
        ({"resources": ("a b",)}, "resource"),
    ]:
        with pytest.raises(ValueError, match=words):
            siwe.format_message(a_message(**change))


# --- The strict parser ---

GOOD = siwe.format_message(FULL)


def _replace_line(number: int, line: str) -> str:
    lines = GOOD.split("\n")
    lines[number - 1] = line
    return "\n".join(lines)


def _swap_lines(first: int, second: int) -> str:
    lines = GOOD.split("\n")
    lines[first - 1], lines[second - 1] = lines[second - 1], lines[first - 1]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        pytest.param(GOOD.replace("\n", "\r\n"), 1, "carriage return", id="crlf"),
        pytest.param(_replace_line(1, "lifeboat.example wants you to sign in:"), 1, "wants you", id="header"),
        pytest.param(
            _replace_line(1, "life boat wants you to sign in with your Ethereum account:"), 1, "domain", id="dom"
        ),
        pytest.param(_replace_line(2, HOLDER.lower()), 2, "EIP-55", id="address-not-checksummed"),
        pytest.param(_replace_line(2, HOLDER[:-1]), 2, "40 hex digits", id="address-short"),
        pytest.param(_replace_line(3, "x"), 3, "empty line after the address", id="no-empty-line"),
        pytest.param(_replace_line(5, "x"), 5, "empty line after the statement", id="statement-not-closed"),
        pytest.param(_replace_line(4, "Caf\u00e9 100%"), 4, "statement", id="statement-chars"),
        pytest.param(_swap_lines(6, 7), 6, "'URI: '", id="field-order"),
        pytest.param(_replace_line(6, "URI: not a uri"), 6, "URI must be", id="uri"),
        pytest.param(_replace_line(7, "Version: 2"), 7, "Version must be '1'", id="version"),
        pytest.param(_replace_line(8, "Chain ID: one"), 8, "Chain ID", id="chain-id"),
        pytest.param(_replace_line(9, "Nonce: abc"), 9, "Nonce", id="short-nonce"),
        pytest.param(_replace_line(10, "Issued At: 2026-12-01"), 10, "RFC 3339", id="date-only"),
        pytest.param(_replace_line(10, "Issued At: 2026-13-45T00:00:00Z"), 10, "not a real date", id="no-such-date"),
        pytest.param(_replace_line(11, "Expiration Time: tomorrow"), 11, "RFC 3339", id="expiry"),
        pytest.param(_replace_line(13, "Request ID: a b"), 13, "Request ID", id="request-id"),
        pytest.param(_replace_line(15, "* ipfs://x"), 15, "resources", id="resource-bullet"),
        pytest.param(GOOD + "\n", 17, "resources", id="trailing-newline-in-resources"),
        pytest.param(siwe.format_message(a_message()) + "\n", 12, "after the last field", id="trailing-newline"),
        pytest.param(siwe.format_message(a_message()) + "\nColour: blue", 12, "after the last field", id="extra"),
        pytest.param("\n".join(GOOD.split("\n")[:8]), 9, "ends where", id="truncated"),
        pytest.param("", 0, "empty", id="empty"),
    ],
)
def test_a_malformed_message_is_refused_naming_the_wrong_line(text: str, line: int, words: str):
    with pytest.raises(ValueError, match=words) as refused:
        siwe.parse_message(text)
    if line:
        assert str(refused.value).startswith(f"line {line}: ")


# --- verify: the signature, the server's fields, the times and the nonce ---


@pytest.fixture
def issued(db: None) -> SiweNonce:
    return siwe.issue_nonce(now=NOW - timedelta(seconds=5))


def _verify(text: str, signature: str, **overrides: Any) -> str:
    expected: dict[str, Any] = {
        "expected_domain": DOMAIN,
        "expected_uri": URI,
        "expected_chain_id": CHAIN,
        "expected_scheme": "https",
        "now": NOW,
    }
    return siwe.verify(text, signature, **(expected | overrides))


def test_a_message_signed_by_viem_verifies_and_spends_its_nonce(issued: SiweNonce):
    text = siwe.format_message(dataclasses.replace(FULL, nonce=issued.nonce))
    signed = viem("sign", message=text, privateKey=HOLDER_KEY)
    assert signed["address"] == HOLDER
    assert _verify(text, signed["signature"]) == HOLDER
    issued.refresh_from_db()
    assert issued.used_at == NOW and issued.address == HOLDER


def test_a_replayed_message_is_refused_with_a_conflict(issued: SiweNonce):
    text = siwe.format_message(a_message(nonce=issued.nonce))
    _verify(text, sign(text))
    with pytest.raises(siwe.NonceReplayed) as replay:
        _verify(text, sign(text))
    assert replay.value.status == 409


@pytest.mark.parametrize(
    ("change", "error", "expected"),
    [
        pytest.param({"domain": "evil.example"}, siwe.WrongDomain, {}, id="domain"),
        pytest.param({"scheme": "http"}, siwe.WrongDomain, {}, id="scheme"),
        pytest.param({"uri": "https://lifeboat.example/other"}, siwe.WrongUri, {}, id="uri"),
        pytest.param({"chain_id": 1}, siwe.WrongChain, {}, id="chain"),
        pytest.param({"issued_at": NOW + timedelta(minutes=5)}, siwe.IssuedInFuture, {}, id="issued-in-future"),
        pytest.param({"expiration_time": NOW}, siwe.MessageExpired, {}, id="expired"),
        pytest.param({"not_before": NOW + timedelta(seconds=1)}, siwe.NotYetValid, {}, id="not-yet-valid"),
        pytest.param({"nonce": "neverIssued0000"}, siwe.UnknownNonce, {}, id="unknown-nonce"),
        pytest.param({}, siwe.NonceExpired, {"now": NOW + timedelta(minutes=11)}, id="nonce-expired"),
    ],
)
def test_a_message_the_server_did_not_ask_for_is_refused(
    issued: SiweNonce, change: dict[str, Any], error: type[siwe.SiweError], expected: dict[str, Any]
):
    message = (
        a_message(nonce=issued.nonce, expiration_time=None) if "now" in expected else a_message(nonce=issued.nonce)
    )
    text = siwe.format_message(dataclasses.replace(message, **change))
    with pytest.raises(error) as refused:
        _verify(text, sign(text), **expected)
    assert refused.value.status == 401
    issued.refresh_from_db()
    assert issued.used_at is None  # a refused message spends nothing


def test_a_tampered_text_or_another_keys_signature_is_refused(issued: SiweNonce):
    text = siwe.format_message(a_message(nonce=issued.nonce))
    tampered = text.replace("check your account", "drain my account")
    with pytest.raises(siwe.BadSignature, match=r"not .* over this message"):
        _verify(tampered, sign(text))
    with pytest.raises(siwe.BadSignature, match=Account.from_key(OTHER_KEY).address):
        _verify(text, sign(text, OTHER_KEY))
    assert _verify(text, sign(text)) == HOLDER  # the nonce survived both refusals


@pytest.mark.parametrize(
    ("signature", "error"),
    [
        ("0x1234", siwe.MalformedSignature),
        ("not hex", siwe.MalformedSignature),
        ("0x" + "00" * 65, siwe.BadSignature),
    ],
)
def test_a_malformed_signature_is_refused(issued: SiweNonce, signature: str, error: type[siwe.SiweError]):
    text = siwe.format_message(a_message(nonce=issued.nonce))
    with pytest.raises(error):
        _verify(text, signature)


def test_a_malformed_message_is_a_bad_request(issued: SiweNonce):
    text = siwe.format_message(a_message(nonce=issued.nonce)).replace("Version: 1", "Version: 2")
    with pytest.raises(siwe.MalformedMessage, match="line 7: Version") as refused:
        _verify(text, sign(text))
    assert refused.value.status == 400


@pytest.mark.chain
def test_a_contract_wallet_signs_in_through_eip1271(w3, demo, deployer, issued: SiweNonce):
    wallet = send(w3, deployer, factory(w3, "ERC1271Wallet").constructor(HOLDER))["contractAddress"]
    text = siwe.format_message(a_message(nonce=issued.nonce, address=wallet))
    with pytest.raises(siwe.BadSignature, match="contract wallet"):
        _verify(text, sign(text, OTHER_KEY), w3=w3)
    assert _verify(text, sign(text), w3=w3) == wallet  # the owner's signature, accepted by the wallet


# --- The views ---


@pytest.fixture
def browser(chain_settings: object, db: None) -> Client:
    chain_settings.CHAIN_ID = CHAIN  # type: ignore[attr-defined]
    return Client(enforce_csrf_checks=True)


def _login(browser: Client, payload: Any) -> Any:
    return browser.post(
        "/auth/siwe/login/",
        data=json.dumps(payload),
        content_type="application/json",
        headers={"X-CSRFToken": browser.cookies["csrftoken"].value},
    )


def test_a_holder_signs_in_and_out_and_the_session_holds_the_address(browser: Client):
    issued = browser.get("/auth/siwe/nonce/", {"address": HOLDER.lower()})
    assert issued.status_code == 200, issued.content
    fields = issued.json()
    assert fields["domain"] == "testserver" and fields["uri"] == "http://testserver/" and fields["chain_id"] == CHAIN
    assert siwe.parse_message(fields["message"]).address == HOLDER

    answer = _login(browser, {"message": fields["message"], "signature": sign(fields["message"])})
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"address": HOLDER}
    assert browser.session["holder_address"] == HOLDER

    replay = _login(browser, {"message": fields["message"], "signature": sign(fields["message"])})
    assert replay.status_code == 409
    assert replay.json()["error"]["code"] == "siwe_nonce_used"

    out = browser.post("/auth/siwe/logout/", headers={"X-CSRFToken": browser.cookies["csrftoken"].value})
    assert out.status_code == 200 and out.json() == {"address": None}
    assert "holder_address" not in browser.session


def test_the_page_can_build_the_message_itself_from_the_fields(browser: Client):
    fields = browser.get("/auth/siwe/nonce/").json()
    assert "message" not in fields
    text = viem(
        "create",
        fields={
            "domain": "lifeboat.example",  # viem refuses a dotless host such as "testserver"; checked below
            "address": HOLDER,
            "statement": fields["statement"],
            "uri": fields["uri"],
            "version": fields["version"],
            "chainId": fields["chain_id"],
            "nonce": fields["nonce"],
            "issuedAt": fields["issued_at"],
            "expirationTime": fields["expiration_time"],
        },
    )["message"].replace("lifeboat.example wants", "testserver wants", 1)
    answer = _login(browser, {"message": text, "signature": sign(text)})
    assert answer.status_code == 200, answer.content


def test_a_login_without_the_csrf_token_is_forbidden(browser: Client):
    fields = browser.get("/auth/siwe/nonce/", {"address": HOLDER}).json()
    answer = browser.post(
        "/auth/siwe/login/",
        data=json.dumps({"message": fields["message"], "signature": sign(fields["message"])}),
        content_type="application/json",
    )
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == "csrf_failed" and "X-CSRFToken" in error["message"] and "csrftoken" in error["message"]
    assert "holder_address" not in browser.session
    assert not SiweNonce.objects.filter(used_at__isnull=False).exists()  # the nonce was not spent


def test_a_logout_without_the_csrf_token_is_forbidden_in_json_and_keeps_the_holder(browser: Client):
    fields = browser.get("/auth/siwe/nonce/", {"address": HOLDER}).json()
    assert _login(browser, {"message": fields["message"], "signature": sign(fields["message"])}).status_code == 200
    answer = browser.post("/auth/siwe/logout/")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "csrf_failed"
    assert browser.session["holder_address"] == HOLDER


def test_a_page_form_without_the_csrf_token_gets_a_page_saying_to_reload(browser: Client):
    answer = browser.post("/login/", {"username": "someone", "password": "x"})
    assert answer.status_code == 403 and answer["Content-Type"].startswith("text/html")
    text = answer.content.decode()
    assert "Reload the page and try again" in text and "csrf_failed" not in text


def test_the_headers_sign_out_form_without_javascript_goes_back_to_the_page(browser: Client):
    fields = browser.get("/auth/siwe/nonce/", {"address": HOLDER}).json()
    assert _login(browser, {"message": fields["message"], "signature": sign(fields["message"])}).status_code == 200
    token = browser.cookies["csrftoken"].value
    answer = browser.post("/auth/siwe/logout/", {"next": "/proposals/", "csrfmiddlewaretoken": token})
    assert answer.status_code == 302 and answer["Location"] == "/proposals/"
    assert "holder_address" not in browser.session
    fields = browser.get("/auth/siwe/nonce/", {"address": HOLDER}).json()
    assert _login(browser, {"message": fields["message"], "signature": sign(fields["message"])}).status_code == 200
    token = browser.cookies["csrftoken"].value
    elsewhere = browser.post("/auth/siwe/logout/", {"next": "https://evil.example/", "csrfmiddlewaretoken": token})
    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/"


def test_nonces_are_limited_per_client_address_with_retry_after(browser: Client, settings):
    settings.SIWE_NONCES_PER_IP_PER_HOUR = 3
    for _ in range(3):
        assert browser.get("/auth/siwe/nonce/").status_code == 200
    refused = browser.get("/auth/siwe/nonce/", REMOTE_ADDR="127.0.0.1")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "siwe_rate_limited"
    assert 3500 <= int(refused["Retry-After"]) <= 3600
    assert SiweNonce.objects.count() == 3  # nothing issued
    other = browser.get("/auth/siwe/nonce/", REMOTE_ADDR="10.0.0.7")
    assert other.status_code == 200  # another address has its own allowance
    # An hour later the first three have left the window.
    SiweNonce.objects.filter(client_ip="127.0.0.1").update(issued_at=datetime.now(UTC) - timedelta(hours=1, seconds=1))
    assert browser.get("/auth/siwe/nonce/").status_code == 200


def test_issuing_a_nonce_purges_the_long_dead_ones(db: None):
    old = siwe.issue_nonce(now=NOW - siwe.NONCE_RETENTION - siwe.NONCE_LIFETIME - timedelta(seconds=1))
    recent = siwe.issue_nonce(now=NOW - timedelta(hours=2))
    siwe.issue_nonce(now=NOW)
    assert not SiweNonce.objects.filter(pk=old.pk).exists()
    assert SiweNonce.objects.filter(pk=recent.pk).exists()


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        pytest.param("not json", 400, "invalid", id="not-json"),
        pytest.param([1, 2], 400, "invalid", id="not-an-object"),
        pytest.param({"message": "x"}, 400, "invalid", id="no-signature"),
        pytest.param({"message": "x", "signature": "0x00"}, 400, "siwe_malformed_message", id="malformed"),
    ],
)
def test_a_bad_login_body_is_a_bad_request(browser: Client, payload: Any, status: int, code: str):
    browser.get("/auth/siwe/nonce/")
    if payload == "not json":
        answer = browser.post(
            "/auth/siwe/login/",
            data="not json",
            content_type="application/json",
            headers={"X-CSRFToken": browser.cookies["csrftoken"].value},
        )
    else:
        answer = _login(browser, payload)
    assert answer.status_code == status, answer.content
    assert answer.json()["error"]["code"] == code


def test_a_message_for_another_site_is_refused_with_what_was_wrong(browser: Client):
    fields = browser.get("/auth/siwe/nonce/", {"address": HOLDER}).json()
    text = fields["message"].replace("testserver wants", "evil.example wants", 1)
    answer = _login(browser, {"message": text, "signature": sign(text)})
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "siwe_wrong_domain" and "evil.example" in error["message"]
    assert "holder_address" not in browser.session


def test_a_nonce_for_a_bad_address_is_a_bad_request(browser: Client):
    answer = browser.get("/auth/siwe/nonce/", {"address": "0x1234"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid"


def test_a_signature_no_account_made_is_a_503_when_the_node_cannot_say_whether_a_contract_wallet_made_it(
    issued: SiweNonce,
):
    text = siwe.format_message(a_message(nonce=issued.nonce))
    with pytest.raises(siwe.ChainUnavailable, match="could not be checked") as refused:
        _verify(text, sign(text, OTHER_KEY), w3=connect("http://127.0.0.1:9", timeout=2))
    assert refused.value.status == 503
    assert _verify(text, sign(text), w3=connect("http://127.0.0.1:9", timeout=2)) == HOLDER  # no node needed
