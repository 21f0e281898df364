"""Settings of the execution benchmark's processes: the project's, with a Celery queue of the run's own.

``LIFEBOAT_BENCH_QUEUE`` names the default queue, so the benchmark's workers (and the benchmark
process that enqueues for them) share no queue with a test suite's worker or another run on
the same broker: the suite purges and consumes the default ``celery`` queue.
"""

import os

from config.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ.get("LIFEBOAT_BENCH_QUEUE", "celery")
