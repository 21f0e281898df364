from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    """State snapshots: content-addressed archives of every tracked position, with Merkle roots."""

    name = "archive"
    default_auto_field = "django.db.models.BigAutoField"
