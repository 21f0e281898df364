"""``manage.py demo_seed``: the demo incident `make run` opens on, ready to walk through on the pages.

On the embedded dev chain only (anvil, chain id 31337, the deployment ``manage.py devchain``
recorded for ``CHAIN_RPC_URL``): the demo exploit, the incident, its impact analysis computed
here (not queued, so the home page is ready when ``bin/run`` says "up"), a draft pro-rata plan
(not frozen: the committee freezes, rehearses, signs and publishes it on the pages), the recovered
funds sent to the ``RecoveryExecutor`` (so the rehearsal can pass), the dev governor as a venue,
and the demo staff accounts.

The SQLite database outlives the dev chain, which is fresh at each start: the seed is keyed to
the recorded deployment (``Incident.opened_via == "demo-seed:<deployment id>"``; ``devchain``
records a new deployment at each start), so running it twice on one chain makes one incident, and
an incident seeded on an earlier chain is marked stale (closed, its title saying so), never taken
for today's.
"""

import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from web3 import Web3

from chain import devkeys
from chain.anvil import DEV_CHAIN_ID
from chain.demo import DemoDeployment, DeployedContract, exploit_vault, fund_recovery_executor, holder_account
from chain.errors import ChainError
from chain.keys import load_account
from chain.redaction import redact_url
from chain.rpc import chain_id, client_version, connect
from config.errors import LifeboatError
from recovery.demo_seed import (
    DEMO_PASSWORD,
    DEMO_STAFF,
    DEMO_TITLE,
    RECOVERED_PERCENT,
    SEED_PREFIX,
    STALE_PREFIX,
    committee_address,
    seed_key,
    seeded_incident,
)
from recovery.models import AnalysisStatus, Deployment, Incident, IncidentStatus, RecoveryPlan
from recovery.selectors import get_current_deployment


