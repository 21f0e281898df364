from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RecoveryConfig(AppConfig):
    name = "recovery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from recovery.roles import sync_roles

        # After auth's own post_migrate handler has created the permissions (it is connected
        # first, being earlier in INSTALLED_APPS), keep the role groups in sync.
        post_migrate.connect(sync_roles, sender=self, dispatch_uid="recovery.sync_roles")
