"""Errors of the archive app; ``config/errors.py`` answers each with its status and code."""

from rest_framework import status as http

from config.errors import LifeboatError


class SnapshotNotFound(LifeboatError):
    code = "snapshot_not_found"
    status = http.HTTP_404_NOT_FOUND


class BlockNotConfirmed(LifeboatError):
    """The block asked for is closer to the head than the confirmation depth: it may still be reorged."""

    code = "block_not_confirmed"
    status = http.HTTP_409_CONFLICT


class NothingTracked(LifeboatError):
    """No deployment is recorded for the configured node, or it has none of the tracked token roles."""

    code = "nothing_tracked"
    status = http.HTTP_409_CONFLICT


class RegistryUnavailable(LifeboatError):
    """The deployment has no SnapshotRegistry, or the registry refused the commit."""

    code = "registry_unavailable"
    status = http.HTTP_409_CONFLICT


class SnapshotStorageFailed(LifeboatError):
    """The storage backend refused the file (full, read-only, unreachable); nothing was recorded."""

    code = "snapshot_storage_failed"
    status = http.HTTP_507_INSUFFICIENT_STORAGE


class SnapshotAltered(LifeboatError):
    """The stored file no longer matches its recorded SHA-256: no proof is served from it."""

    code = "snapshot_altered"
    status = http.HTTP_409_CONFLICT
