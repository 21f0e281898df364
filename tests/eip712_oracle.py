"""Calling the ethers EIP-712 oracle (tests/js/eip712_oracle.mjs) from Python tests."""

import json
import subprocess
from pathlib import Path
from typing import Any

ORACLE = Path(__file__).resolve().parent / "js" / "eip712_oracle.mjs"


def ethers_typed_data(typed_data: dict[str, Any], *, private_key: str | None = None) -> dict[str, str]:
    """ethers' digest of ``typed_data`` ({domain, types, primaryType, message}), and its signature with a key."""
    payload = {**typed_data, **({"privateKey": private_key} if private_key else {})}
    result = subprocess.run(
        ["node", str(ORACLE)], input=json.dumps(payload), capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
