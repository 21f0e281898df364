"""The demo protocol on a dev chain: deploy it, seed holders, and exploit its vault.

Used by ``manage.py devchain``, ``manage.py demo`` and the test fixtures. Works on any node
that accepts anvil's ``anvil_setBalance`` (to fund the holders' gas).
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from chain import devkeys
from chain.artifacts import bind, factory
from chain.keys import load_account
from chain.margin import BPS, LIQUIDATION_THRESHOLD_BPS, PRICE_SCALE
from chain.transact import send, wait_for

GOV_DECIMALS = 18
ASSET_DECIMALS = 6
GOV_SUPPLY = 100_000_000 * 10**GOV_DECIMALS
VOTING_DELAY_BLOCKS = 1
VOTING_PERIOD_BLOCKS = 50
QUORUM_PERCENT = 4
TIMELOCK_DELAY_SECONDS = 60
FEED_DECIMALS = 8
MARGIN_NAME = "Lifeboat USD credit"
# Asset minted to each margin market up front: it pays the profit of positions closed in profit.
MARGIN_RESERVE = 10_000_000 * 10**ASSET_DECIMALS
# Six kinds of margin account, cycling by holder index: see margin_position.
MARGIN_KINDS = 6
_FEES = {"maxFeePerGas": 20 * 10**9, "maxPriorityFeePerGas": 10**9}


@dataclass(frozen=True, slots=True)
class DeployedContract:
    name: str  # the artifact's contract name
    address: ChecksumAddress
    block: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class DemoDeployment:
    chain_id: int
    rpc_url: str
    deployer: ChecksumAddress
    executor: ChecksumAddress
    committee: ChecksumAddress
    contracts: dict[str, DeployedContract]  # by role: token, timelock, governor, asset, vault, ...
    holders: list[ChecksumAddress] = field(default_factory=list)

    def address(self, role: str) -> ChecksumAddress:
        return self.contracts[role].address

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "DemoDeployment":
        contracts = {role: DeployedContract(**item) for role, item in raw["contracts"].items()}
        return cls(**{**raw, "contracts": contracts})


def holder_account(index: int) -> LocalAccount:
    """Demo holder ``index``'s key: derived from a public seed, so it is worthless off the dev chain."""
    return Account.from_key(keccak(text=f"lifeboat-demo-holder-{index}"))


def holder_deposit(index: int) -> int:
    """A spread of deposits (in dUSD base units): a few whales, many small holders."""
    whole = 100 + (index * 7_919) % 20_000
    if index % 25 == 0:
        whole *= 40
    return whole * 10**ASSET_DECIMALS + (index * 12_345) % 10**ASSET_DECIMALS


def holder_votes(index: int) -> int:
    return (1_000 + (index * 104_729) % 100_000) * 10**GOV_DECIMALS


def _deploy(w3: Web3, deployer: LocalAccount, name: str, *args: Any) -> tuple[Contract, DeployedContract]:
    receipt = send(w3, deployer, factory(w3, name).constructor(*args))
    address = receipt["contractAddress"]
    return bind(w3, name, address), DeployedContract(
        name, address, receipt["blockNumber"], receipt["transactionHash"].to_0x_hex()
    )


