"""Errors of the proposals app; ``config/errors.py`` answers each with its status and code."""

from rest_framework import status as http

from config.errors import LifeboatError


class ProposalNotFound(LifeboatError):
    code = "proposal_not_found"
    status = http.HTTP_404_NOT_FOUND


class PlanNotFreezable(LifeboatError):
    """The plan's data cannot make a canonical document (e.g. an amount stored as a float)."""

    code = "plan_not_freezable"
    status = http.HTTP_409_CONFLICT
