"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis): every
operation, valid and invalid inputs, anonymous and signed in as a committee member. No input
may make the server fail (5xx).

In process, through the WSGI application (no network). The chain is the session's anvil with
an exploited demo vault, and the database holds a completed analysis and a plan, so that half
of the cases address real ids and reach the services rather than a 404.
"""

import base64
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from governance.services import add_governor_venue
from proposals.services import freeze_proposal
from recovery import plans
from tests.factories import UserFactory, analysed_exploit

# Small enough that the module runs well under a minute; derandomized, so every run sends the
# same cases and a failure reproduces.
EXAMPLES_PER_OPERATION = 25
PASSWORD = "fuzz-password"


@pytest.fixture
def wsgi_requests_keep_the_test_transaction() -> Iterator[None]:
    # Django's WSGI handler closes "old" connections at each request's start and end, which
    # would close the test's connection inside its transaction; Django's own test client
    # disconnects the same receiver.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def real_ids(anvil, demo, exploited, chain_settings) -> dict[str, object]:
    """An incident, its completed analysis, a plan, its frozen proposal and the dev governor's
    venue, for path parameters that exist."""
    analysis = analysed_exploit(
        rpc_url=anvil.url,
        exploited=exploited,
        affected_contracts=[exploited["vault"]],
        tokens=[exploited["vault"], exploited["asset"]],
        from_block=exploited["from_block"],
    )
    plan = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full")
    proposal, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    venue = add_governor_venue(
        chain_id=31337,
        governor=demo.address("governor"),
        recovery_executor=demo.address("recovery_executor"),
        rpc_url=anvil.url,
    )
    return {
        "incident_id": analysis.incident_id,
        "analysis_id": analysis.pk,
        "plan_id": plan.pk,
        "proposal_id": proposal.pk,
        "venue_id": venue.pk,
        "address": exploited["victims"][0],
        "asset": exploited["vault"],
    }


def _basic(username: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.django_db
@pytest.mark.parametrize("caller", ["anonymous", "committee"])
def test_no_generated_request_makes_the_api_fail_with_a_server_error(
    caller, real_ids, wsgi_requests_keep_the_test_transaction, settings: object
):
    # A fast hasher: each request checks the Basic password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]
    headers = {}
    if caller == "committee":
        headers = _basic(UserFactory(committee=True, password=PASSWORD).username)
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13, [op.label for op in operations]
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        known = {name: real_ids[name] for name in names if name in real_ids}
        cases = st.one_of(
            operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
            operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
            *([operation.as_strategy(schemathesis.GenerationMode.POSITIVE, path_parameters=known)] if known else []),
            *([operation.as_strategy(schemathesis.GenerationMode.NEGATIVE, path_parameters=known)] if known else []),
        )

        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        fuzz()