def deploy_demo_stack(
    w3: Web3,
    *,
    rpc_url: str,
    deployer: LocalAccount,
    executor: ChecksumAddress,
    committee: ChecksumAddress,
) -> DemoDeployment:
    """Deploy governance (token, timelock, governor), the vault protocol, the feeds, the executor
    and the snapshot registry.

    The timelock ends up the only admin of everything governance controls: the deployer
    renounces its admin roles once the governor is wired in. Plans are approved by the timelock
    (a passed governor proposal) and by the committee (acting on a passed Snapshot vote). The
    committee is also the guardian: it may pause the vault, the executor and the margin markets'
    liquidations, shut the vault down (as governance may) and commit state snapshots. The margin
    market and its migrated twin (which only the executor may restore accounts on) come last.
    """
    deployed: dict[str, DeployedContract] = {}

    token, deployed["token"] = _deploy(w3, deployer, "LifeboatToken", deployer.address, GOV_SUPPLY)
    timelock, deployed["timelock"] = _deploy(
        w3,
        deployer,
        "LifeboatTimelock",
        TIMELOCK_DELAY_SECONDS,
        [],
        ["0x0000000000000000000000000000000000000000"],
        deployer.address,
    )
    governor, deployed["governor"] = _deploy(
        w3,
        deployer,
        "LifeboatGovernor",
        token.address,
        timelock.address,
        VOTING_DELAY_BLOCKS,
        VOTING_PERIOD_BLOCKS,
        0,
        QUORUM_PERCENT,
    )
    for role in ("PROPOSER_ROLE", "CANCELLER_ROLE"):
        send(w3, deployer, timelock.functions.grantRole(getattr(timelock.functions, role)().call(), governor.address))
    # The committee may cancel a queued operation as a last resort (the guardian's veto).
    send(w3, deployer, timelock.functions.grantRole(timelock.functions.CANCELLER_ROLE().call(), committee))

    asset, deployed["asset"] = _deploy(w3, deployer, "DemoAsset", deployer.address)
    # Governance (the timelock) may shut the vault down; the committee, as guardian, may also pause it.
    _, deployed["vault"] = _deploy(w3, deployer, "DemoVault", asset.address, timelock.address, committee)
    _, deployed["price_feed"] = _deploy(
        w3, deployer, "DemoPriceFeed", deployer.address, FEED_DECIMALS, "dUSD / USD", 10**FEED_DECIMALS
    )
    # Governance (the timelock) approves plans; so does the committee, the dev chain's approver
    # of Snapshot results. The deployer administers only long enough to grant that second role.
    recovery_executor, deployed["recovery_executor"] = _deploy(
        w3, deployer, "RecoveryExecutor", deployer.address, timelock.address, executor, committee
    )
    approver, executor_admin = (
        recovery_executor.functions.APPROVER_ROLE().call(),
        recovery_executor.functions.DEFAULT_ADMIN_ROLE().call(),
    )
    send(w3, deployer, recovery_executor.functions.grantRole(approver, committee))
    send(w3, deployer, recovery_executor.functions.grantRole(executor_admin, timelock.address))
    send(w3, deployer, recovery_executor.functions.renounceRole(executor_admin, deployer.address))
    # The migrated share token that restore-mode plans mint on: only the executor mints,
    # only governance administers.
    migrated, deployed["migrated_vault_share"] = _deploy(
        w3, deployer, "RecoveryToken", "Lifeboat Demo Vault share v2", "lbvUSD2", ASSET_DECIMALS, deployer.address
    )
    minter = migrated.functions.MINTER_ROLE().call()
    admin = migrated.functions.DEFAULT_ADMIN_ROLE().call()
    send(w3, deployer, migrated.functions.grantRole(minter, recovery_executor.address))
    send(w3, deployer, migrated.functions.grantRole(admin, timelock.address))
    send(w3, deployer, migrated.functions.renounceRole(admin, deployer.address))
    send(
        w3, deployer, timelock.functions.renounceRole(timelock.functions.DEFAULT_ADMIN_ROLE().call(), deployer.address)
    )
    # Deployed after everything else, so the addresses above stay those of earlier releases.
    # A second feed for the same pair: the monitors' deviation rule compares the two.
    _, deployed["reference_feed"] = _deploy(
        w3,
        deployer,
        "DemoPriceFeed",
        deployer.address,
        FEED_DECIMALS,
        "dUSD / USD (reference)",
        10**FEED_DECIMALS,
    )
    # Snapshot roots are committed by the committee; governance administers who may commit.
    _, deployed["snapshot_registry"] = _deploy(w3, deployer, "SnapshotRegistry", timelock.address, committee)
    deployed.update(
        _deploy_margin_markets(w3, deployer, asset, deployed, executor=recovery_executor.address, committee=committee)
    )

    return DemoDeployment(
        chain_id=int(w3.eth.chain_id),
        rpc_url=rpc_url,
        deployer=deployer.address,
        executor=executor,
        committee=committee,
        contracts=deployed,
    )


