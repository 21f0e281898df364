"""Errors of the governance app; ``config/errors.py`` answers each with its status and code.

Node failures and chain mismatches reuse recovery's ``ChainUnavailable`` (503) and
``ChainMismatch`` (409); bad input reuses ``InvalidInput`` (400).
"""

from rest_framework import status as http

from config.errors import LifeboatError


class VenueNotFound(LifeboatError):
    code = "venue_not_found"
    status = http.HTTP_404_NOT_FOUND


class NotAGovernorVenue(LifeboatError):
    """The address is no OpenZeppelin Governor; ``detail['missing']`` says what it lacks."""

    code = "not_a_governor"
    status = http.HTTP_400_BAD_REQUEST


class NotARecoveryExecutorVenue(LifeboatError):
    code = "not_a_recovery_executor"
    status = http.HTTP_400_BAD_REQUEST


class ApproverRoleMissing(LifeboatError):
    """The governor's executor lacks APPROVER_ROLE; the message names the exact ``grantRole`` to send."""

    code = "approver_role_missing"
    status = http.HTTP_409_CONFLICT
