"""Venues, publications and outcomes arrive with the governance issue."""