def _deploy_margin_markets(
    w3: Web3,
    deployer: LocalAccount,
    asset: Contract,
    deployed: dict[str, DeployedContract],
    *,
    executor: ChecksumAddress,
    committee: ChecksumAddress,
) -> dict[str, DeployedContract]:
    """The margin market and the migrated market restore-positions plans recreate accounts on.

    The live market is born administered by the timelock. The migrated one is born administered
    by the deployer, just long enough to grant the executor its restorer role; the role changes
    and the reserves are sent in one pipelined run (same sender, so nonces keep them in order).
    """
    timelock, feed = deployed["timelock"].address, deployed["price_feed"].address
    live, live_row = _deploy(
        w3, deployer, "MarginMarket", asset.address, feed, timelock, committee, MARGIN_NAME, "lbUSD"
    )
    migrated, migrated_row = _deploy(
        w3, deployer, "MarginMarket", asset.address, feed, deployer.address, committee, f"{MARGIN_NAME} v2", "lbUSD2"
    )
    admin, funding, restorer = (
        migrated.functions.DEFAULT_ADMIN_ROLE().call(),
        migrated.functions.FUNDING_ROLE().call(),
        migrated.functions.RESTORER_ROLE().call(),
    )
    calls = [
        migrated.functions.grantRole(restorer, executor),
        migrated.functions.grantRole(admin, timelock),
        migrated.functions.grantRole(funding, timelock),
        migrated.functions.renounceRole(funding, deployer.address),
        migrated.functions.renounceRole(admin, deployer.address),
        asset.functions.mint(live.address, MARGIN_RESERVE),
        asset.functions.mint(migrated.address, MARGIN_RESERVE),
    ]
    _send_all(w3, [(deployer, call, 120_000) for call in calls])
    return {"margin_market": live_row, "migrated_margin_market": migrated_row}


def _send_all(w3: Web3, txs: Sequence[tuple[LocalAccount, Any, int]]) -> list[HexBytes]:
    """Send ``(sender, call, gas)`` transactions in order without waiting, then wait for every receipt.

    Each sender's nonces are counted here, so its transactions run in the order given; a failed
    one raises ``Reverted`` once all were sent.
    """
    chain_id = int(w3.eth.chain_id)
    nonces: dict[str, int] = {}
    pending: list[HexBytes] = []
    for sender, call, gas in txs:
        if sender.address not in nonces:
            nonces[sender.address] = w3.eth.get_transaction_count(sender.address, "pending")
        tx = {"nonce": nonces[sender.address], "gas": gas, "chainId": chain_id, **_FEES}
        pending.append(send(w3, sender, call, tx=tx, wait=False))  # type: ignore[arg-type]
        nonces[sender.address] += 1
    for tx_hash in pending:
        wait_for(w3, tx_hash)
    return pending


def seed_holders(w3: Web3, deployment: DemoDeployment, *, deployer: LocalAccount, count: int) -> DemoDeployment:
    """Give ``count`` holders vault deposits and self-delegated votes.

    Transactions are sent without waiting for each receipt, with explicit nonces, gas and
    fees, so seeding costs one round trip a transaction; the last receipts are then checked.
    """
    chain_id = deployment.chain_id
    token = bind(w3, "LifeboatToken", deployment.address("token"))
    asset = bind(w3, "DemoAsset", deployment.address("asset"))
    vault = bind(w3, "DemoVault", deployment.address("vault"))
    holders = [holder_account(i) for i in range(count)]
    total_deposits = sum(holder_deposit(i) for i in range(count))

    send(w3, deployer, asset.functions.mint(deployer.address, total_deposits))
    send(w3, deployer, asset.functions.approve(vault.address, total_deposits))

    fees = {"maxFeePerGas": 20 * 10**9, "maxPriorityFeePerGas": 10**9, "chainId": chain_id}
    nonce = w3.eth.get_transaction_count(deployer.address, "pending")
    pending: list[HexBytes] = []
    for index, holder in enumerate(holders):
        w3.provider.make_request("anvil_setBalance", [holder.address, hex(10**18)])  # type: ignore[arg-type]
        pending.append(
            send(
                w3,
                deployer,
                vault.functions.deposit(holder_deposit(index), holder.address),
                tx={"nonce": nonce, "gas": 150_000, **fees},
                wait=False,
            )
        )
        pending.append(
            send(
                w3,
                deployer,
                token.functions.transfer(holder.address, holder_votes(index)),
                tx={"nonce": nonce + 1, "gas": 100_000, **fees},
                wait=False,
            )
        )
        nonce += 2
        pending.append(
            send(
                w3,
                holder,
                token.functions.delegate(holder.address),
                tx={"nonce": 0, "gas": 120_000, **fees},
                wait=False,
            )
        )
    for tx_hash in pending:
        wait_for(w3, tx_hash)
    return DemoDeployment.from_json({**deployment.as_json(), "holders": [h.address for h in holders]})


