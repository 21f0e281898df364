"""Celery entry points of the governance app (each concern keeps its own module)."""

from governance.tasks_ballots import *  # noqa: F403
from governance.tasks_following import *  # noqa: F403
from governance.tasks_publishing import *  # noqa: F403
from governance.tasks_snapshot import *  # noqa: F403
