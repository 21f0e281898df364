"""Fixtures of the archive tests: a snapshot storage of the test's own, and the demo deployment recorded."""

import pytest

from recovery.services import record_deployment


@pytest.fixture
def snapshot_dir(settings, tmp_path):
    """The ``state_snapshots`` storage in a folder of the test's own (Django resets ``storages`` on the change)."""
    folder = tmp_path / "state-snapshots"
    settings.STORAGES = {
        **settings.STORAGES,
        "state_snapshots": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder)},
        },
    }
    return folder


@pytest.fixture
def tracked(chain_settings, demo, snapshot_dir, db):
    """The demo deployment recorded as the current one for the session's anvil: its asset and vault are tracked."""
    chain_settings.CONFIRMATION_DEPTH = 0
    record_deployment(deployment=demo)
    return demo
