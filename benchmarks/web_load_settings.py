"""Settings of the web-load benchmark's server: Lifeboat's own, with the benchmark's peer and floor URLs added.

DEBUG stays as the environment says (the benchmark leaves it off); only ``ROOT_URLCONF`` differs,
so the pages are served exactly as in production, beside ``/bench/peer/...`` and ``/bench/floor/...``.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.web_load_app"
