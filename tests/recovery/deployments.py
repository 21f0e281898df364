"""The demo deployment recorded for every test that uses the ``demo`` chain and the database.

A plan's batch leaves are bound to a RecoveryExecutor; ``build_plan`` defaults to the newest
recorded Deployment's on the incident's chain, as the demo command records it. The fixture is
registered by the conftest of each test package that builds plans.
"""

import pytest

_DB_FIXTURES = ("db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback")


@pytest.fixture(autouse=True)
def recorded_demo_deployment(request: pytest.FixtureRequest) -> None:
    """Record the session's demo deployment when the test uses both the demo chain and the database."""
    names = request.fixturenames
    if "demo" not in names or not (
        request.node.get_closest_marker("django_db") or any(name in names for name in _DB_FIXTURES)
    ):
        return
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in names or bool(marker and marker.kwargs.get("transaction"))
    # Database access first: this fixture may run before the one that would have enabled it.
    request.getfixturevalue("transactional_db" if transactional else "db")
    from recovery.services import record_deployment  # here: the module loads as a plugin before Django

    record_deployment(deployment=request.getfixturevalue("demo"))
