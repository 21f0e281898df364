"""Fixtures of the escape-hatch and vault-shutdown tests: the session's demo deployment as recorded,
with the settings pointed at the session's anvil."""

import pytest
from django.conf import settings

from recovery.models import Deployment
from recovery.selectors import get_current_deployment


@pytest.fixture
def deployment(demo, chain_settings, db) -> Deployment:
    """The demo deployment as ``recorded_demo_deployment`` stored it (the current one for CHAIN_RPC_URL)."""
    found = get_current_deployment(rpc_url=settings.CHAIN_RPC_URL)
    assert found is not None
    return found
