"""The demo incident ``make run`` opens on: its names, its key to the dev chain's deployment, its staff.

``manage.py demo_seed`` seeds it; the home page finds it through ``seeded_incident``. The SQLite
database outlives the dev chain, which is fresh at each start, so the demo incident is keyed to
the recorded deployment (``Incident.opened_via == "demo-seed:<deployment id>"``).
"""

from eth_account import Account

from chain import devkeys
from recovery import roles
from recovery.models import Deployment, Incident

# The demo staff accounts' password: the dev chain's only, printed by bin/run and shown on the home
# page in embedded mode alone (never with a real node, where the seed refuses to run).
DEMO_PASSWORD = "lifeboat-dev"  # noqa: S105 (a public dev password, like anvil's keys)
DEMO_TITLE = "Demo vault drained through redeem() without allowance check"
STALE_PREFIX = "[earlier dev chain] "
SEED_PREFIX = "demo-seed:"
# username -> (role, committee key index or None): `committee` signs with anvil's account 3,
# `committee2` with account 4 (sign-off needs SIGNOFF_THRESHOLD members, 2 by default).
DEMO_STAFF: dict[str, tuple[str, int | None]] = {
    "committee": (roles.COMMITTEE, 0),
    "committee2": (roles.COMMITTEE, 1),
    "executor": (roles.EXECUTOR, None),
}
RECOVERED_PERCENT = 60


def seed_key(deployment: Deployment) -> str:
    """What ``Incident.opened_via`` holds for the demo incident seeded on ``deployment``."""
    return f"{SEED_PREFIX}{deployment.pk}"


def seeded_incident(deployment: Deployment | None) -> Incident | None:
    """The demo incident seeded on ``deployment`` (today's dev chain), or None."""
    if deployment is None:
        return None
    return Incident.objects.filter(opened_via=seed_key(deployment)).order_by("pk").first()


def committee_address(index: int) -> str:
    return Account.from_key(devkeys.COMMITTEE_KEYS[index]).address
