"""Errors of the recovery app; ``config/errors.py`` answers each with its status and code."""

from rest_framework import status as http

from config.errors import LifeboatError


class InvalidInput(LifeboatError):
    """A value the caller sent is wrong; ``detail['field']`` names it."""

    code = "invalid_input"
    status = http.HTTP_400_BAD_REQUEST


class IncidentNotFound(LifeboatError):
    code = "incident_not_found"
    status = http.HTTP_404_NOT_FOUND


class AnalysisNotFound(LifeboatError):
    code = "analysis_not_found"
    status = http.HTTP_404_NOT_FOUND


class PlanNotFound(LifeboatError):
    code = "plan_not_found"
    status = http.HTTP_404_NOT_FOUND


class AccountNotInPlan(LifeboatError):
    code = "account_not_in_plan"
    status = http.HTTP_404_NOT_FOUND


class AnalysisNotComplete(LifeboatError):
    code = "analysis_not_complete"
    status = http.HTTP_409_CONFLICT


class ChainUnavailable(LifeboatError):
    """The node failed; nothing was written. Retrying later is safe."""

    code = "chain_unavailable"
    status = http.HTTP_503_SERVICE_UNAVAILABLE


class RoleRequired(LifeboatError):
    """A signed-in user lacks the role a write needs; ``detail`` names the role and permission."""

    code = "role_required"
    status = http.HTTP_403_FORBIDDEN


class PlanAssetNotFound(LifeboatError):
    code = "plan_asset_not_found"
    status = http.HTTP_404_NOT_FOUND


class ChainMismatch(LifeboatError):
    """The node serves another chain than the incident's, or no longer has a block the work used."""

    code = "chain_mismatch"
    status = http.HTTP_409_CONFLICT


class PlanVersionConflict(LifeboatError):
    """Another build stored the plan version this one computed; building again takes the next."""

    code = "plan_version_conflict"
    status = http.HTTP_409_CONFLICT


class EarlierVersionExecuting(LifeboatError):
    """An earlier plan version of the incident is still paying: a new version would pay twice."""

    code = "earlier_version_executing"
    status = http.HTTP_409_CONFLICT
