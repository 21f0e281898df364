"""Test data: users (with their roles) and incidents.

``UserFactory(committee=True)`` is a member of the committee group created by migration
``0002_roles``, ``UserFactory(executor=True)`` of the executor group; ``UserFactory(superuser=True)``
may do everything. Every user's password is ``PASSWORD`` unless given.
"""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from recovery import roles
from recovery.models import Incident, IncidentKind

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