def exploit_vault(
    w3: Web3, deployment: DemoDeployment, *, attacker: LocalAccount, victims: Sequence[ChecksumAddress]
) -> tuple[DeployedContract, str]:
    """Drain ``victims``' vault shares to the attacker through the vault's redeem flaw.

    Returns the drainer contract and the hash of the exploit transaction (one transaction).
    """
    drainer, deployed = _deploy(w3, attacker, "VaultDrainer", attacker.address)
    receipt = send(w3, attacker, drainer.functions.drain(deployment.address("vault"), list(victims), attacker.address))
    return deployed, receipt["transactionHash"].to_0x_hex()


def fund_recovery_executor(
    w3: Web3, deployment: DemoDeployment, *, deployer: LocalAccount, token: str, amount: int
) -> int:
    """Send the RecoveryExecutor ``amount`` of ``token`` (the recovered funds a restitute plan pays out).

    The demo asset is minted; vault shares are bought by depositing enough of the asset, rounded up
    (the vault prices a deposit down). Returns the executor's balance of ``token`` afterwards.
    """
    executor = deployment.address("recovery_executor")
    asset = bind(w3, "DemoAsset", deployment.address("asset"))
    vault = bind(w3, "DemoVault", deployment.address("vault"))
    if Web3.to_checksum_address(token) == asset.address:
        send(w3, deployer, asset.functions.mint(executor, amount))
        return int(asset.functions.balanceOf(executor).call())
    if Web3.to_checksum_address(token) != vault.address:
        raise ValueError(f"{token} is neither the demo asset nor the demo vault: fund the executor yourself")
    missing = amount - int(vault.functions.balanceOf(executor).call())
    while missing > 0:
        # convertToAssets rounds down: one unit more per share bought covers the rounding.
        assets = int(vault.functions.convertToAssets(missing).call()) + 1 + missing // 10**ASSET_DECIMALS
        send(w3, deployer, asset.functions.mint(deployer.address, assets))
        send(w3, deployer, asset.functions.approve(vault.address, assets))
        send(w3, deployer, vault.functions.deposit(assets, executor))
        missing = amount - int(vault.functions.balanceOf(executor).call())
    return int(vault.functions.balanceOf(executor).call())


