from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recovery.roles import ROLE_PERMISSIONS


class Command(BaseCommand):
    help = (
        "Roles (Django groups): `role add USER committee|executor`, `role remove USER ROLE`, `role list [USER]`. "
        "`role add USER ROLE --create` also creates the account (then `changepassword USER`)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for action, text in (("add", "give USER the role"), ("remove", "take the role from USER")):
            command = sub.add_parser(action, help=text)
            command.add_argument("user", help="user name")
            command.add_argument("role", help=" or ".join(ROLE_PERMISSIONS))
            if action == "add":
                command.add_argument(
                    "--create",
                    action="store_true",
                    help="create USER if missing, with no usable password: set one with `changepassword USER`",
                )
        lister = sub.add_parser("list", help="each role's members, or one user's roles")
        lister.add_argument("user", nargs="?", help="user name")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            self._list(options["user"])
            return
        group = _role(options["role"])
        if options["action"] == "add" and options["create"]:
            user, created = _get_or_create_user(options["user"])
            if created:
                name = user.get_username()
                self.stdout.write(f"created user {name} (no password yet: `manage.py changepassword {name}`)")
        else:
            user = _user(options["user"])
        if options["action"] == "add":
            user.groups.add(group)
            self.stdout.write(f"{user.get_username()} now has the {group.name} role")
        else:
            user.groups.remove(group)
            self.stdout.write(f"{user.get_username()} no longer has the {group.name} role")

    def _list(self, username: str | None) -> None:
        if username is not None:
            user = _user(username)
            names = sorted(user.groups.filter(name__in=ROLE_PERMISSIONS).values_list("name", flat=True))
            note = " (superuser: may do everything)" if user.is_superuser else ""
            self.stdout.write(f"{user.get_username()}: {', '.join(names) or 'no role'}{note}")
            return
        for name in ROLE_PERMISSIONS:
            group = _role(name)
            members = sorted(group.user_set.values_list(get_user_model().USERNAME_FIELD, flat=True))
            self.stdout.write(f"{name}: {', '.join(members) or '(nobody)'}")


def _user(username: str) -> AbstractBaseUser:
    model = get_user_model()
    try:
        return model.objects.get_by_natural_key(username)
    except model.DoesNotExist:
        raise CommandError(
            f"there is no user {username!r}: add --create to create it, or use `manage.py createsuperuser` or the admin"
        ) from None


def _get_or_create_user(username: str) -> tuple[AbstractBaseUser, bool]:
    model = get_user_model()
    try:
        return model.objects.get_by_natural_key(username), False
    except model.DoesNotExist:
        if not username.strip():
            raise CommandError("the user name is empty") from None
        return model.objects.create_user(**{model.USERNAME_FIELD: username}), True


def _role(name: str) -> Group:
    if name not in ROLE_PERMISSIONS:
        raise CommandError(f"there is no role {name!r}: roles are {', '.join(ROLE_PERMISSIONS)}")
    try:
        return Group.objects.get(name=name)
    except Group.DoesNotExist:
        raise CommandError(f"the {name} group is missing: run `manage.py migrate`") from None
