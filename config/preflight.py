"""Start-up checks: a process with bad configuration stops with one line naming the setting.

Run by ``manage.py preflight`` (``make run`` calls it before starting anything) and by every
Celery worker at start-up. Each check fails with a ``ConfigurationError`` whose text begins
with the setting to fix; the text is redacted (no URL credentials, no key material).

The embedded mode (no ``CHAIN_RPC_URL``) defaults DEBUG, the secret key and anvil's public
dev keys; those are safe only on the dev chain, so preflight accepts the embedded mode only
when the node answers as anvil (``web3_clientVersion`` starting with ``anvil``) with chain id
31337.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, connection

from chain.errors import KeyMaterialError, RpcUnavailable, WrongChain
from chain.redaction import redact, redact_url

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3


class ConfigurationError(Exception):
    """A setting is wrong; the message starts with its name and carries no secret."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message, secrets=settings.LIFEBOAT_SECRETS))


@dataclass(frozen=True, slots=True)
class Preflight:
    chain_id: int
    head_block: int
    accounts: dict[str, str]  # role -> address


def load_role_account(role: str) -> "LocalAccount":
    """The signing account of ``role`` (executor, relayer, committee) from its settings."""
    from chain.keys import load_account  # eth_account is heavy; commands that need no key skip it

    key = settings.LIFEBOAT_KEYS[role]
    prefix = key["role"]
    if not key["private_key"] and not key["keystore"]:
        raise ConfigurationError(
            f"{prefix}_PRIVATE_KEY: no {role} key is configured; set {prefix}_PRIVATE_KEY, "
            f"or {prefix}_KEYSTORE and {prefix}_KEYSTORE_PASSWORD"
        )
    setting = f"{prefix}_PRIVATE_KEY" if key["private_key"] else f"{prefix}_KEYSTORE"
    try:
        return load_account(
            private_key=key["private_key"], keystore=key["keystore"], keystore_password=key["keystore_password"]
        )
    except KeyMaterialError as error:
        raise ConfigurationError(f"{setting}: {error}") from None


def check_configuration() -> Preflight:
    # Imported here: web3 and kombu take most of a second to import, and `--help` needs neither.
    from kombu import Connection

    from chain.rpc import connect, require_chain

    try:
        connection.ensure_connection()
    except DatabaseError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigurationError(f"DATABASE_URL: cannot connect to the database ({first})") from None

    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("filesystem://"):
        try:
            with Connection(broker, connect_timeout=5) as conn:
                conn.ensure_connection(max_retries=1)
        except Exception as error:  # kombu raises transport-specific errors; any of them means no broker
            raise ConfigurationError(
                f"CELERY_BROKER_URL: cannot reach the broker at {redact_url(broker)} ({error})"
            ) from None

    try:
        w3 = connect(settings.CHAIN_RPC_URL, timeout=min(settings.CHAIN_RPC_TIMEOUT, 10))
        chain_id = require_chain(w3, settings.CHAIN_ID)
        head = int(w3.eth.block_number)
    except WrongChain as error:
        raise ConfigurationError(f"CHAIN_ID: {error}; point CHAIN_RPC_URL at the right node or fix CHAIN_ID") from None
    except RpcUnavailable as error:
        hint = " (`make run` starts the dev chain)" if settings.EMBEDDED else ""
        raise ConfigurationError(f"CHAIN_RPC_URL: {error}{hint}") from None
    if settings.EMBEDDED:
        require_dev_chain(w3, chain_id)

    accounts = {role: load_role_account(role).address for role in settings.LIFEBOAT_KEYS}
    return Preflight(chain_id=chain_id, head_block=head, accounts=accounts)


def require_dev_chain(w3: "Web3", chain_id: int) -> None:
    """Refuse the embedded mode's defaults unless the node is the dev chain: anvil, chain id 31337.

    A real node listening where the dev chain should be (127.0.0.1:8545) must never be driven
    with anvil's public keys, DEBUG and the insecure secret key.
    """
    from chain.rpc import client_version

    try:
        version = client_version(w3)
    except RpcUnavailable as error:
        raise ConfigurationError(f"CHAIN_RPC_URL: {error}") from None
    if version.lower().startswith("anvil") and chain_id == settings.DEVCHAIN_CHAIN_ID:
        return
    raise ConfigurationError(
        f"CHAIN_RPC_URL: the node at {settings.CHAIN_RPC_URL} answers as {version[:60]!r} with chain id {chain_id}, "
        f"not as the dev chain (anvil, chain id {settings.DEVCHAIN_CHAIN_ID}), and the embedded mode's dev keys, "
        "DEBUG and secret key are only for the dev chain; to use this node set CHAIN_RPC_URL, SECRET_KEY and "
        "EXECUTOR_PRIVATE_KEY, RELAYER_PRIVATE_KEY, COMMITTEE_PRIVATE_KEY (or each role's _KEYSTORE and "
        "_KEYSTORE_PASSWORD)"
    )


def refuse_a_real_node_in_the_embedded_mode() -> None:
    """For the web process at start: in the embedded mode, stop if a node answers that is not the dev chain.

    The web server runs with DEBUG and the insecure secret key in the embedded mode; against a
    real node that would be a production server with forgeable sessions. A node that does not
    answer is let through: the pages say the chain is unreachable, and `make run` has already
    run the full preflight.
    """
    if not settings.EMBEDDED:
        return
    from chain.rpc import chain_id, connect

    w3 = connect(settings.CHAIN_RPC_URL, timeout=3)
    try:
        actual = chain_id(w3)
    except RpcUnavailable:
        return
    require_dev_chain(w3, actual)
