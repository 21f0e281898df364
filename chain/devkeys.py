"""Anvil's public development keys (the "test test ... junk" mnemonic).

Everyone knows these keys: they are defaults for the embedded dev chain only, never used
when ``CHAIN_RPC_URL`` points at a real node.
"""

DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # account 0
EXECUTOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # account 1
RELAYER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"  # account 2
COMMITTEE_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"  # account 3
# The dev committee: three members (accounts 3, 4 and 5); sign-off needs two of them by default.
COMMITTEE_KEYS = (
    COMMITTEE_KEY,
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",  # account 4
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",  # account 5
)
ATTACKER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"  # account 9
