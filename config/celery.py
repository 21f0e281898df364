"""The Celery app. Tasks live in each Django app's ``tasks.py`` and stay thin."""

import os

from celery import Celery
from celery.signals import setup_logging, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# DjangoTask gives every task delay_on_commit (enqueue only once the transaction commits).
app = Celery("lifeboat", task_cls="celery.contrib.django.task:DjangoTask")
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


@setup_logging.connect
def _log_through_the_redacting_handler(loglevel: int | str | None = None, **_: object) -> None:
    # Without a receiver of this signal Celery replaces the root logger's handlers with its own
    # (worker_hijack_root_logger), and worker and task records would skip the redaction filter
    # of settings.LOGGING. With one, Celery leaves logging to it: the worker and beat log through
    # the same redacting handler as Django, at the level given by --loglevel.
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


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
