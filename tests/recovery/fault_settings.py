"""Settings of the worker processes the fault tests start: the project's, with a queue of their own.

``LIFEBOAT_FAULTS_QUEUE`` names the default Celery queue, so the test's workers (and the ``plan
execute`` command that enqueues for them) share no queue with another worker on the same broker
(RabbitMQ's default vhost is shared by everything on this machine).
"""

import os

from config.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ.get("LIFEBOAT_FAULTS_QUEUE", "celery")
