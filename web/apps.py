from django.apps import AppConfig


class WebConfig(AppConfig):
    """The pages for holders, the committee and executors, and Sign-In with Ethereum."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "web"
