"""Loading signing keys from the environment's hex keys or encrypted keystore files."""

import json
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.errors import KeyMaterialError


def load_account(*, private_key: str = "", keystore: str = "", keystore_password: str = "") -> LocalAccount:
    """The account for a hex private key, or for a V3 keystore file and its password.

    Exactly one of ``private_key`` and ``keystore`` must be given. Errors never include the key.
    """
    if private_key and keystore:
        raise KeyMaterialError("give either a private key or a keystore, not both")
    if private_key:
        try:
            return Account.from_key(private_key)
        except (ValueError, TypeError):
            raise KeyMaterialError("not a valid secp256k1 private key (expected 32 bytes as 0x-prefixed hex)") from None
    if keystore:
        path = Path(keystore)
        try:
            encrypted = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyMaterialError(f"keystore file {path} does not exist") from None
        except (OSError, json.JSONDecodeError) as error:
            raise KeyMaterialError(f"keystore file {path} is not readable JSON ({error})") from None
        try:
            return Account.from_key(Account.decrypt(encrypted, keystore_password))
        except ValueError as error:
            raise KeyMaterialError(f"cannot decrypt keystore {path}: {error} (wrong password?)") from None
    raise KeyMaterialError("no key given")
