"""Errors of the monitoring app; ``config/errors.py`` answers each with its status and code.

Shared by the monitoring modules (engine, responses, pages and API): add a class here rather
than a second file.
"""

from rest_framework import status as http

from config.errors import LifeboatError


class WatchedNotFound(LifeboatError):
    code = "watched_deployment_not_found"
    status = http.HTTP_404_NOT_FOUND


class RuleNotFound(LifeboatError):
    code = "rule_not_found"
    status = http.HTTP_404_NOT_FOUND


class FiringNotFound(LifeboatError):
    code = "firing_not_found"
    status = http.HTTP_404_NOT_FOUND


class FiringNotOpen(LifeboatError):
    """Resolving a firing that is resolved already."""

    code = "firing_not_open"
    status = http.HTTP_409_CONFLICT


class InvalidRuleParams(LifeboatError):
    """A rule's thresholds do not fit its kind (``monitoring.rules.validate_params``); ``field`` names the one."""

    code = "invalid_rule_params"
    status = http.HTTP_400_BAD_REQUEST


class ContractNotPaused(LifeboatError):
    """Unpausing a contract that is not paused: nothing is sent."""

    code = "contract_not_paused"
    status = http.HTTP_409_CONFLICT


class GuardianRefused(LifeboatError):
    """The contract refuses the guardian key's pause or unpause (it is not the contract's guardian)."""

    code = "guardian_refused"
    status = http.HTTP_409_CONFLICT


class SenderKeyBusy(LifeboatError):
    """The guardian key's lease stayed taken, or its nonce kept being taken: retried later."""

    code = "guardian_key_busy"
    status = http.HTTP_503_SERVICE_UNAVAILABLE


class NoDeploymentToWatch(LifeboatError):
    """``monitor watch-demo`` with no recorded deployment for the configured chain."""

    code = "no_deployment_to_watch"
    status = http.HTTP_409_CONFLICT
