"""Celery tasks of the Snapshot venue (filled by the approval module's owner)."""
