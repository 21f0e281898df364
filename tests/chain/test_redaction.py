"""Secrets never leave: URLs keep scheme, host and port only."""

import pytest

from chain.redaction import redact, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://node.example/v3/0123456789abcdef0123456789abcdef", "https://node.example/***"),
        ("https://eth.node.example:8443/?apikey=SECRETKEY123", "https://eth.node.example:8443/***"),
        ("amqp://guest:hunter22@127.0.0.1:5672//", "amqp://***@127.0.0.1:5672/***"),
        ("redis://:pw-pw-pw@127.0.0.1:6379/15", "redis://***@127.0.0.1:6379/***"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://127.0.0.1:8545/", "http://127.0.0.1:8545"),
        ("postgres://postgres@127.0.0.1:5432/postgres", "postgres://***@127.0.0.1:5432/***"),
        ("http://[::1]:8545/key", "http://[::1]:8545/***"),
    ],
)
def test_a_url_keeps_only_scheme_host_and_port(url, shown):
    assert redact_url(url) == shown


def test_urls_inside_text_are_redacted_and_the_sentence_kept():
    text = "eth_blockNumber at https://node.example/v3/KEYKEYKEY failed 3 times, last: refused."
    assert redact(text) == "eth_blockNumber at https://node.example/*** failed 3 times, last: refused."


def test_a_url_quoted_in_a_repr_is_redacted():
    assert redact("'https://n.example/v2/abc?x=1' is not reachable") == "'https://n.example/***' is not reachable"


def test_named_secrets_are_masked_wherever_they_appear():
    key = "0x" + "ab" * 32
    assert redact(f"signing with {key} for x", secrets=[key, "", "abc"]) == "signing with *** for x"


def test_a_malformed_url_is_reduced_to_its_scheme():
    assert redact_url("http://host:notaport/KEY") == "http://***"


def test_the_path_of_a_secret_url_is_masked_where_it_appears_alone():
    url = "https://node.example/v3/0123456789abcdef"
    text = "HTTPSConnectionPool(host='node.example', port=443): Max retries exceeded with url: /v3/0123456789abcdef"
    assert "0123456789abcdef" not in redact(text, secrets=[url])


def test_the_password_of_a_secret_broker_url_is_masked_where_it_appears_alone():
    url = "redis://:s3cret-pass@127.0.0.1:6379/1"
    assert redact("AUTH s3cret-pass refused", secrets=[url]) == "AUTH *** refused"
