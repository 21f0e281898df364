import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from web3 import Web3

from chain import devkeys
from chain.anvil import Anvil
from chain.artifacts import bind
from chain.demo import ASSET_DECIMALS, DemoDeployment, deploy_demo_stack, exploit_vault, seed_holders
from chain.errors import ChainError
from chain.keys import load_account
from chain.rpc import connect
from recovery.impact import compute_impact, open_incident, request_impact
from recovery.merkle import StandardMerkleTree
from recovery.models import AnalysisStatus
from recovery.plans import build_plan
from recovery.selectors import account_position
from recovery.services import record_deployment


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


class Command(BaseCommand):
    help = "Run the headless end-to-end scenario on a fresh dev chain and print a report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--holders", type=int, default=settings.DEVCHAIN_HOLDERS)

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            with Anvil(port=0, log_path=settings.VAR_DIR / "demo-anvil.log") as anvil:
                self._run(anvil, holders=options["holders"])
        except ChainError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"\ndemo finished in {time.monotonic() - started:.1f} s")

    def _run(self, anvil: Anvil, *, holders: int) -> None:
        out = self.stdout.write
        w3 = connect(anvil.url)
        deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
        attacker = load_account(private_key=devkeys.ATTACKER_KEY)
        out(f"== 1. dev chain {anvil.url} (chain {w3.eth.chain_id}): deploying the demo protocol")
        deployment = deploy_demo_stack(
            w3,
            rpc_url=anvil.url,
            deployer=deployer,
            executor=load_account(private_key=devkeys.EXECUTOR_KEY).address,
            committee=load_account(private_key=devkeys.COMMITTEE_KEY).address,
        )
        deployment = seed_holders(w3, deployment, deployer=deployer, count=holders)
        row = record_deployment(deployment=deployment)
        for role, contract in deployment.contracts.items():
            out(f"   {role:<22} {contract.address}  block {contract.block}")
        out(f"   {len(deployment.holders)} holders seeded; recorded as deployment {row.pk}")

        before = _vault_state(w3, deployment, attacker.address)
        rollback_block = w3.eth.block_number
        # Three holders in four are drained; the rest keep their shares (unaffected accounts).
        victims = [h for i, h in enumerate(deployment.holders) if i % 4 != 3]
        out(f"\n== 2. exploit: the vault's redeem() skips the allowance check; draining {len(victims)} holders")
        drainer, tx_hash = exploit_vault(w3, deployment, attacker=attacker, victims=victims)
        after = _vault_state(w3, deployment, attacker.address)
        out(f"   exploiter {attacker.address} via drainer {drainer.address}")
        out(f"   exploit transaction {tx_hash} (block {w3.eth.block_number}; last good block {rollback_block})")

        out("\n== 3. the vault before and after")
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

        out("\n== 4. incident opened, impact computed from the chain's Transfer logs")
        vault, asset = deployment.address("vault"), deployment.address("asset")
        incident = open_incident(
            title="Demo vault drained through redeem() without allowance check",
            kind="protocol_exploit",
            chain_id=deployment.chain_id,
            affected_contracts=[vault],
            affected_tokens=[vault, asset],
            detected_block=w3.eth.block_number,
            exploit_transactions=[tx_hash],
            exploiter_addresses=[attacker.address, drainer.address],
            opened_via="demo",
        )
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
        out(f"\n== 5. pro-rata plan: {_usd(recovered)} recovered (60% of the losses), restituted in vault shares")
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
            entry["allocation_root"], ["address", "uint256"], [holder, int(mine["allocation"])], mine["proof"]
        )
        out(
            f"   holder {holder}: lost {-int(mine['delta']):,}, gets {int(mine['allocation']):,}; "
            f"proof of {len(mine['proof'])} hashes {'verifies' if proven else 'DOES NOT VERIFY'}"
        )
        if not proven:
            raise CommandError("a holder's allocation proof did not verify")

        out("\n== 6. the proposal document, frozen, and the venue it will go to")
        from governance.services import add_governor_venue
        from proposals.services import freeze_proposal

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