def margin_position(index: int) -> tuple[int, int, int, int]:
    """Holder ``index``'s margin account as seeded: ``(collateral, borrow, size, margin)`` in base units.

    Six kinds cycle by index, each with a spread of amounts: collateral only; a prudent borrow
    (30-54% of collateral); a bold borrow (67-75%); a leveraged long (2-4x its collateral and
    margin, 30% borrowed); a modest long (0.4-0.8x, 0-20% borrowed); a short (1-2.2x, 25%
    borrowed). All are healthy at a price of 1e8. After a drop to 0.80e8 the bold borrows and
    the leveraged longs (a third of the accounts) are liquidatable and the rest stay healthy,
    each kind by a wide margin so truncation never decides it.
    """
    whole = 1_000 + (index * 7_919) % 9_000
    collateral = whole * 10**ASSET_DECIMALS + (index * 12_345) % 10**ASSET_DECIMALS
    kind, step = index % MARGIN_KINDS, (index // MARGIN_KINDS) % 5
    if kind == 0:
        return collateral, 0, 0, 0
    if kind == 1:
        return collateral, collateral * (30 + 6 * step) // 100, 0, 0
    if kind == 2:
        return collateral, collateral * (67 + 2 * step) // 100, 0, 0
    margin = collateral // (20 if kind == 4 else 10)
    backing = collateral + margin
    if kind == 3:
        return collateral, backing * 30 // 100, backing * (20 + 5 * step) // 10, margin
    if kind == 4:
        return collateral, backing * (5 * step) // 100, backing * (4 + step) // 10, margin
    return collateral, backing * 25 // 100, -(backing * (10 + 3 * step) // 10), margin


def seed_margin_positions(
    w3: Web3, deployment: DemoDeployment, *, deployer: LocalAccount, count: int, market: str = "margin_market"
) -> list[ChecksumAddress]:
    """Open holders 0..count-1's margin accounts (``margin_position``) at the feed's current price.

    The holders must exist (``seed_holders`` funds their gas). The deployer mints each its
    collateral and margin, and once those are mined each holder approves, deposits, borrows and
    opens its perpetual, all without waiting per transaction. Returns the holders' addresses.
    """
    asset = bind(w3, "DemoAsset", deployment.address("asset"))
    contract = bind(w3, "MarginMarket", deployment.address(market))
    holders = [holder_account(i) for i in range(count)]
    plans = [margin_position(i) for i in range(count)]
    _send_all(
        w3,
        [
            (deployer, asset.functions.mint(h.address, c + m), 100_000)
            for h, (c, _, _, m) in zip(holders, plans, strict=True)
        ],
    )
    txs: list[tuple[LocalAccount, Any, int]] = []
    for holder, (collateral, debt, size, margin) in zip(holders, plans, strict=True):
        txs.append((holder, asset.functions.approve(contract.address, collateral + margin), 80_000))
        txs.append((holder, contract.functions.depositCollateral(collateral), 150_000))
        if debt:
            txs.append((holder, contract.functions.borrow(debt), 150_000))
        if size:
            txs.append((holder, contract.functions.openPosition(size, margin), 250_000))
    _send_all(w3, txs)
    return [h.address for h in holders]


def liquidate_all(
    w3: Web3,
    deployment: DemoDeployment,
    *,
    liquidator: LocalAccount,
    accounts: Sequence[str],
    deployer: LocalAccount | None = None,
    market: str = "margin_market",
) -> list[str]:
    """Liquidate every one of ``accounts`` that is liquidatable now; returns the liquidations' tx hashes.

    The liquidator needs credit for the debts it repays: it gets it the market's own way,
    depositing twice the collateral the borrow needs at the current price (the deployer, the
    asset's owner, mints it; the dev chain's deployer key by default) and borrowing the shortfall.
    """
    contract = bind(w3, "MarginMarket", deployment.address(market))
    due = [Web3.to_checksum_address(a) for a in accounts if contract.functions.isLiquidatable(a).call()]
    if not due:
        return []
    debts = sum(int(contract.functions.accountOf(a).call()[1]) for a in due)
    shortfall = debts - int(contract.functions.balanceOf(liquidator.address).call())
    txs: list[tuple[LocalAccount, Any, int]] = []
    if shortfall > 0:
        if deployer is None:
            deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
        asset = bind(w3, "DemoAsset", deployment.address("asset"))
        price = int(contract.functions.price().call())
        # Borrowing needs collateral * price / 1e8 * 80% > debt: twice that, rounded up, is ample.
        collateral = 2 * (-(-shortfall * PRICE_SCALE * BPS // (price * LIQUIDATION_THRESHOLD_BPS)) + 1)
        _send_all(w3, [(deployer, asset.functions.mint(liquidator.address, collateral), 100_000)])
        txs += [
            (liquidator, asset.functions.approve(contract.address, collateral), 80_000),
            (liquidator, contract.functions.depositCollateral(collateral), 150_000),
            (liquidator, contract.functions.borrow(shortfall), 150_000),
        ]
    txs += [(liquidator, contract.functions.liquidate(account), 250_000) for account in due]
    return [h.to_0x_hex() for h in _send_all(w3, txs)[-len(due) :]]


def accrue_funding(w3: Web3, deployment: DemoDeployment, *, delta: int, market: str = "margin_market") -> str:
    """Move ``market``'s funding index by ``delta`` as its FUNDING_ROLE, the timelock, through anvil's impersonation.

    Dev chain only (``anvil_impersonateAccount``); returns the transaction hash.
    """
    timelock = deployment.address("timelock")
    contract = bind(w3, "MarginMarket", deployment.address(market))
    w3.provider.make_request("anvil_impersonateAccount", [timelock])  # type: ignore[arg-type]
    try:
        w3.provider.make_request("anvil_setBalance", [timelock, hex(10**18)])  # type: ignore[arg-type]
        tx_hash = contract.functions.accrueFunding(delta).transact({"from": timelock, "gas": 100_000})
        wait_for(w3, tx_hash)
    finally:
        w3.provider.make_request("anvil_stopImpersonatingAccount", [timelock])  # type: ignore[arg-type]
    return tx_hash.to_0x_hex()
