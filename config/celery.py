"""The Celery app. Tasks live in each Django app's ``tasks.py`` and stay thin."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("lifeboat")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _load_settings() -> None:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load here
    except ImproperlyConfigured as error:
        raise SystemExit(f"lifeboat: {error}") from None


_load_settings()
app.autodiscover_tasks()


@worker_init.connect
def _refuse_to_start_on_bad_configuration(**_: object) -> None:
    # A worker with an unreachable node or a missing key would accept tasks and fail each one;
    # stop it at start-up instead, with the one-line error the preflight check gives.
    from django.conf import settings

    if not settings.LIFEBOAT_PREFLIGHT_ON_WORKER_START:
        return
    from config.preflight import ConfigurationError, check_configuration

    try:
        check_configuration()
    except ConfigurationError as error:
        raise SystemExit(f"lifeboat: {error}") from None
