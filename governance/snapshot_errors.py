"""Errors of Lifeboat's Snapshot venue; ``config/errors.py`` answers each with its status and code.

Each helper module adds the classes it raises below its own heading.
"""

from rest_framework import status as http

from config.errors import LifeboatError


class SnapshotVenueNotFound(LifeboatError):
    code = "snapshot_venue_not_found"
    status = http.HTTP_404_NOT_FOUND


class SnapshotProposalNotFound(LifeboatError):
    code = "snapshot_proposal_not_found"
    status = http.HTTP_404_NOT_FOUND


class SnapshotUnavailable(LifeboatError):
    """The sequencer or hub did not answer, or answered 5xx, after every retry (URL redacted)."""

    code = "snapshot_unavailable"
    status = http.HTTP_503_SERVICE_UNAVAILABLE


class SnapshotRefused(LifeboatError):
    """The sequencer refused a message; ``detail['error_description']`` is its reason, word for word."""

    code = "snapshot_refused"
    status = http.HTTP_409_CONFLICT


# --- governance/snapshot_client.py, snapshot_venues.py, snapshot_publishing.py, snapshot_following.py ---


# --- governance/snapshot_approval.py, snapshot_votes.py ---
