"""Celery entry points of the proposals app (each concern keeps its own module)."""

from proposals.tasks_rehearsal import *  # noqa: F403
