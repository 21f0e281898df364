"""Start-up checks: a process with bad configuration stops with one line naming the setting.

Run by ``manage.py preflight`` (``make run`` calls it before starting anything) and by every
Celery worker at start-up. Each check fails with a ``ConfigurationError`` whose text begins
with the setting to fix.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection
from eth_account.signers.local import LocalAccount
from kombu import Connection

from chain.errors import KeyMaterialError, RpcUnavailable, WrongChain
from chain.keys import load_account
from chain.rpc import connect, require_chain


class ConfigurationError(Exception):
    """A setting is wrong; the message starts with its name."""


@dataclass(frozen=True, slots=True)
class Preflight:
    chain_id: int
    head_block: int
    accounts: dict[str, str]  # role -> address


def load_role_account(role: str) -> LocalAccount:
    """The signing account of ``role`` (executor, relayer, committee) from its settings."""
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
            raise ConfigurationError(f"CELERY_BROKER_URL: cannot reach the broker at {broker} ({error})") from None

    try:
        w3 = connect(settings.CHAIN_RPC_URL, timeout=min(settings.CHAIN_RPC_TIMEOUT, 10))
        chain_id = require_chain(w3, settings.CHAIN_ID)
        head = int(w3.eth.block_number)
    except WrongChain as error:
        raise ConfigurationError(f"CHAIN_ID: {error}; point CHAIN_RPC_URL at the right node or fix CHAIN_ID") from None
    except RpcUnavailable as error:
        hint = " (`make run` starts the dev chain)" if settings.EMBEDDED else ""
        raise ConfigurationError(f"CHAIN_RPC_URL: {error}{hint}") from None

    accounts = {role: load_role_account(role).address for role in settings.LIFEBOAT_KEYS}
    return Preflight(chain_id=chain_id, head_block=head, accounts=accounts)
