"""A failed periodic snapshot run is recorded, redacted, and shown on the archive page until a run succeeds."""

import dataclasses

import pytest
from django.test import Client
from django.urls import reverse

from archive.exceptions import SnapshotStorageFailed
from archive.models import PeriodicSnapshotRun
from archive.tasks import take_periodic_snapshot
from recovery.exceptions import ChainUnavailable
from recovery.services import record_deployment

FULL_DISK = "tests.archive.storages.FullDiskStorage"


def _page() -> str:
    response = Client().get(reverse("snapshots-page"))
    assert response.status_code == 200
    return response.content.decode()


def _mine(w3, blocks: int) -> None:
    w3.provider.make_request("anvil_mine", [hex(blocks)])


def test_a_failed_run_is_shown_on_the_list_until_a_run_succeeds(w3, tracked, snapshot_dir, settings):
    settings.STATE_SNAPSHOT_EVERY_BLOCKS = 1
    good_storage = settings.STORAGES["state_snapshots"]
    settings.STORAGES = {**settings.STORAGES, "state_snapshots": {**good_storage, "BACKEND": FULL_DISK}}
    assert 'data-testid="periodic-failed"' not in _page()

    with pytest.raises(SnapshotStorageFailed):
        take_periodic_snapshot.apply().get()

    run = PeriodicSnapshotRun.objects.get()
    assert not run.ok and "No space left on device" in run.error and run.succeeded_at is None
    html = _page()
    assert 'data-testid="periodic-failed"' in html
    assert "The last periodic snapshot failed at " + run.ran_at.strftime("%Y-%m-%d %H:%M:%S") + " UTC" in html
    assert "No space left on device" in html

    settings.STORAGES = {**settings.STORAGES, "state_snapshots": good_storage}
    _mine(w3, 1)
    assert take_periodic_snapshot.apply().get() is not None
    run.refresh_from_db()
    assert run.ok and run.error == "" and run.succeeded_at == run.ran_at
    assert 'data-testid="periodic-failed"' not in _page()


def test_an_unreachable_node_is_recorded_without_its_credentials(tracked, chain_settings):
    # The deployment recorded for a node that does not answer, at a URL carrying credentials.
    secret_url = "http://lifeboat:hunter2@127.0.0.1:9/rpc/SECRETTOKEN?key=abc123"
    record_deployment(deployment=dataclasses.replace(tracked, rpc_url=secret_url))
    chain_settings.CHAIN_RPC_URL = secret_url

    with pytest.raises(ChainUnavailable):
        take_periodic_snapshot.apply().get()

    run = PeriodicSnapshotRun.objects.get()
    html = _page()
    assert not run.ok and run.error and run.error in html
    for secret in ("hunter2", "SECRETTOKEN", "abc123", "lifeboat:"):
        assert secret not in run.error and secret not in html


def test_nothing_tracked_is_a_failed_run_too(chain_settings, snapshot_dir, db):
    assert take_periodic_snapshot.apply().get() is None

    run = PeriodicSnapshotRun.objects.get()
    assert not run.ok and run.error
    assert run.error in _page()
