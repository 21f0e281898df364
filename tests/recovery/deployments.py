"""The demo deployment recorded for every test that uses the ``demo`` chain and the database.

A plan's batch leaves are bound to a RecoveryExecutor; ``build_plan`` defaults to the newest
recorded Deployment's on the incident's chain, as the demo command records it. The fixture is
registered by the conftest of each test package that builds plans.
"""

import pytest

from recovery.services import record_deployment

_DB_FIXTURES = ("db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback")


@pytest.fixture(autouse=True)
def recorded_demo_deployment(request: pytest.FixtureRequest) -> None:
    """Record the session's demo deployment when the test uses both the demo chain and the database."""
    names = request.fixturenames
    if "demo" not in names or not (
        request.node.get_closest_marker("django_db") or any(name in names for name in _DB_FIXTURES)
    ):
        return
    demo = request.getfixturevalue("demo")
    if request.node.get_closest_marker("django_db") and not any(name in names for name in _DB_FIXTURES):
        marker = request.node.get_closest_marker("django_db")
        request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    record_deployment(deployment=demo)
