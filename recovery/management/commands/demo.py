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
