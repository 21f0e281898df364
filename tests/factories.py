"""Test data: users (with their roles) and incidents.

``UserFactory(committee=True)`` is a member of the committee group created by migration
``0002_roles``, ``UserFactory(executor=True)`` of the executor group; ``UserFactory(superuser=True)``
may do everything. Every user's password is ``PASSWORD`` unless given.
"""

from collections.abc import Mapping, Sequence

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from recovery import impact, roles
from recovery.models import ImpactAnalysis, Incident, IncidentKind

PASSWORD = "a-test-password-nobody-uses"  # test accounts only


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.django.Password(PASSWORD)

    class Params:
        superuser = factory.Trait(is_superuser=True, is_staff=True)

    # Roles: `UserFactory(committee=True)`, `UserFactory(executor=True)` (the groups of 0002_roles).
    @factory.post_generation
    def committee(self, create: bool, extracted: bool | None, **_: object) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get(name=roles.COMMITTEE))

    @factory.post_generation
    def executor(self, create: bool, extracted: bool | None, **_: object) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get(name=roles.EXECUTOR))


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    title = factory.Sequence(lambda n: f"incident {n}")
    kind = IncidentKind.PROTOCOL_EXPLOIT
    chain_id = 31337
    opened_via = "api"


def analysed_exploit(
    *,
    rpc_url: str,
    exploited: dict,
    affected_contracts: Sequence[str] = (),
    tokens: Sequence[str] | None = None,
    positions: Mapping[str, str] | None = None,
    from_block: int = 0,
) -> ImpactAnalysis:
    """The ``exploited`` fixture's incident opened and its impact computed here (no worker).

    ``tokens`` defaults to the vault shares alone; the attacker and the drainer are the exploiters.
    """
    incident = IncidentFactory(
        title="Demo vault drained",
        affected_contracts=list(affected_contracts),
        affected_tokens=list(tokens or [exploited["vault"]]),
        exploiter_addresses=[exploited["attacker"], exploited["drainer"]],
    )
    analysis = impact.request_impact(
        incident_id=incident.pk,
        rpc_url=rpc_url,
        rollback_block=exploited["rollback_block"],
        reference_block=exploited["reference_block"],
        from_block=from_block,
        positions=positions,
    )
    return impact.compute_impact(analysis_id=analysis.pk, rpc_url=rpc_url)
