"""Errors of executing approved plans; ``config/errors.py`` answers each with its status and code."""

from rest_framework import status as http

from config.errors import LifeboatError


class ExecutionRunNotFound(LifeboatError):
    code = "execution_run_not_found"
    status = http.HTTP_404_NOT_FOUND


class PlanNotApprovedOnChain(LifeboatError):
    """The RecoveryExecutor has no (confirmed) approval of the plan asset, or a different one."""

    code = "plan_not_approved_on_chain"
    status = http.HTTP_409_CONFLICT


class CommitmentMismatch(LifeboatError):
    """The approved root, or the root rebuilt from the stored batches, is not the plan's commitment."""

    code = "commitment_mismatch"
    status = http.HTTP_409_CONFLICT


class PlanSupersededOnChain(LifeboatError):
    code = "plan_superseded_on_chain"
    status = http.HTTP_409_CONFLICT


class ExecutorContractPaused(LifeboatError):
    code = "executor_contract_paused"
    status = http.HTTP_409_CONFLICT


class ExecutorKeyLacksRole(LifeboatError):
    code = "executor_key_lacks_role"
    status = http.HTTP_409_CONFLICT


class NothingToPush(LifeboatError):
    """A pull plan: holders claim; there are no batches to send."""

    code = "nothing_to_push"
    status = http.HTTP_409_CONFLICT


class RunStateConflict(LifeboatError):
    """The action does not apply to the run in its current status."""

    code = "run_state_conflict"
    status = http.HTTP_409_CONFLICT


class SenderBusy(Exception):
    """Another worker holds the sender key's lease; the task tries again later (not an API error)."""


class LaterVersionExists(LifeboatError):
    """A later plan version of the incident exists: this run paying more would pay twice."""

    code = "later_version_exists"
    status = http.HTTP_409_CONFLICT
