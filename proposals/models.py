"""Canonical proposal documents arrive with the proposals issue."""