class Command(BaseCommand):
    help = (
        "On the embedded dev chain only: run the demo exploit, open its incident, compute the impact and "
        "build a draft pro-rata plan, and create the demo staff accounts (idempotent)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet-password", action="store_true", help="do not print the demo password")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            w3, deployment = self._check_dev_chain()
            self._step(f"dev chain {DEV_CHAIN_ID}, deployment {deployment.pk} ({deployment.holder_count} holders)")
            self._mark_stale(deployment)
            incident = self._seed(w3, deployment)
            self._staff(options["quiet_password"])
        except ChainError as error:
            raise CommandError(str(error)) from None
        except LifeboatError as error:
            raise CommandError(error.message) from None
        seconds = time.monotonic() - started
        self._step(f"demo incident {incident.pk} ready in {seconds:.1f} s: /incidents/{incident.pk}/")

    def _step(self, line: str) -> None:
        self.stdout.write(f"demo seed: {line}")

    def _check_dev_chain(self) -> tuple[Web3, Deployment]:
        url = settings.CHAIN_RPC_URL
        if not settings.EMBEDDED:
            raise CommandError(
                f"demo_seed runs on the embedded dev chain only; CHAIN_RPC_URL is set ({redact_url(url)}): nothing done"
            )
        w3 = connect(url, timeout=10)
        actual = chain_id(w3)
        version = client_version(w3)
        if actual != DEV_CHAIN_ID or not version.lower().startswith("anvil"):
            raise CommandError(
                f"demo_seed runs on the dev chain only (anvil, chain {DEV_CHAIN_ID}); {redact_url(url)} is "
                f"{version} on chain {actual}: nothing done"
            )
        deployment = get_current_deployment(rpc_url=url)
        if deployment is None:
            raise CommandError(
                f"no demo deployment is recorded for {redact_url(url)}: start the dev chain with "
                "`manage.py devchain` (make run does): nothing done"
            )
        contracts = deployment.contracts.all()
        missing = [c.role for c in contracts if not w3.eth.get_code(Web3.to_checksum_address(c.address))]
        if missing:
            raise CommandError(
                f"deployment {deployment.pk} is not on the node at {redact_url(url)} (no code at "
                f"{', '.join(missing)}): a dev chain from an earlier start? Restart with `make run`: nothing done"
            )
        return w3, deployment

    def _mark_stale(self, deployment: Deployment) -> None:
        """Close the demo incidents of earlier dev chains, saying so in their title and description."""
        stale = (
            Incident.objects.filter(opened_via__startswith=SEED_PREFIX)
            .exclude(opened_via=seed_key(deployment))
            .exclude(title__startswith=STALE_PREFIX)
        )
        count = 0
        with transaction.atomic():
            for incident in stale.select_for_update():
                incident.title = (STALE_PREFIX + incident.title)[:200]
                incident.status = IncidentStatus.CLOSED
                incident.description = (
                    f"Stale: seeded on an earlier dev chain (deployment {incident.opened_via[len(SEED_PREFIX) :]}), "
                    "which stopped with its last `make run`; its blocks and transactions are not on today's chain.\n\n"
                    + incident.description
                )
                incident.save(update_fields=["title", "status", "description", "updated_at"])
                count += 1
        if count:
            self._step(f"{count} demo incident(s) of earlier dev chains marked stale (closed)")

    def _seed(self, w3: Web3, row: Deployment) -> Incident:
        from governance.services import add_governor_venue
        from recovery.impact import compute_impact, open_incident, request_impact
        from recovery.plans import build_plan

        deployment = _demo_deployment(row)
        vault, asset = deployment.address("vault"), deployment.address("asset")
        incident = seeded_incident(row)
        if incident is None:
            attacker = load_account(private_key=devkeys.ATTACKER_KEY)
            rollback_block = int(w3.eth.block_number)
            victims = [h for i, h in enumerate(deployment.holders) if i % 4 != 3]
            drainer, tx_hash = exploit_vault(w3, deployment, attacker=attacker, victims=victims)
            self._step(f"exploit: {len(victims)} holders drained in {tx_hash} (last good block {rollback_block})")
            incident = open_incident(
                title=DEMO_TITLE,
                kind="protocol_exploit",
                chain_id=deployment.chain_id,
                affected_contracts=[vault],
                affected_tokens=[vault, asset],
                detected_block=int(w3.eth.block_number),
                exploit_transactions=[tx_hash],
                exploiter_addresses=[attacker.address, drainer.address],
                description=(
                    "The demo vault's redeem() skips the allowance check: an attacker redeemed three holders "
                    f"in four's shares to itself, in one transaction (last good block {rollback_block}). "
                    f"Seeded by `manage.py demo_seed` on dev chain deployment {row.pk}."
                ),
                opened_via=seed_key(row),
            )
            self._step(f"incident {incident.pk} opened")
        else:
            self._step(f"incident {incident.pk} already seeded on this chain")

        analysis = incident.analyses.filter(status=AnalysisStatus.COMPLETED).order_by("-pk").first()
        if analysis is None:
            pending = incident.analyses.exclude(status=AnalysisStatus.FAILED).order_by("-pk").first()
            if pending is None:
                exploit = w3.eth.get_transaction_receipt(incident.exploit_transactions[0])
                pending = request_impact(
                    incident_id=incident.pk,
                    rpc_url=settings.CHAIN_RPC_URL,
                    # The exploit's deploy and drain are the attacker's two transactions, a block each.
                    rollback_block=int(exploit["blockNumber"]) - 2,
                    reference_block=int(w3.eth.block_number),
                    from_block=deployment.contracts["token"].block,
                    price_feed=deployment.address("price_feed"),
                    positions={vault: "vault_shares"},
                    confirmation_depth=0,  # the dev chain: nothing to wait for
                )
            analysis = compute_impact(analysis_id=pending.pk, rpc_url=settings.CHAIN_RPC_URL)
            if analysis.status != AnalysisStatus.COMPLETED:
                raise CommandError(f"the impact analysis {analysis.pk} ended {analysis.status}: {analysis.error}")
            shares = analysis.summary["assets"][vault]
            self._step(
                f"impact analysis {analysis.pk}: {shares['losers']} accounts lost "
                f"{int(shares['total_losses']):,} vault share units"
            )
        else:
            self._step(f"impact analysis {analysis.pk} already computed")

        plan = RecoveryPlan.objects.filter(incident=incident, analysis=analysis).order_by("version").first()
        if plan is None:
            recovered = int(analysis.summary["assets"][vault]["total_losses"]) * RECOVERED_PERCENT // 100
            plan = build_plan(
                analysis_id=analysis.pk,
                mode="restitute",
                policy="pro_rata",
                budgets={vault: str(recovered), asset: "0"},
                gas_ceiling=3_000_000,
                rpc_url=settings.CHAIN_RPC_URL,
            )
            self._step(f"draft plan {plan.pk} v{plan.version}: pro rata, {RECOVERED_PERCENT}% of the losses recovered")
        else:
            self._step(f"plan {plan.pk} v{plan.version} already built ({plan.status})")

        plan_asset = plan.assets.get(asset=vault)
        funded = fund_recovery_executor(
            w3,
            deployment,
            deployer=load_account(private_key=devkeys.DEPLOYER_KEY),
            token=plan_asset.payout_token,
            amount=int(plan_asset.total_allocated),
        )
        pays = int(plan_asset.total_allocated)
        self._step(f"RecoveryExecutor holds {funded:,} vault share units (the plan pays {pays:,})")
        venue = add_governor_venue(
            chain_id=deployment.chain_id,
            governor=deployment.address("governor"),
            recovery_executor=deployment.address("recovery_executor"),
            rpc_url=settings.CHAIN_RPC_URL,
        )
        self._step(f"governor venue {venue.pk}: {venue.name} at {venue.governor}")
        return incident

    def _staff(self, quiet_password: bool) -> None:
        """The demo staff accounts, each in its role; committee members linked to a dev committee key."""
        from proposals.signoffs import link_committee_member

        users = get_user_model()
        for username, (role, key_index) in DEMO_STAFF.items():
            user, created = users.objects.get_or_create(username=username)
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=role))
            line = f"staff account {username!r} ({role}){' created' if created else ''}"
            if key_index is not None:
                address = committee_address(key_index)
                try:
                    link_committee_member(username=username, address=address)
                    line += f", signs with {address} (anvil dev account {3 + key_index})"
                except LifeboatError as error:
                    line += f", not linked to {address}: {error.message}"
            self._step(line)
        if not quiet_password:
            names = ", ".join(DEMO_STAFF)
            self._step(f"staff sign-in at /login/: {names}, password {DEMO_PASSWORD!r} (dev chain only)")


def _demo_deployment(row: Deployment) -> DemoDeployment:
    """The recorded deployment as ``chain.demo`` takes it; its holders are the seeded demo holders."""
    return DemoDeployment(
        chain_id=row.chain_id,
        rpc_url=row.rpc_url,
        deployer=row.deployer,
        executor=row.executor,
        committee=row.committee,
        contracts={
            c.role: DeployedContract(c.name, Web3.to_checksum_address(c.address), c.block, c.tx_hash)
            for c in row.contracts.all()
        },
        holders=[holder_account(i).address for i in range(row.holder_count)],
    )
