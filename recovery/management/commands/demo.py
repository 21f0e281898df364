import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from eth_utils import keccak
from web3 import Web3
from web3.logs import DISCARD

from chain import devkeys
from chain.anvil import Anvil
from chain.artifacts import bind
from chain.demo import (
    ASSET_DECIMALS,
    FEED_DECIMALS,
    TIMELOCK_DELAY_SECONDS,
    DemoDeployment,
    deploy_demo_stack,
    exploit_vault,
    liquidate_all,
    seed_holders,
    seed_margin_positions,
)
from chain.errors import ChainError, Reverted
from chain.keys import load_account
from chain.margin import ACCOUNT_UPDATED, REASONS, MarginAccount, RestoreRow, value
from chain.rpc import connect
from chain.transact import send
from config.errors import LifeboatError
from recovery.impact import compute_impact, open_incident, request_impact
from recovery.merkle import StandardMerkleTree
from recovery.models import AnalysisStatus, BalanceSnapshot
from recovery.plans import ALLOCATION_LEAF_ENCODING, build_plan
from recovery.positions_plan import GAS_PER_POSITION, GAS_POSITION_BASE, stored_position_batches
from recovery.selectors import account_position
from recovery.services import record_deployment

VENUES = ("governor", "snapshot")
# exploit: the vault is drained and holders are restituted (the default). oracle: the feed reports a
# wrong price, healthy margin positions are liquidated, and the liquidated positions are restored.
SCENARIOS = ("exploit", "oracle")
# The oracle scenario's wrong answer: the feed says 0.80 USD while the reference feed still says 1.00.
WRONG_PRICE = 80 * 10 ** (FEED_DECIMALS - 2)
# Liquidatable accounts the liquidators leave for after the pause: they show the market refusing them.
LEFT_FOR_AFTER_THE_PAUSE = 1
# Margin accounts the oracle scenario opens (the first holders'): enough for every kind of account
# several times over, few enough for a report that lists each one.
MARGIN_ACCOUNTS = 24
ORACLE_RULE_KINDS = ("oracle_stale", "oracle_answer", "oracle_jump", "oracle_deviation")
# The restore plan's gas ceiling: two positions a batch, so the demo's few liquidated positions still
# make several batches, each one executePositionBatch and one leaf of the commitment.
RESTORE_GAS_CEILING = GAS_POSITION_BASE + 2 * GAS_PER_POSITION
BATCH_EXECUTED = "0x" + keccak(text="BatchExecuted(uint256,uint256,uint256,uint256)").hex()
# The demo's Snapshot space: voting opens as the proposal is created and stays open this many
# seconds (wall clock, as on the real hub); the quorum, in whole tokens, needs the treasury's votes.
SNAPSHOT_PERIOD_SECONDS = 15
SNAPSHOT_QUORUM_TOKENS = 1_000_000
SNAPSHOT_VOTERS = 10


def _usd(amount: int) -> str:
    whole, frac = divmod(amount, 10**ASSET_DECIMALS)
    return f"{whole:,}.{frac:0{ASSET_DECIMALS}d} dUSD"


def _vault_state(w3: Web3, deployment: DemoDeployment, attacker: str) -> dict[str, int]:
    vault = bind(w3, "DemoVault", deployment.address("vault"))
    asset = bind(w3, "DemoAsset", deployment.address("asset"))
    holders_with_shares = sum(1 for h in deployment.holders if vault.functions.balanceOf(h).call() > 0)
    return {
        "total_assets": vault.functions.totalAssets().call(),
        "total_shares": vault.functions.totalSupply().call(),
        "holders_with_shares": holders_with_shares,
        "attacker_assets": asset.functions.balanceOf(attacker).call(),
    }


def _fund_reserve(w3: Web3, deployment: DemoDeployment, *, deployer: Any) -> int:
    """The protocol's recovery reserve: vault shares the RecoveryExecutor holds from the start.

    Bought now because a paused vault refuses deposits: after the monitor pauses the vault, the
    plan's shares can only be moved (transfers go on), never minted. As large as the vault, so it
    covers any plan of the demo.
    """
    vault = bind(w3, "DemoVault", deployment.address("vault"))
    asset = bind(w3, "DemoAsset", deployment.address("asset"))
    executor = deployment.address("recovery_executor")
    amount = int(vault.functions.totalAssets().call())
    send(w3, deployer, asset.functions.mint(deployer.address, amount))
    send(w3, deployer, asset.functions.approve(vault.address, amount))
    send(w3, deployer, vault.functions.deposit(amount, executor))
    return int(vault.functions.balanceOf(executor).call())


def _deploy_demo(w3: Web3, anvil: Anvil, *, deployer: Any, holders: int) -> Any:
    """The demo stack on the demo's anvil, bound to the dev executor and committee keys, with ``holders`` seeded."""
    deployment = deploy_demo_stack(
        w3,
        rpc_url=anvil.url,
        deployer=deployer,
        executor=load_account(private_key=devkeys.EXECUTOR_KEY).address,
        committee=load_account(private_key=devkeys.COMMITTEE_KEY).address,
    )
    return seed_holders(w3, deployment, deployer=deployer, count=holders)


def _report_pauses(out: Callable[[str], None], firing: Any, names: dict[str, str]) -> dict[str, Any]:
    """Print each guardian pause a firing's response sent; returns them by target."""
    from monitoring.models import ActionKind

    pauses = {a.target: a for a in firing.actions.filter(kind=ActionKind.PAUSE)}
    for target, action in pauses.items():
        out(
            f"   guardian pause of the {names.get(target, target)}: {action.status}, tx {action.tx_hash or '-'} "
            f"in block {action.block_number if action.block_number is not None else '-'}"
        )
    return pauses


def _is_paused(w3: Web3, contract: str) -> bool:
    return bool(bind(w3, "DemoVault", contract).functions.paused().call())


def _run_line(result: Any) -> str:
    """One monitor run in a line (as ``manage.py monitor run`` prints it)."""
    if result is None:
        return "skipped: another process holds the deployment's lease"
    covered = f"blocks {result.from_block}..{result.to_block}" if result.to_block is not None else "no new block"
    line = f"head {result.head}, {covered}, {result.observations} observations"
    if result.opened:
        line += f", opened firings {result.opened}"
    if result.error:
        line += f", error: {result.error}"
    return line


def _units(amount: int) -> str:
    """A signed amount of 6-decimal base units, in whole units with every decimal (exact)."""
    whole, frac = divmod(abs(amount), 10**ASSET_DECIMALS)
    return f"{'-' if amount < 0 else ''}{whole:,}.{frac:0{ASSET_DECIMALS}d}"


def _price(answer: int) -> str:
    whole, frac = divmod(answer, 10**FEED_DECIMALS)
    return f"{whole}.{frac:0{FEED_DECIMALS}d}"


def _health(factor: int) -> str:
    """A health factor (1e18 = at the liquidation line) to two decimals, truncated; no debt, no position: inf."""
    if factor >= 2**255:
        return "inf"
    hundredths = factor // 10**16
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def _position(account: MarginAccount) -> str:
    """One account in a report cell: collateral, debt, and the perpetual if one is open."""
    if account.is_empty:
        return "empty"
    text = f"coll {_units(account.collateral)}, debt {_units(account.debt)}"
    if account.size:
        side = "long" if account.size > 0 else "short"
        text += f", {side} {_units(abs(account.size))} @ {_price(account.entry_price)} margin {_units(account.margin)}"
    return text


@dataclass(frozen=True, slots=True)
class OracleIncident:
    """What the oracle scenario's first half hands to its second (impact, restore plan, vote, execution).

    Blocks: ``rollback_block`` is the last block with the true price (positions are restored as they
    were there); the feed reported the wrong price in ``wrong_price_block``; the margin market was
    paused in ``paused_block``. The monitor's pause also covers the vault and the RecoveryExecutor:
    whoever executes the restore plan unpauses the executor first (as the exploit scenario does).
    """

    deployment: DemoDeployment
    row: Any  # the recorded recovery.models.Deployment
    watched: Any  # the monitor's WatchedDeployment
    firing: Any  # the oracle rule's first Firing
    incident_id: int  # the incident the monitor opened for it
    venue_kind: str
    accounts: list[str]  # every seeded margin account, checksummed
    rollback_block: int
    wrong_price_block: int
    paused_block: int
    liquidations: dict[str, str]  # liquidated account -> its liquidation's tx hash
    before: dict[str, MarginAccount]  # at the rollback block
    after: dict[str, MarginAccount]  # at the head, after the pause


class Command(BaseCommand):
    help = "Run the headless end-to-end scenario on a fresh dev chain and print a report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--holders", type=int, default=settings.DEVCHAIN_HOLDERS)
        parser.add_argument(
            "--scenario",
            choices=SCENARIOS,
            default="exploit",
            help="exploit: a vault drain, restituted (default); oracle: a wrong price liquidates healthy "
            "margin positions, which are restored",
        )
        parser.add_argument(
            "--venue",
            choices=VENUES,
            default="governor",
            help="where the plan is voted: the dev governor (default) or a Snapshot space on a local hub",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            with Anvil(port=0, log_path=settings.VAR_DIR / "demo-anvil.log") as anvil:
                if options["scenario"] == "oracle":
                    self._run_oracle(anvil, holders=options["holders"], venue_kind=options["venue"])
                else:
                    self._run(anvil, holders=options["holders"], venue_kind=options["venue"])
        except ChainError as error:
            raise CommandError(str(error)) from None
        except LifeboatError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"\ndemo finished in {time.monotonic() - started:.1f} s")

    def _run(self, anvil: Anvil, *, holders: int, venue_kind: str) -> None:
        out = self.stdout.write
        w3 = connect(anvil.url)
        deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
        attacker = load_account(private_key=devkeys.ATTACKER_KEY)
        out(f"== 1. dev chain {anvil.url} (chain {w3.eth.chain_id}): deploying the demo protocol")
        deployment = _deploy_demo(w3, anvil, deployer=deployer, holders=holders)
        row = record_deployment(deployment=deployment)
        for role, contract in deployment.contracts.items():
            out(f"   {role:<22} {contract.address}  block {contract.block}")
        out(f"   {len(deployment.holders)} holders seeded; recorded as deployment {row.pk}")
        reserve = _fund_reserve(w3, deployment, deployer=deployer)
        out(f"   recovery reserve: the RecoveryExecutor holds {reserve:,} vault shares (bought before any pause)")

        watched, snapshot = self._watch_and_archive(w3, anvil)

        before = _vault_state(w3, deployment, attacker.address)
        rollback_block = w3.eth.block_number
        # Three holders in four are drained; the rest keep their shares (unaffected accounts).
        victims = [h for i, h in enumerate(deployment.holders) if i % 4 != 3]
        out(f"\n== 3. exploit: the vault's redeem() skips the allowance check; draining {len(victims)} holders")
        drainer, tx_hash = exploit_vault(w3, deployment, attacker=attacker, victims=victims)
        exploit_block = w3.eth.get_transaction_receipt(tx_hash)["blockNumber"]
        after = _vault_state(w3, deployment, attacker.address)
        out(f"   exploiter {attacker.address} via drainer {drainer.address}")
        out(f"   exploit transaction {tx_hash} (block {exploit_block}; last good block {rollback_block})")

        firing = self._detect(w3, deployment, watched=watched, exploit_block=exploit_block)

        out("\n== 5. the vault before and after")
        out(f"   {'':<26}{'before':>28}{'after':>28}")
        out(f"   {'total assets':<26}{_usd(before['total_assets']):>28}{_usd(after['total_assets']):>28}")
        out(f"   {'total shares':<26}{before['total_shares']:>28,}{after['total_shares']:>28,}")
        out(f"   {'holders with shares':<26}{before['holders_with_shares']:>28}{after['holders_with_shares']:>28}")
        out(f"   {'exploiter dUSD':<26}{_usd(before['attacker_assets']):>28}{_usd(after['attacker_assets']):>28}")
        drained = before["total_assets"] - after["total_assets"]
        gained = after["attacker_assets"] - before["attacker_assets"]
        if drained <= 0 or gained != drained:
            raise CommandError(f"the exploit did not behave as scripted: drained {drained}, exploiter gained {gained}")
        share = drained * 10_000 // before["total_assets"]
        out(f"   drained {_usd(drained)} ({share // 100}.{share % 100:02d}% of the vault), all of it to the exploiter")

        out("\n== 6. incident opened, impact computed from the chain's Transfer logs")
        vault, asset = deployment.address("vault"), deployment.address("asset")
        # The monitor's incident carries the alarm (rule, blocks, evidence); the investigation's
        # findings (the exploit transaction, the exploiter's addresses) go on this one, which names it.
        incident = open_incident(
            title="Demo vault drained through redeem() without allowance check",
            kind="protocol_exploit",
            chain_id=deployment.chain_id,
            affected_contracts=[vault],
            affected_tokens=[vault, asset],
            detected_block=firing.first_block,
            exploit_transactions=[tx_hash],
            exploiter_addresses=[attacker.address, drainer.address],
            description=(
                f"Follows incident {firing.incident_id}, opened by the monitor's rule {firing.rule.name} "
                f"(firing {firing.pk}) at block {firing.first_block}."
            ),
            opened_via="demo",
        )
        # The replay starts from the newest stored balances at or below the rollback block: the archive's.
        replayed_from_snapshot = [
            row.pk
            for row in (
                BalanceSnapshot.objects.filter(
                    chain_id=deployment.chain_id,
                    token=token,
                    block__lte=rollback_block,
                    from_block__lte=deployment.contracts["token"].block,
                )
                .order_by("-block", "-pk")
                .first()
                for token in (vault, asset)
            )
            if row is not None and row.block == snapshot.block and row.block_hash == snapshot.block_hash
        ]
        analysis = request_impact(
            incident_id=incident.pk,
            rpc_url=anvil.url,
            rollback_block=rollback_block,
            reference_block=w3.eth.block_number,
            from_block=deployment.contracts["token"].block,
            price_feed=deployment.address("price_feed"),
            positions={vault: "vault_shares"},
            # The demo's own fresh anvil: nothing to wait for, whatever CONFIRMATION_DEPTH says.
            confirmation_depth=0,
        )
        analysis = compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
        if analysis.status != AnalysisStatus.COMPLETED:
            raise CommandError(f"impact analysis ended {analysis.status}: {analysis.error}")
        shares = analysis.summary["assets"][vault]
        dusd = analysis.summary["assets"][asset]
        out(
            f"   incident {incident.pk}; analysis {analysis.pk}: {analysis.logs_done} Transfer logs over "
            f"{analysis.blocks_done} blocks in {analysis.seconds_scanning:.2f} s, "
            f"stored in {analysis.seconds_storing:.2f} s"
        )
        out(
            f"   follows the monitor's incident {firing.incident_id}; "
            "the exploit tx and the exploiter are the investigation's"
        )
        # Both start rows still stored after the analysis: their block hashes matched the chain's.
        if not replayed_from_snapshot or BalanceSnapshot.objects.filter(pk__in=replayed_from_snapshot).count() != 2:
            raise CommandError(f"the analysis did not replay from the state snapshot at block {snapshot.block}")
        out(
            f"   replayed from the state snapshot at block {snapshot.block} (its balances, checked by block hash), "
            f"then the Transfer logs of blocks {snapshot.block + 1}..{analysis.reference_block} only"
        )
        out(
            f"   read from chain {analysis.node_chain_id}: rollback block {analysis.rollback_block} "
            f"({analysis.rollback_block_hash}), reference block {analysis.reference_block} "
            f"({analysis.reference_block_hash})"
        )
        out(
            f"   vault shares: {shares['accounts_seen']} accounts seen, {shares['affected']} affected, "
            f"{shares['losers']} lost {int(shares['total_losses']):,} base units"
        )
        if shares.get("total_losses_value") is not None:
            value = int(shares["total_losses_value"])
            out(f"   valued at the rollback block's feed price: {value // 100:,}.{value % 100:02d} USD")
        positions = analysis.summary["positions"][vault]
        out(
            f"   vault positions in the underlying (convertToAssets): {positions['losers']} holders lost "
            f"{_usd(int(positions['total_losses']))}"
        )
        out(f"   exploiter gains in dUSD: {_usd(int(dusd['exploiter_gains']))}")
        out("   largest losers:")
        for entry in shares["top_losers"][:5]:
            out(f"     {entry['account']}  {_usd(int(entry['loss']))}")

        recovered = int(shares["total_losses"]) * 60 // 100
        out(f"\n== 7. pro-rata plan: {_usd(recovered)} recovered (60% of the losses), restituted in vault shares")
        plan = build_plan(
            analysis_id=analysis.pk,
            mode="restitute",
            policy="pro_rata",
            budgets={vault: str(recovered), asset: "0"},
            gas_ceiling=3_000_000,
        )
        entry = plan.summary["assets"][vault]
        out(
            f"   plan {plan.pk} v{plan.version}: {entry['recipients']} recipients in {entry['batches']} batches; "
            f"allocated {int(entry['total_allocated']):,} + dust {int(entry['dust_total']):,} "
            f"= budget {int(entry['budget']):,}"
        )
        if int(entry["total_allocated"]) + int(entry["dust_total"]) != recovered:
            raise CommandError("the pro-rata allocation does not sum to the budget")
        for excluded in entry["excluded"]:
            out(f"   excluded {excluded['account']} (claim {int(excluded['claim']):,}): {excluded['reason']}")
        for contract in plan.summary["contracts"]["excluded_by_default"]:
            out(f"   not a claimant: {contract['account']}, {contract['reason']}")
        out(f"   allocation root (each holder's proof): {entry['allocation_root']}")
        out(f"   commitment root (RecoveryExecutor):    {entry['commitment_root']}")
        holder = victims[0]
        position = account_position(plan_id=plan.pk, account=holder)
        mine = next(a for a in position["assets"] if a["asset"] == vault)
        proven = StandardMerkleTree.verify_proof(
            entry["allocation_root"],
            list(ALLOCATION_LEAF_ENCODING),
            [mine["leaf_index"], holder, int(mine["allocation"])],
            mine["proof"],
        )
        out(
            f"   holder {holder}: lost {-int(mine['delta']):,}, gets {int(mine['allocation']):,}; "
            f"proof of {len(mine['proof'])} hashes {'verifies' if proven else 'DOES NOT VERIFY'}"
        )
        if not proven:
            raise CommandError("a holder's allocation proof did not verify")

        out("\n== 8. the proposal document, frozen, and the venue it will go to")
        proposal, venue = self._propose(anvil, deployment, plan=plan)
        paid = plan.assets.get(asset=vault)
        self._rehearse(w3, anvil, deployment, plan=plan, proposal=proposal, venue=venue, asset=paid)
        if venue_kind == "snapshot":
            self._snapshot(w3, anvil, deployment, plan=plan, proposal=proposal, asset=paid)
        else:
            self._govern(w3, anvil, deployment, plan=plan, proposal=proposal, venue=venue, asset=paid)
        self._pay(w3, anvil, plan=plan)
        self._escape_hatch(w3, row)

    def _propose(self, anvil: Anvil, deployment: DemoDeployment, *, plan: Any) -> tuple[Any, Any]:
        """The plan frozen into its proposal document, and the dev governor's venue it goes to."""
        from governance.services import add_governor_venue
        from proposals.services import freeze_proposal

        out = self.stdout.write
        proposal, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
        out(
            f"   proposal {proposal.pk} v{proposal.version}: {len(bytes(proposal.canonical_json)):,} bytes "
            f"of canonical JSON, content-hash {proposal.content_hash}"
        )
        venue = add_governor_venue(
            chain_id=deployment.chain_id,
            governor=deployment.address("governor"),
            recovery_executor=deployment.address("recovery_executor"),
            rpc_url=anvil.url,
        )
        out(
            f"   venue {venue.pk}: {venue.name} {venue.version} at {venue.governor} (clock {venue.clock_mode}), "
            f"voting delay {venue.voting_delay}, period {venue.voting_period}, timelock {venue.timelock or 'none'}"
        )
        out(f"   its executor holds APPROVER_ROLE on the RecoveryExecutor {venue.recovery_executor}")
        return proposal, venue

    # ---------------------------------------------------------------------------------------------
    # The oracle scenario: a wrong price liquidates healthy margin positions
    # ---------------------------------------------------------------------------------------------

    def _run_oracle(self, anvil: Anvil, *, holders: int, venue_kind: str) -> None:
        """Steps 1-6 (deploy, watch, wrong price, liquidations, pause, positions before and after), then
        ``_oracle_recovery`` with everything they established."""
        from eth_account import Account

        out = self.stdout.write
        w3 = connect(anvil.url)
        deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
        out(f"== 1. dev chain {anvil.url} (chain {w3.eth.chain_id}): the demo protocol and its margin market")
        deployment = _deploy_demo(w3, anvil, deployer=deployer, holders=holders)
        count = min(holders, MARGIN_ACCOUNTS)
        accounts = [str(a) for a in seed_margin_positions(w3, deployment, deployer=deployer, count=count)]
        row = record_deployment(deployment=deployment)
        for role, contract in deployment.contracts.items():
            out(f"   {role:<22} {contract.address}  block {contract.block}")
        market = bind(w3, "MarginMarket", deployment.address("margin_market"))
        feed = bind(w3, "DemoPriceFeed", deployment.address("price_feed"))
        reference = bind(w3, "DemoPriceFeed", deployment.address("reference_feed"))
        out(
            f"   {len(deployment.holders)} holders seeded, {len(accounts)} of them with margin accounts "
            f"(collateral, borrows, longs and shorts); recorded as deployment {row.pk}"
        )

        watched = self._watch_market(w3, anvil, deployment)

        rollback_block = w3.eth.block_number
        price_before = int(market.functions.price().call())
        due_before = [a for a in accounts if market.functions.isLiquidatable(a).call()]
        out(
            f"\n== 3. the feed reports a wrong price: {_price(WRONG_PRICE)} USD while the reference feed says "
            f"{_price(int(reference.functions.latestRoundData().call()[1]))}"
        )
        out(
            f"   at block {rollback_block} (the last good block) the market prices dUSD at {_price(price_before)}: "
            f"{len(due_before)} of {len(accounts)} accounts liquidatable"
        )
        wrong = send(w3, deployer, feed.functions.setAnswer(WRONG_PRICE))
        wrong_price_block = int(wrong["blockNumber"])
        due = [a for a in accounts if market.functions.isLiquidatable(a).call()]
        out(
            f"   setAnswer({WRONG_PRICE}) by the feed's owner in block {wrong_price_block} "
            f"(tx {wrong['transactionHash'].to_0x_hex()}): {len(due)} accounts now liquidatable"
        )
        if due_before or len(due) <= LEFT_FOR_AFTER_THE_PAUSE:
            raise CommandError(f"the seeded positions did not behave as scripted: {len(due)} liquidatable at 0.80")

        out("\n== 4. liquidators liquidate positions that are healthy at the true price")
        liquidator = Account.from_key(keccak(text="lifeboat-demo-liquidator"))
        w3.provider.make_request("anvil_setBalance", [liquidator.address, hex(10**20)])  # type: ignore[arg-type]
        first, later = due[: len(due) - LEFT_FOR_AFTER_THE_PAUSE], due[len(due) - LEFT_FOR_AFTER_THE_PAUSE :]
        hashes = liquidate_all(w3, deployment, liquidator=liquidator, accounts=first, deployer=deployer)
        liquidations = dict(zip(first, hashes, strict=True))
        for account, tx_hash in liquidations.items():
            receipt = w3.eth.get_transaction_receipt(tx_hash)
            (event,) = market.events.Liquidated().process_receipt(receipt, errors=DISCARD)
            out(
                f"   {account} liquidated in block {receipt['blockNumber']}: {_units(event.args.debtRepaid)} credit "
                f"repaid, {_units(event.args.seizedCollateral)} dUSD seized, realized PnL "
                f"{_units(event.args.realizedPnl)}"
            )
        out(f"   liquidator {liquidator.address}; {len(later)} liquidatable account(s) not reached yet")

        firing, paused_block = self._detect_oracle(w3, deployment, watched=watched, wrong_price_block=wrong_price_block)
        for account in later:
            try:
                send(w3, liquidator, market.functions.liquidate(account))
            except Reverted as refused:
                out(f"   the liquidator tries {account}, liquidatable at the wrong price: refused with {refused.error}")
                if refused.error != "EnforcedPause":
                    raise CommandError(f"a liquidation after the pause failed for another reason: {refused}") from None
            else:
                raise CommandError(f"the paused market still accepts the liquidation of {account}")

        head = w3.eth.block_number
        before = {a: self._account_at(market, a, rollback_block) for a in accounts}
        after = {a: self._account_at(market, a, head) for a in accounts}
        true_price = int(reference.functions.latestRoundData().call()[1])
        self._positions_report(
            market,
            accounts,
            before=before,
            after=after,
            liquidations=liquidations,
            blocks=(rollback_block, head),
            true_price=true_price,
        )
        self._oracle_recovery(
            w3,
            anvil,
            OracleIncident(
                deployment=deployment,
                row=row,
                watched=watched,
                firing=firing,
                incident_id=firing.incident_id,
                venue_kind=venue_kind,
                accounts=accounts,
                rollback_block=rollback_block,
                wrong_price_block=wrong_price_block,
                paused_block=paused_block,
                liquidations=liquidations,
                before=before,
                after=after,
            ),
        )

    def _watch_market(self, w3: Web3, anvil: Anvil, deployment: DemoDeployment) -> Any:
        """Step 2: the monitor watches the deployment from the head; its oracle rules also pause the margin market."""
        from monitoring import engine
        from monitoring.setup import watch_demo

        out = self.stdout.write
        out("\n== 2. the monitor watches the feed against its reference; a wrong price pauses liquidations")
        watched = watch_demo(rpc_url=anvil.url, name="demo")
        market = deployment.address("margin_market")
        # The default oracle rules pause the margin market first (its pause() stops liquidate() only:
        # what stops liquidations at a wrong price), then the vault and the RecoveryExecutor.
        oracle_rules = watched.rules.filter(kind__in=ORACLE_RULE_KINDS, enabled=True).order_by("pk")
        if not oracle_rules or any((rule.pause_targets or [None])[0] != market for rule in oracle_rules):
            raise CommandError(f"the monitor's oracle rules do not pause the margin market {market} first")
        out(f"   watched deployment {watched.name!r}: {', '.join(rule.name for rule in watched.rules.order_by('pk'))}")
        for rule in oracle_rules:
            out(f"   {rule.name} ({rule.severity}): pauses {', '.join(rule.pause_targets)}")
        first = engine.run_watched(watched.pk)
        out(f"   monitor run: {_run_line(first)} (a new monitor starts at the head)")
        return watched

    def _detect_oracle(
        self, w3: Web3, deployment: DemoDeployment, *, watched: Any, wrong_price_block: int
    ) -> tuple[Any, int]:
        """Step 5: the monitor's runs after the wrong price: an oracle rule fires, the guardian pauses the
        margin market, an incident opens. Returns the firing and the market's pause block."""
        from monitoring import engine
        from monitoring.models import Firing

        out = self.stdout.write
        out("\n== 5. detection and first response: the monitor runs, an oracle rule fires, the guardian pauses")
        firing = None
        for attempt in range(1, 6):  # the oracle rules fire on their first failing block; a few runs at most
            result = engine.run_watched(watched.pk)
            out(f"   monitor run {attempt}: {_run_line(result)}")
            firing = (
                Firing.objects.filter(rule__watched=watched, rule__kind__in=ORACLE_RULE_KINDS).order_by("pk").first()
            )
            if firing is not None:
                break
        if firing is None:
            raise CommandError("no oracle rule fired after the wrong price")
        out(f"   firing {firing.pk} ({firing.rule.name}, {firing.rule.severity}) from block {firing.first_block}:")
        out(f"     {firing.message}")
        market = deployment.address("margin_market")
        names = {
            market: "margin market",
            deployment.address("vault"): "vault",
            deployment.address("recovery_executor"): "RecoveryExecutor",
        }
        actions = _report_pauses(out, firing, names)
        paused = actions.get(market)
        if paused is None or paused.block_number is None or not _is_paused(w3, market):
            raise CommandError(f"the margin market was not paused by the oracle rule: {paused and paused.last_error}")
        out(
            f"   the margin market paused {paused.block_number - wrong_price_block} block(s) after the wrong price "
            f"(price block {wrong_price_block}, pause block {paused.block_number}; this script runs the monitor "
            "after the liquidations); paused() = True"
        )
        if firing.incident_id is None:
            raise CommandError("the monitor opened no incident for the oracle rule's firing")
        out(f"   the monitor opened incident {firing.incident_id}: {firing.incident.title}")
        return firing, int(paused.block_number)

    @staticmethod
    def _account_at(market: Any, account: str, block: int) -> MarginAccount:
        return MarginAccount(*market.functions.accountOf(account).call(block_identifier=block))

    def _positions_report(
        self,
        market: Any,
        accounts: list[str],
        *,
        before: dict[str, MarginAccount],
        after: dict[str, MarginAccount],
        liquidations: dict[str, str],
        blocks: tuple[int, int],
        true_price: int,
    ) -> None:
        """Step 6: every margin account at the rollback block and now; each liquidated one valued at the
        reference price, where it was healthy (else the scenario did not do what it claims)."""
        rollback_block, head = blocks
        out = self.stdout.write
        funding_index = int(market.functions.fundingIndex().call(block_identifier=rollback_block))
        out(f"\n== 6. the margin accounts before (block {rollback_block}) and after (block {head})")
        unfair = 0
        for account in accounts:
            was, now = before[account], after[account]
            health = value(was, price=true_price, funding_index=funding_index)
            status = "liquidated" if account in liquidations else ("unchanged" if was == now else "changed")
            out(
                f"   {account}  {status}; health at the reference price {_price(true_price)}: "
                f"{_health(health.health_factor)}"
            )
            out(f"     before: {_position(was)}")
            out(f"     after:  {_position(now)}")
            if account in liquidations:
                if health.liquidatable:
                    raise CommandError(f"{account} was liquidatable at the reference price: not an unfair liquidation")
                unfair += 1
        seized = sum(before[a].collateral + before[a].margin for a in liquidations)
        out(
            f"   {unfair} of {len(accounts)} accounts liquidated at the wrong price, every one healthy at the "
            f"reference price; {_units(seized)} dUSD of collateral and margin was in them"
        )

    def _oracle_recovery(self, w3: Web3, anvil: Anvil, incident: OracleIncident) -> None:
        """Steps 7-15, the second half of the oracle scenario: the impact analysis of the margin market
        (the unfair liquidations), the restore-positions plan onto the migrated market, the vote (the same
        steps as the exploit scenario's), the execution by a Celery worker, and the report of each position
        before, after and restored."""
        out = self.stdout.write
        deployment = incident.deployment
        market = deployment.address("margin_market")
        migrated = deployment.address("migrated_margin_market")
        out(
            f"\n== 7. recovery of incident {incident.incident_id}: {len(incident.liquidations)} liquidated positions "
            f"to restore on the migrated market {migrated} as they were at block {incident.rollback_block}; "
            "first, the impact analysis of the margin market"
        )
        analysis = self._margin_impact(w3, anvil, incident)

        out(f"\n== 8. restore-positions plan: each liquidated position re-created on the migrated market {migrated}")
        # The restore runs from the RecoveryExecutor, which the monitor paused with the market; the old
        # market stays paused: it still prices from the wrong feed.
        self._unpause_executor(
            w3, deployment, watched=incident.watched, note="the restore plan re-creates the positions from it"
        )
        out(f"   the old margin market stays paused (liquidations refused): paused() = {_is_paused(w3, market)}")
        # The services the plans API runs (POST /api/analyses/{id}/plans/ with mode=restore_positions).
        plan = build_plan(
            analysis_id=analysis.pk,
            mode="restore_positions",
            policy="full",
            venue=migrated,
            gas_ceiling=RESTORE_GAS_CEILING,
            rpc_url=anvil.url,
        )
        asset = plan.assets.get(asset=market)
        entry = plan.summary["assets"][market]
        batches = stored_position_batches(asset)
        rows = [row for batch in batches for row in batch.rows]
        out(
            f"   plan {plan.pk} v{plan.version} ({plan.mode}, {plan.policy}): {entry['recipients']} positions in "
            f"{entry['batches']} batches of at most {len(batches[0].rows) if batches else 0}; the executor spends "
            f"{_units(int(asset.total_allocated))} dUSD of {asset.payout_token} (collateral plus margin)"
        )
        out(f"   commitment root (RecoveryExecutor, each leaf over abi.encode(venue, rows)): {asset.commitment_root}")
        for excluded in entry["excluded"]:
            out(f"   left out {excluded['account']}: {excluded['reason']}")
        funding_index = int(
            bind(w3, "MarginMarket", market).functions.fundingIndex().call(block_identifier=incident.rollback_block)
        )
        for batch in batches:
            for row in batch.rows:
                out(f"   batch {batch.index}: {row.account}  {_position(incident.before[row.account])}")
        expected = {
            account: RestoreRow.from_account(account, incident.before[account], funding_index=funding_index)
            for account in incident.liquidations
        }
        if len(rows) != len(expected) or {row.account: row for row in rows} != expected:
            raise CommandError(
                "the plan's rows are not the liquidated accounts' positions at the rollback block: "
                f"{sorted(row.account for row in rows)} against {sorted(expected)}"
            )
        out(f"   every row is its account's position at block {incident.rollback_block}, exactly (accountOf there)")
        proposal, venue = self._propose(anvil, deployment, plan=plan)

        self._rehearse(
            w3,
            anvil,
            deployment,
            plan=plan,
            proposal=proposal,
            venue=venue,
            asset=asset,
            unit="dUSD base units",
            spends="the positions need (collateral plus margin)",
        )
        if incident.venue_kind == "snapshot":
            self._snapshot(w3, anvil, deployment, plan=plan, proposal=proposal, asset=asset)
        else:
            self._govern(w3, anvil, deployment, plan=plan, proposal=proposal, venue=venue, asset=asset)

        out("\n== 14. a Celery worker restores the approved batches on the migrated market, each exactly once")
        run, progress = self._execute(w3, anvil, plan=plan, done="restored")
        out(
            f"   run {run.status}: {progress['accounts_paid']} positions restored, "
            f"{_units(int(progress['amount_paid']))} dUSD moved into the migrated market, "
            f"{progress['gas_used']:,} gas, {int(progress['fees_spent_wei']):,} wei in fees"
        )
        once = self._exactly_once(w3, plan=plan, asset=asset, run=run, batches=batches)

        out("\n== 15. verified on chain: each position before, after and restored")
        self._restored_report(w3, incident, analysis=analysis, plan=plan, asset=asset, run=run, once=once)
        report, markdown = self._verify(anvil, plan=plan)
        out(
            f"   the verification service read block {report.block.number} ({report.block.hash}) "
            f"on chain {report.chain_id}"
        )
        out(f"   verdict: {report.verdict}; its report written to {markdown}")
        if report.verdict != "complete":
            raise CommandError(f"verification says {report.verdict}: see {markdown}")

    def _margin_impact(self, w3: Web3, anvil: Anvil, incident: OracleIncident) -> Any:
        """Step 7: the impact analysis of the margin market between the rollback block and now (after the
        liquidations and the pause), computed by the real service; the unfair liquidations it finds."""
        out = self.stdout.write
        deployment = incident.deployment
        market = deployment.address("margin_market")
        analysis = request_impact(
            incident_id=incident.incident_id,
            rpc_url=anvil.url,
            rollback_block=incident.rollback_block,
            reference_block=w3.eth.block_number,
            from_block=deployment.contracts["margin_market"].block,
            assets=[market],
            positions={market: "margin_market"},
            # The demo's own fresh anvil: nothing to wait for, whatever CONFIRMATION_DEPTH says.
            confirmation_depth=0,
        )
        analysis = compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)
        if analysis.status != AnalysisStatus.COMPLETED:
            raise CommandError(f"impact analysis ended {analysis.status}: {analysis.error}")
        out(
            f"   analysis {analysis.pk} of incident {incident.incident_id}: blocks {analysis.rollback_block} "
            f"({analysis.rollback_block_hash}) to {analysis.reference_block} ({analysis.reference_block_hash}), "
            f"position reader margin_market on {market}"
        )
        positions = (analysis.summary.get("positions") or {}).get(market)
        if positions:
            out(
                f"   the margin_market reader's net values, each block at its own price (the reference block's is "
                f"the wrong one): {positions['losers']} accounts worth less, {_usd(int(positions['total_losses']))}"
            )
        # The margin section (recovery.margin_impact): every account valued at both blocks, each
        # liquidation in between, the unfair ones (at a price a monitor's oracle rule flagged) apart.
        section = (analysis.summary.get("margin") or {}).get(market)
        if not section:
            raise CommandError(f"the impact analysis {analysis.pk} has no margin section for the market {market}")
        unfair = section["unfair_liquidations"]
        out(
            f"   margin: {section['liquidated_accounts']} of {section['accounts']} accounts liquidated, "
            f"{len(unfair)} of them unfair (at a price the monitor flagged), {len(section['fair_liquidations'])} fair; "
            f"penalties {_units(int(section['unfair_penalty_total']))}, collateral lost "
            f"{_units(int(section['unfair_lost_collateral_total']))} dUSD"
        )
        for item in unfair:
            out(
                f"     unfair: {item['account']} in block {item['block']} at {_price(int(item['price']))}: penalty "
                f"{_units(int(item['penalty']))}, collateral lost {_units(int(item['lost_collateral']))} "
                f"(firing {item['firing']} of {item['rule']})"
            )
        found = {Web3.to_checksum_address(item["account"]) for item in unfair}
        if found != set(incident.liquidations):
            raise CommandError(
                f"the impact's liquidations {sorted(found)} are not the scenario's {sorted(incident.liquidations)}"
            )
        return analysis

    def _exactly_once(self, w3: Web3, *, plan: Any, asset: Any, run: Any, batches: list[Any]) -> dict[str, Any]:
        """Each batch's ``BatchExecuted`` and each row's ``AccountUpdated(restored)`` counted on chain, and a
        second start of the finished run refused: the restore happened exactly once."""
        from recovery.execution import start_plan_execution
        from recovery.execution_errors import RunStateConflict
        from recovery.models import ExecutionRun

        out = self.stdout.write
        head = w3.eth.block_number
        plan_topic = "0x" + int(asset.onchain_plan_id).to_bytes(32, "big").hex()
        executed: dict[int, int] = {}
        for log in w3.eth.get_logs(
            {
                "address": run.recovery_executor,
                "fromBlock": run.approval_block,
                "toBlock": head,
                "topics": [BATCH_EXECUTED, plan_topic],
            }
        ):
            index = int.from_bytes(bytes(log["topics"][2]), "big")
            executed[index] = executed.get(index, 0) + 1
        restored: dict[str, int] = {}
        for log in w3.eth.get_logs(
            {"address": asset.venue, "fromBlock": run.approval_block, "toBlock": head, "topics": [ACCOUNT_UPDATED]}
        ):
            if int.from_bytes(bytes(log["data"])[-32:], "big") == REASONS.index("restored"):
                account = Web3.to_checksum_address("0x" + bytes(log["topics"][1])[-20:].hex())
                restored[account] = restored.get(account, 0) + 1
        rows = [row.account for batch in batches for row in batch.rows]
        try:
            start_plan_execution(plan_id=plan.pk, actor=None, via="cli", w3=w3)
        except RunStateConflict as refused:
            again = refused.message
        else:
            raise CommandError(f"execution run {run.pk} started a second time")
        runs = ExecutionRun.objects.filter(plan_asset=asset).count()
        out(
            f"   on chain: BatchExecuted once for each of the {len(batches)} batches "
            f"({all(executed.get(b.index) == 1 for b in batches) and len(executed) == len(batches)}); "
            f"AccountUpdated(restored) once for each of the {len(rows)} accounts "
            f"({all(restored.get(a) == 1 for a in rows) and len(restored) == len(rows)})"
        )
        out(f"   starting it again is refused: {again}")
        if len(executed) != len(batches) or any(executed.get(b.index) != 1 for b in batches) or runs != 1:
            raise CommandError(f"the batches did not run exactly once: {executed} over {runs} run(s)")
        if set(restored) != set(rows) or any(count != 1 for count in restored.values()):
            raise CommandError(f"the positions were not restored exactly once: {restored}")
        return {
            "runs": runs,
            "batch_executed": {str(index): count for index, count in sorted(executed.items())},
            "restored_events": restored,
            "start_again": again,
        }

    def _restored_report(
        self, w3: Web3, incident: OracleIncident, *, analysis: Any, plan: Any, asset: Any, run: Any, once: dict
    ) -> None:
        """Every margin account before (the rollback block), after (the reference block) and restored (the
        migrated market, read now), printed and written as the demo's positions report (markdown and JSON).

        Restored equals before when collateral, debt, size, entry price and margin are equal and the
        funding the position owes carried over: the venue's funding index less the restored entry funding
        equals the old market's at the rollback block less the entry funding then (what the plan's row says).
        """
        out = self.stdout.write
        deployment = incident.deployment
        old = bind(w3, "MarginMarket", deployment.address("margin_market"))
        venue = bind(w3, "MarginMarket", asset.venue)
        block = w3.eth.get_block("latest")
        read_block, read_hash = int(block["number"]), block["hash"].to_0x_hex()
        old_index = int(old.functions.fundingIndex().call(block_identifier=incident.rollback_block))
        venue_index = int(venue.functions.fundingIndex().call(block_identifier=read_block))
        lines, entries, wrong = [], [], []
        for account in incident.accounts:
            before = incident.before[account]
            after = self._account_at(old, account, analysis.reference_block)
            restored = self._account_at(venue, account, read_block)
            liquidated = account in incident.liquidations
            owed_before = old_index - before.entry_funding if before.size else 0
            owed_restored = venue_index - restored.entry_funding if not restored.is_empty else 0
            same = (restored.collateral, restored.debt, restored.size, restored.entry_price, restored.margin) == (
                before.collateral,
                before.debt,
                before.size,
                before.entry_price,
                before.margin,
            ) and owed_restored == owed_before
            if (liquidated and not same) or (not liquidated and not restored.is_empty):
                wrong.append(account)
            entries.append(
                {
                    "account": account,
                    "liquidated": liquidated,
                    "liquidation_tx": incident.liquidations.get(account),
                    "before": before.as_json(),
                    "after": after.as_json(),
                    "restored": restored.as_json(),
                    "funding_owed_before": str(owed_before),
                    "funding_owed_restored": str(owed_restored),
                    "restored_equals_before": same if liquidated else None,
                    "restored_events": once["restored_events"].get(account, 0),
                }
            )
            verdict = ("yes" if same else "NO") if liquidated else "not in the plan"
            lines.append(
                f"| {account} | {'yes' if liquidated else 'no'} | {_position(before)} | {_position(after)} | "
                f"{_position(restored)} | {verdict} |"
            )
            if liquidated:
                out(f"   {account}  restored == before: {'yes' if same else 'NO'}")
                out(f"     before   (block {analysis.rollback_block}): {_position(before)}")
                out(f"     after    (block {analysis.reference_block}): {_position(after)}")
                out(f"     restored (block {read_block}): {_position(restored)}")
        restored_count = sum(1 for e in entries if e["restored_equals_before"])
        report = {
            "scenario": "oracle",
            "chain_id": deployment.chain_id,
            "incident": incident.incident_id,
            "analysis": analysis.pk,
            "plan": plan.pk,
            "onchain_plan_id": str(asset.onchain_plan_id),
            "market": old.address,
            "venue": venue.address,
            "rollback_block": analysis.rollback_block,
            "reference_block": analysis.reference_block,
            "read_block": read_block,
            "read_block_hash": read_hash,
            "funding_index": {"market_at_rollback": str(old_index), "venue": str(venue_index)},
            "run": {
                "id": run.pk,
                "status": run.status,
                "runs_for_plan": once["runs"],
                "start_again": once["start_again"],
            },
            "batch_executed": once["batch_executed"],
            "accounts": entries,
        }
        markdown = settings.VAR_DIR / "demo-positions.md"
        markdown.write_text(
            "\n".join(
                [
                    f"# Positions restored by plan {plan.pk} (incident {incident.incident_id})",
                    "",
                    f"Old market {old.address}: before = block {analysis.rollback_block}, after = block "
                    f"{analysis.reference_block}. Migrated market {venue.address}: restored = block {read_block} "
                    f"({read_hash}). Execution run {run.pk}: {run.status}, each of its "
                    f"{len(once['batch_executed'])} batches executed once.",
                    "",
                    "| account | liquidated | before | after | restored | restored == before |",
                    "|---|---|---|---|---|---|",
                    *lines,
                    "",
                ]
            )
        )
        (settings.VAR_DIR / "demo-positions.json").write_text(json.dumps(report, indent=2))
        out(
            f"   {restored_count} of {len(incident.liquidations)} liquidated positions restored exactly as they were "
            f"at block {analysis.rollback_block} (read at block {read_block}); the "
            f"{len(entries) - len(incident.liquidations)} other accounts are untouched on the migrated market"
        )
        out(f"   positions report written to {markdown} (and demo-positions.json)")
        if wrong:
            raise CommandError(f"restored positions differ from the rollback block's: {', '.join(wrong)}")

    def _watch_and_archive(self, w3: Web3, anvil: Anvil) -> tuple[Any, Any]:
        """Step 2: the monitor watches the deployment from the head; the state is archived and its root committed."""
        from django.test.utils import override_settings

        from archive.services import commit_snapshot, take_snapshot
        from monitoring import engine
        from monitoring.setup import watch_demo

        out = self.stdout.write
        out("\n== 2. before any exploit: the monitor watches the deployment; its state is archived")
        watched = watch_demo(rpc_url=anvil.url, name="demo")
        rules = ", ".join(rule.name for rule in watched.rules.filter(enabled=True).order_by("pk"))
        out(f"   watched deployment {watched.name!r}: {rules}")
        first = engine.run_watched(watched.pk)
        out(f"   monitor run: {_run_line(first)} (a new monitor starts at the head)")
        # The demo's own fresh anvil: nothing to wait for, whatever CONFIRMATION_DEPTH says.
        with override_settings(CONFIRMATION_DEPTH=0):
            snapshot = take_snapshot(rpc_url=anvil.url)
        out(
            f"   state snapshot {snapshot.pk} at block {snapshot.block}: {snapshot.account_count} accounts, "
            f"{snapshot.leaf_count} leaves, root {snapshot.root}"
        )
        out(f"   its file: sha256 {snapshot.sha256}, {snapshot.size_bytes:,} bytes")
        snapshot = commit_snapshot(snapshot=snapshot, rpc_url=anvil.url)
        out(
            f"   root committed to the SnapshotRegistry {snapshot.registry} in {snapshot.commit_tx_hash} "
            f"(block {snapshot.committed_block})"
        )
        registry = bind(w3, "SnapshotRegistry", snapshot.registry)
        if "0x" + registry.functions.rootOf(snapshot.block).call().hex() != snapshot.root:
            raise CommandError("the SnapshotRegistry does not hold the snapshot's root")
        return watched, snapshot

    def _detect(self, w3: Web3, deployment: DemoDeployment, *, watched: Any, exploit_block: int) -> Any:
        """Step 4: the monitor's runs after the exploit: the drain rule fires, the guardian pauses, an
        incident opens; the committee unpauses the RecoveryExecutor (it pays the plan), the vault stays paused."""
        from monitoring import engine
        from monitoring.models import Firing

        out = self.stdout.write
        out("\n== 4. detection and first response: the monitor runs, the drain rule fires, the guardian pauses")
        firing = None
        for attempt in range(1, 6):  # the drain rule fires on its first failing block; a few runs at most
            result = engine.run_watched(watched.pk)
            out(f"   monitor run {attempt}: {_run_line(result)}")
            firing = Firing.objects.filter(rule__watched=watched, rule__name="vault-drain").first()
            if firing is not None:
                break
        if firing is None:
            raise CommandError("the monitor's drain rule did not fire after the exploit")
        out(f"   firing {firing.pk} ({firing.rule.name}, {firing.rule.severity}) from block {firing.first_block}:")
        out(f"     {firing.message}")
        vault, executor = deployment.address("vault"), deployment.address("recovery_executor")
        names = {vault: "vault", executor: "RecoveryExecutor"}
        pauses = _report_pauses(out, firing, names)
        paused = pauses.get(vault)
        if paused is None or paused.block_number is None or not _is_paused(w3, vault):
            raise CommandError(f"the vault was not paused by the drain rule's response: {paused and paused.last_error}")
        out(
            f"   the vault paused {paused.block_number - exploit_block} block(s) after the exploit "
            f"(exploit block {exploit_block}, pause block {paused.block_number})"
        )
        if firing.incident_id is None:
            raise CommandError("the monitor opened no incident for the drain rule's firing")
        out(f"   the monitor opened incident {firing.incident_id}: {firing.incident.title}")
        self._unpause_executor(w3, deployment, watched=watched, note="the recovery plan pays from it")
        still = _is_paused(w3, vault)
        out(f"   the vault stays paused (deposit and redeem refused; transfers go on): paused() = {still}")
        return firing

    def _unpause_executor(self, w3: Web3, deployment: DemoDeployment, *, watched: Any, note: str) -> None:
        """The RecoveryExecutor, paused by the monitor's response, unpaused by a committee member through
        Lifeboat (recorded with their name): the plan runs from it. Nothing else the monitor paused is touched."""
        from django.contrib.auth import get_user_model

        from monitoring import pausing
        from recovery.roles import COMMITTEE

        executor = deployment.address("recovery_executor")
        if not _is_paused(w3, executor):
            return
        user, _ = get_user_model().objects.get_or_create(username="committee-1")
        user.groups.add(Group.objects.get(name=COMMITTEE))
        user = get_user_model().objects.get(pk=user.pk)  # permissions are cached per instance
        record = pausing.unpause(contract=executor, user=user, note=note, watched_id=watched.pk)
        self.stdout.write(
            f"   {user.username} unpaused the RecoveryExecutor through Lifeboat: tx {record.tx_hash} "
            f"in block {record.block_number} (recorded {record.action} by {record.by_user})"
        )
        if _is_paused(w3, executor):
            raise CommandError(f"the RecoveryExecutor {executor} is still paused after its recorded unpause")

    def _escape_hatch(self, w3: Web3, row: Any) -> None:
        """Last step: the self-contained withdraw page for the deployment, with its SHA-256."""
        from recovery.escape_hatch import build_escape_hatch

        built = build_escape_hatch(deployment=row)
        out = self.stdout.write
        out("\n== 16. the escape hatch: a self-contained withdraw page, no server needed")
        out(f"   {built.path} ({built.build.size:,} bytes)")
        out(f"   sha256 {built.build.sha256}")

    def _rehearse(
        self,
        w3: Web3,
        anvil: Anvil,
        deployment: DemoDeployment,
        *,
        plan,
        proposal,
        venue,
        asset,
        unit: str = "vault shares",
        spends: str = "the plan pays",
    ) -> None:
        """Steps 9-10: fund the RecoveryExecutor with what ``asset`` (the plan's PlanAsset) spends, rehearse
        the proposal on a fork, collect the committee's sign-off. ``unit`` names the payout token's units."""
        from django.contrib.auth import get_user_model
        from eth_account import Account

        from chain.demo import fund_recovery_executor
        from proposals import signoff
        from proposals.rehearsals import rehearse_proposal
        from proposals.signoffs import get_signoff_subject, link_committee_member, submit_signoff
        from recovery.roles import COMMITTEE

        out = self.stdout.write
        url = anvil.url

        out("\n== 9. recovered funds sent to the RecoveryExecutor, then the proposal rehearsed on a fork")
        funded = fund_recovery_executor(
            w3,
            deployment,
            deployer=load_account(private_key=devkeys.DEPLOYER_KEY),
            token=asset.payout_token,
            amount=int(asset.total_allocated),
        )
        out(f"   RecoveryExecutor holds {funded:,} {unit}; {spends} {int(asset.total_allocated):,}")
        rehearsal = rehearse_proposal(
            proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=url, progress=lambda line: out(f"   . {line}")
        )
        out(
            f"   rehearsal {rehearsal.pk}: {rehearsal.status.upper()} on a fork at block {rehearsal.fork_block} "
            f"({rehearsal.fork_block_hash}), {rehearsal.total_gas:,} gas, {rehearsal.seconds:.1f} s"
        )
        out(f"   {rehearsal.summary}")
        if rehearsal.status != "passed":
            raise CommandError(f"the rehearsal did not pass: {rehearsal.summary or rehearsal.error}")

        out(f"\n== 10. committee sign-off: {settings.SIGNOFF_THRESHOLD} of {len(devkeys.COMMITTEE_KEYS)} members")
        users = get_user_model()
        subject = get_signoff_subject(proposal_id=proposal.pk, venue_id=venue.pk)
        members = []
        for index, key in enumerate(devkeys.COMMITTEE_KEYS):
            account = Account.from_key(key)
            user, _ = users.objects.get_or_create(username=f"committee-{index + 1}")
            user.groups.add(Group.objects.get(name=COMMITTEE))
            member, _ = link_committee_member(username=user.username, address=account.address)
            members.append((member, account, user))
        out(f"   typed data: {subject.typed_data['primaryType']} over content-hash {proposal.content_hash}")
        out(f"   digest {subject.digest}")
        for member, account, user in members[: settings.SIGNOFF_THRESHOLD]:
            signature = account.sign_message(signoff.signable_message(subject.typed_data)).signature.to_0x_hex()
            stored = submit_signoff(
                proposal_id=proposal.pk,
                venue_id=venue.pk,
                member=member,
                signature=signature,
                rpc_url=url,
                submitted_by=user,
            )
            out(f"   signed by {user.username} ({stored.signer}, {stored.kind})")

    def _govern(self, w3: Web3, anvil: Anvil, deployment: DemoDeployment, *, plan, proposal, venue, asset) -> None:
        """Steps 11-13: publish to the dev governor, vote (directly and gaslessly), queue, execute, follow;
        ``asset`` (the plan's PlanAsset) must end approved on the RecoveryExecutor with its commitment root."""
        from eth_account import Account
        from eth_account.messages import encode_typed_data

        from chain.demo import holder_account
        from governance.ballots import ballot_typed_data, relay_ballot
        from governance.following import follow_publication
        from governance.models import PlanApproval
        from governance.outcomes import execute_publication, queue_publication
        from governance.publishing import publish_proposal
        from proposals.safe_export import export_safe_batch

        out = self.stdout.write
        url = anvil.url

        out("\n== 11. published to the dev governor (through its timelock)")
        # The treasury (the deployer, holding most of the supply) delegates to itself before the
        # proposal's snapshot, so that its vote counts: the holders alone are far below the quorum.
        treasury = load_account(private_key=devkeys.DEPLOYER_KEY)
        token = bind(w3, "LifeboatToken", deployment.address("token"))
        send(w3, treasury, token.functions.delegate(treasury.address))
        publication = publish_proposal(
            proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=url, progress=lambda line: out(f"   . {line}")
        )
        again = publish_proposal(proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=url)
        out(f"   proposal id {publication.proposal_id}")
        out(f"   propose tx {publication.tx_hash} in block {publication.created_block}")
        out(
            f"   {len(publication.actions)} call(s): "
            + "; ".join(a["signature"].split("(")[0] for a in publication.actions)
        )
        out(f"   publishing again answers the same publication ({again.pk == publication.pk}), nothing sent twice")
        batch = export_safe_batch(proposal_id=proposal.pk, venue_id=venue.pk)
        safe_file = settings.VAR_DIR / "demo-safe-batch.json"
        safe_file.write_text(json.dumps(batch, indent=2))
        out(f"   the same calls for a Safe: {safe_file} (Transaction Builder checksum {batch['meta']['checksum']})")

        out("\n== 12. holders vote: some from their own keys, some gaslessly through the relayer")
        w3.provider.make_request("anvil_mine", [hex(2)])  # type: ignore[arg-type]  # past the voting delay
        governor = bind(w3, "LifeboatGovernor", venue.governor)
        voters = [holder_account(i) for i in range(min(len(deployment.holders), 12))]
        direct, gasless = voters[:6], voters[6:]
        for index, voter in enumerate(direct):
            support = 0 if index == 0 else 1  # one holder votes against
            send(w3, voter, governor.functions.castVote(int(publication.proposal_id), support))
        send(w3, treasury, governor.functions.castVote(int(publication.proposal_id), 1))
        out(f"   the treasury and {len(direct)} holders sent castVote themselves (all for but one against)")
        for index, voter in enumerate(gasless):
            support = 2 if index == 0 else 1  # one abstains
            typed = ballot_typed_data(publication_id=publication.pk, voter=voter.address, support=support, rpc_url=url)
            signed = Account.sign_message(encode_typed_data(full_message=_ints(typed)), voter.key)
            relay = relay_ballot(
                publication_id=publication.pk,
                voter=voter.address,
                support=support,
                signature=signed.signature,
                nonce=int(typed["message"]["nonce"]),
                rpc_url=url,
            )
            if index == 0:
                out(f"   gasless: {voter.address} signed a Ballot; relayed in {relay.tx_hash}")
        out(f"   {len(gasless)} holders voted gaslessly (5 for, 1 abstain); the relayer paid their gas")
        publication = follow_publication(publication_id=publication.pk, rpc_url=url)
        against, for_, abstain = governor.functions.proposalVotes(int(publication.proposal_id)).call()
        out(
            f"   indexed tally: for {int(publication.for_votes):,}, against {int(publication.against_votes):,}, "
            f"abstain {int(publication.abstain_votes):,} (state {publication.state})"
        )
        same = (int(publication.for_votes), int(publication.against_votes), int(publication.abstain_votes)) == (
            for_,
            against,
            abstain,
        )
        out(f"   equal to the governor's proposalVotes: {same}")
        if not same:
            raise CommandError("the indexed tally differs from the governor's proposalVotes")

        out("\n== 13. the vote ends; queued on the timelock, executed after its delay")
        w3.provider.make_request("anvil_mine", [hex(int(venue.voting_period) + 1)])  # type: ignore[arg-type]
        queued = queue_publication(publication_id=publication.pk, rpc_url=url)
        out(f"   queued in {queued.tx_hash} (state {queued.state})")
        w3.provider.make_request("evm_increaseTime", [TIMELOCK_DELAY_SECONDS + 1])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        executed = execute_publication(publication_id=publication.pk, rpc_url=url)
        out(f"   executed in {executed.tx_hash} (state {executed.state})")
        follow_publication(publication_id=publication.pk, rpc_url=url)
        for approval in PlanApproval.objects.filter(publication=publication):
            out(
                f"   PlanApproved: plan {approval.onchain_plan_id}, batches root {approval.batches_root}, "
                f"{approval.batch_count} batches, budget {int(approval.budget):,}, block {approval.block_number} "
                f"({approval.block_hash})"
            )
        if not PlanApproval.objects.filter(publication=publication, plan_asset=asset).exists():
            raise CommandError("no PlanApproved event was recorded for the plan")
        status = (
            bind(w3, "RecoveryExecutor", venue.recovery_executor).functions.getPlan(int(asset.onchain_plan_id)).call()
        )
        approved = status[4] == 1 and "0x" + status[0].hex() == asset.commitment_root
        out(
            f"   on chain, the RecoveryExecutor's plan {asset.onchain_plan_id} is "
            f"{'Approved' if status[4] == 1 else 'NOT approved'} with root 0x{status[0].hex()}"
        )
        if not approved:
            raise CommandError("the RecoveryExecutor does not hold the plan approved with its commitment root")

    def _snapshot(self, w3: Web3, anvil: Anvil, deployment: DemoDeployment, *, plan, proposal, asset) -> None:
        """Steps 11-13 on Snapshot: a local hub, the space's venue, publish, votes of both kinds, close, approve."""
        from chain.redaction import redact_url
        from config.preflight import load_role_account
        from snapshothub.process import HubProcess

        hub_db = settings.VAR_DIR / "demo-snapshothub.sqlite3"
        hub_db.unlink(missing_ok=True)
        space = _demo_space(deployment, author=load_role_account("proposer").address)
        out = self.stdout.write
        out("\n== 11. Snapshot: a local hub on the dev chain, the space's venue, the proposal published")
        with HubProcess(anvil.url, [space], db_path=hub_db, log_path=settings.VAR_DIR / "demo-snapshothub.log") as hub:
            out(
                f"   hub pid {hub.pid}: sequencer {redact_url(hub.sequencer_url)}, "
                f"GraphQL {redact_url(hub.graphql_url)}"
            )
            self._snapshot_steps(w3, anvil, deployment, plan=plan, proposal=proposal, asset=asset, hub=hub)
        out(f"   hub pid {hub.pid} stopped")

    def _snapshot_steps(
        self, w3: Web3, anvil: Anvil, deployment: DemoDeployment, *, plan, proposal, asset, hub
    ) -> None:
        """Steps 11-13 against the running ``hub``; CommandError when a result differs from what was cast.
        ``asset`` is the plan's PlanAsset the committee key must approve."""
        from chain.demo import GOV_DECIMALS, holder_account
        from governance import snapshot_messages as messages
        from governance.models import PlanApproval, SnapshotVote
        from governance.snapshot_approval import approve_passed_proposal
        from governance.snapshot_client import post_message
        from governance.snapshot_following import follow_snapshot_proposal
        from governance.snapshot_publishing import publish_to_snapshot
        from governance.snapshot_venues import add_snapshot_venue
        from governance.snapshot_votes import submit_vote

        out = self.stdout.write
        url = anvil.url
        committee = load_account(private_key=devkeys.COMMITTEE_KEY)

        # The treasury delegates to itself before the snapshot block, so that its voting power counts;
        # two more blocks make sure the delegation is strictly before whichever block is the snapshot.
        treasury = load_account(private_key=devkeys.DEPLOYER_KEY)
        token = bind(w3, "LifeboatToken", deployment.address("token"))
        send(w3, treasury, token.functions.delegate(treasury.address))
        w3.provider.make_request("anvil_mine", [hex(2)])  # type: ignore[arg-type]
        out(f"   the treasury {treasury.address} delegated its votes to itself in block {w3.eth.block_number - 2}")

        venue = add_snapshot_venue(
            space=settings.SNAPSHOT_SPACE,
            sequencer_url=hub.sequencer_url,
            hub_url=hub.graphql_url,
            recovery_executor=deployment.address("recovery_executor"),
            approver=committee.address,
            approver_kind="key",
            rpc_url=url,
        )
        out(
            f"   venue {venue.pk}: {venue} with erc20-votes on {venue.token}; voting delay {venue.voting_delay} s, "
            f"period {venue.voting_period} s, quorum {int(venue.quorum):,} base units ({venue.hub_quorum} tokens)"
        )
        out(f"   approver: the committee key {venue.approver}, which holds APPROVER_ROLE on {venue.recovery_executor}")

        published = publish_to_snapshot(
            proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=url, progress=lambda line: out(f"   . {line}")
        )
        again = publish_to_snapshot(proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=url)
        body = published.envelope["data"]["message"]["body"]
        hash_line = next((line for line in body.splitlines() if line.startswith("content-hash:")), "")
        out(f"   published: Snapshot proposal {published.proposal_id} (status {published.status})")
        out(f"   the body's last word: {hash_line or 'NO content-hash LINE'}")
        out(
            f"   voting from {published.start} to {published.end} (unix seconds); voting power at block "
            f"{published.snapshot} ({published.snapshot_block_hash})"
        )
        out(f"   publishing again answers the same row ({again.pk == published.pk}), nothing posted twice")
        if hash_line != f"content-hash: {proposal.content_hash}":
            raise CommandError("the published body does not end with the document's content-hash line")

        out("\n== 12. holders vote on Snapshot: some through Lifeboat, some straight to the hub as a wallet would")
        # A live chain moves past the snapshot block; getPastVotes reads a block only once it is behind the head.
        w3.provider.make_request("anvil_mine", [hex(1)])  # type: ignore[arg-type]
        voters = [holder_account(i) for i in range(min(len(deployment.holders), SNAPSHOT_VOTERS))]
        through_lifeboat, straight = voters[: len(voters) // 2], voters[len(voters) // 2 :]

        def envelope(voter: Any, choice: int, *, later: int = 0) -> dict[str, Any]:
            message = messages.vote_message(
                voter=voter.address,
                space=venue.space,
                proposal=published.proposal_id,
                choice=choice,
                timestamp=int(time.time()) + later,
            )
            return messages.sign(voter, messages.message_data(messages.VOTE_TYPES, message))

        for index, voter in enumerate(through_lifeboat):
            choice = messages.AGAINST if index == 0 else messages.FOR
            submit_vote(snapshot_proposal_id=published.pk, envelope=envelope(voter, choice), rpc_url=url)
        out(f"   {len(through_lifeboat)} holders signed a Vote and submitted it through Lifeboat (one against)")
        changer = straight[1] if len(straight) > 1 else straight[0]
        for index, voter in enumerate(straight):
            choice = messages.ABSTAIN if index == 0 and voter != changer else messages.FOR
            if voter == changer:
                post_message(venue.sequencer_url, envelope(voter, messages.AGAINST))
            post_message(venue.sequencer_url, envelope(voter, choice, later=1 if voter == changer else 0))
        post_message(venue.sequencer_url, envelope(treasury, messages.FOR))
        out(f"   the treasury and {len(straight)} holders posted their signed Vote to the hub (one abstains)")
        out(f"   {changer.address} voted against, then changed to for: the later vote replaces the earlier")

        stats: dict[str, Any] = {}
        followed = follow_snapshot_proposal(snapshot_proposal_id=published.pk, rpc_url=url, stats=stats)
        stored = SnapshotVote.objects.filter(proposal=followed).count()
        exact = (int(followed.for_votes), int(followed.against_votes), int(followed.abstain_votes))
        out(
            f"   followed: state {followed.state}, {stored} votes stored ({stats.get('votes_read', '?')} read in "
            f"{stats.get('queries', '?')} GraphQL queries)"
        )
        out(
            f"   Lifeboat's exact tally (getPastVotes at block {followed.snapshot}): for {exact[0]:,}, "
            f"against {exact[1]:,}, abstain {exact[2]:,} base units"
        )
        out(f"   the hub's scores: {followed.scores} (total {followed.scores_total}, {followed.scores_state})")
        agree = _scores_agree(exact, followed.scores, GOV_DECIMALS)
        out(f"   equal to the hub's scores to its float precision: {agree}")
        changed = SnapshotVote.objects.get(proposal=followed, voter=changer.address)
        if not agree or stored != len(voters) + 1 or changed.choice != messages.FOR:
            raise CommandError(
                f"the followed votes differ from those cast: {stored} stored of {len(voters) + 1}, "
                f"tally {exact} against the hub's {followed.scores}, changed vote {changed.choice}"
            )

        out("\n== 13. the vote closes; followed to its outcome; the committee key approves the plan on chain")
        wait = max(0.0, published.end + 1 - time.time())
        out(f"   waiting {wait:.0f} s for the end of the voting period")
        time.sleep(wait)
        deadline = time.monotonic() + 60
        while True:
            followed = follow_snapshot_proposal(snapshot_proposal_id=published.pk, rpc_url=url)
            if followed.outcome or time.monotonic() > deadline:
                break
            time.sleep(1)
        out(
            f"   state {followed.state}, scores {followed.scores_state}: outcome {followed.outcome or 'none'} "
            f"({followed.outcome_reason})"
        )
        if followed.outcome != "passed":
            raise CommandError(f"the Snapshot proposal did not pass: {followed.outcome_reason or followed.state}")
        approval = approve_passed_proposal(snapshot_proposal_id=published.pk, rpc_url=url)
        if approval.status == "sending" and settings.CONFIRMATION_DEPTH:
            w3.provider.make_request("anvil_mine", [hex(settings.CONFIRMATION_DEPTH)])  # type: ignore[arg-type]
            approval = approve_passed_proposal(snapshot_proposal_id=published.pk, rpc_url=url)
        out(f"   approval {approval.pk} by the {approval.approver_kind} {approval.approver}: {approval.status}")
        for sent in approval.transactions:
            out(
                f"   approvePlan for plan {sent['onchain_plan_id']}: tx {sent['tx_hash']} "
                f"in block {sent.get('block_number')}"
            )
        approvals = list(PlanApproval.objects.filter(snapshot_proposal=published))
        for row in approvals:
            out(
                f"   PlanApproved: plan {row.onchain_plan_id}, batches root {row.batches_root}, "
                f"{row.batch_count} batches, budget {int(row.budget):,}, block {row.block_number} ({row.block_hash})"
            )
        nonce = w3.eth.get_transaction_count(committee.address)
        repeated = approve_passed_proposal(snapshot_proposal_id=published.pk, rpc_url=url)
        unchanged = w3.eth.get_transaction_count(committee.address) == nonce
        out(
            f"   approving again answers the same approval ({repeated.pk == approval.pk}, {repeated.status}); "
            f"nothing sent: {unchanged}"
        )
        if not any(row.plan_asset_id == asset.pk for row in approvals) or not unchanged:
            raise CommandError("the plan was not approved exactly once from the Snapshot outcome")
        status = (
            bind(w3, "RecoveryExecutor", venue.recovery_executor).functions.getPlan(int(asset.onchain_plan_id)).call()
        )
        out(
            f"   on chain, the RecoveryExecutor's plan {asset.onchain_plan_id} is "
            f"{'Approved' if status[4] == 1 else 'NOT approved'} with root 0x{status[0].hex()}"
        )
        if status[4] != 1 or "0x" + status[0].hex() != asset.commitment_root:
            raise CommandError("the RecoveryExecutor does not hold the plan approved with its commitment root")

    def _pay(self, w3: Web3, anvil: Anvil, *, plan: Any) -> None:
        """Steps 14-15: a real Celery worker pays the approved batches; every account is verified on chain."""
        out = self.stdout.write
        out("\n== 14. a Celery worker pays the approved batches, each exactly once")
        run, progress = self._execute(w3, anvil, plan=plan, done="paid")
        out(
            f"   run {run.status}: {progress['amount_paid']} base units to {progress['accounts_paid']} accounts, "
            f"{progress['gas_used']:,} gas, {int(progress['fees_spent_wei']):,} wei in fees"
        )

        out("\n== 15. verified on chain, account by account")
        report, markdown = self._verify(anvil, plan=plan)
        for entry in (e for e in report.assets if e.accounts or e.unexpected):
            paid = sum(1 for line in entry.accounts if line.status in ("paid", "credited"))
            out(
                f"   {entry.asset}: {paid}/{len(entry.accounts)} accounts paid in full, "
                f"allocated {entry.totals['allocated']:,}, paid {entry.totals['paid']:,}, "
                f"owed {entry.totals['owed']:,}, unexpected recipients {len(entry.unexpected)}"
            )
            for line in entry.accounts[:3]:
                out(
                    f"   {line.account}: allocated {line.allocated:,}, paid {line.paid:,} in "
                    f"{', '.join(line.transactions)}; balance rose by {line.balance_change:,}"
                )
        out(f"   read at block {report.block.number} ({report.block.hash}) on chain {report.chain_id}")
        out(f"   verdict: {report.verdict}; report written to {markdown}")
        if report.verdict != "complete":
            raise CommandError(f"verification says {report.verdict}: see {markdown}")

    def _execute(self, w3: Web3, anvil: Anvil, *, plan: Any, done: str) -> tuple[Any, dict[str, Any]]:
        """The approved plan's run, started through the execution service and carried out by a real Celery
        worker process (stopped afterwards); its progress printed as it changes. ``done`` says what a
        confirmed batch did to its accounts ("paid", "restored"). CommandError unless the run completed."""
        from recovery.execution import start_plan_execution
        from recovery.execution_selectors import run_progress

        out = self.stdout.write
        # The services and the worker read the node from the settings: the demo's own anvil.
        settings.CHAIN_RPC_URL = anvil.url
        worker = _worker(anvil)
        try:
            run = start_plan_execution(plan_id=plan.pk, actor=None, via="cli", w3=w3)
            out(
                f"   execution run {run.pk} started for plan id {run.onchain_plan_id} on {run.recovery_executor} "
                f"(approved in block {run.approval_block} {run.approval_block_hash})"
            )
            shown, deadline = None, time.monotonic() + 300
            while True:
                run.refresh_from_db()
                progress = run_progress(run)
                line = (progress["batches_done"], progress["accounts_paid"])
                if line != shown:
                    shown = line
                    out(
                        f"   {progress['batches_done']}/{progress['batches_total']} batches confirmed, "
                        f"{progress['accounts_paid']}/{progress['accounts_total']} accounts {done}"
                    )
                if run.status in ("completed", "failed", "cancelled") or worker.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    raise CommandError(f"execution run {run.pk} did not finish in 300 s (status {run.status})")
                time.sleep(0.5)
        finally:
            _stop(worker)
        if run.status != "completed":
            failures = "; ".join(f"batch {f['index']}: {f['reason']}" for f in progress["failures"])
            raise CommandError(f"execution run {run.pk} ended {run.status}: {failures or run.pause_reason}")
        return run, progress

    def _verify(self, anvil: Anvil, *, plan: Any) -> tuple[Any, Any]:
        """The verification service's report of ``plan``, written as the demo's markdown and JSON reports."""
        from recovery.verification import report_json, report_markdown, verify_plan

        report = verify_plan(plan.pk, rpc_url=anvil.url)
        markdown = settings.VAR_DIR / "demo-verification.md"
        markdown.write_text(report_markdown(report))
        (settings.VAR_DIR / "demo-verification.json").write_text(json.dumps(report_json(report), indent=2))
        return report, markdown


def _demo_space(deployment: DemoDeployment, *, author: str) -> dict[str, Any]:
    """The demo's Snapshot space on the local hub: erc20-votes on the demo token, ``author`` may propose."""
    from chain.demo import GOV_DECIMALS

    network = str(deployment.chain_id)
    return {
        "id": settings.SNAPSHOT_SPACE,
        "name": "Lifeboat demo",
        "network": network,
        "admins": [author],
        "moderators": [],
        "members": [],
        "filters": {"minScore": 0, "onlyMembers": False},
        "voting": {"delay": 0, "period": SNAPSHOT_PERIOD_SECONDS, "type": "basic", "quorum": SNAPSHOT_QUORUM_TOKENS},
        "strategies": [
            {
                "name": "erc20-votes",
                "network": network,
                "params": {"address": deployment.address("token"), "decimals": GOV_DECIMALS, "symbol": "LBT"},
            }
        ],
    }


def _scores_agree(exact: tuple[int, ...], scores: list[Any], decimals: int) -> bool:
    """Whether the hub's scores (whole tokens, floats as it wrote them) equal Lifeboat's exact base units
    to a float's precision (relative 1e-9)."""
    if len(scores) != len(exact):
        return False
    unit = Decimal(10) ** decimals
    return all(
        abs(Decimal(str(score)) * unit - amount) <= max(unit, Decimal(amount)) * Decimal("1e-9")
        for score, amount in zip(scores, exact, strict=True)
    )


def _ints(typed: dict[str, Any]) -> dict[str, Any]:
    """Typed data with its integer fields as ints (the API gives uint256 as decimal strings)."""
    integer = {f["name"] for fields in typed["types"].values() for f in fields if f["type"].startswith(("uint", "int"))}
    message = {k: int(v) if k in integer and isinstance(v, str) else v for k, v in typed["message"].items()}
    domain = {k: int(v) if k == "chainId" and isinstance(v, str) else v for k, v in typed["domain"].items()}
    return {**typed, "domain": domain, "message": message}


def _worker(anvil: Anvil) -> subprocess.Popen[bytes]:
    """A real Celery worker process on the demo's own database, broker and chain."""
    # The embedded mode on the demo's anvil: the dev chain's port, the dev keys (only on anvil, chain 31337).
    env = {k: v for k, v in os.environ.items() if k not in ("CHAIN_RPC_URL", "CHAIN_ID")}
    env |= {"DEVCHAIN_PORT": str(anvil.port), "DATABASE_URL": settings.DATABASE_URL}
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    log = open(settings.VAR_DIR / "demo-worker.log", "ab")  # noqa: SIM115  (closed with the process)
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO"]
    command += ["--hostname", f"demo-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    return subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
