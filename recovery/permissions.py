"""Who may write through the API: reads are open, each write needs its role's permission.

An anonymous write is answered 401 with a ``WWW-Authenticate`` challenge (DRF does that when
a permission refuses a request no authenticator accepted); a signed-in user without the role
gets 403 with ``{"error": {"code": "role_required", ...}}`` naming the role.
"""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from recovery import roles
from recovery.exceptions import RoleRequired


class ReadOnly(BasePermission):
    """Reads for everyone, no writes: the default for a view that names no role."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS


class RoleWrite(BasePermission):
    """Reads for everyone; writes need ``permission``, which ``role`` holds."""

    permission: str
    role: str
    action: str

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        user = request.user
        if user is None or not user.is_authenticated:
            return False  # DRF answers 401 with the first authenticator's challenge
        if user.has_perm(self.permission):
            return True
        raise RoleRequired(
            f"{self.action} needs the {self.role} role; {user.get_username()} does not have it "
            f"(an administrator adds it with `manage.py role add {user.get_username()} {self.role}`)",
            role=self.role,
            permission=self.permission,
        )


class CanOpenIncident(RoleWrite):
    permission, role, action = roles.OPEN_INCIDENT, roles.COMMITTEE, "opening an incident"


class CanRunAnalysis(RoleWrite):
    permission, role, action = roles.RUN_ANALYSIS, roles.COMMITTEE, "requesting or cancelling an impact analysis"


class CanBuildPlan(RoleWrite):
    permission, role, action = roles.BUILD_PLAN, roles.COMMITTEE, "building a recovery plan"


class CanManageMonitors(RoleWrite):
    permission, role, action = roles.MANAGE_MONITORS, roles.COMMITTEE, "configuring monitors or recording an unpause"


class CanTakeSnapshot(RoleWrite):
    permission, role, action = roles.TAKE_SNAPSHOT, roles.COMMITTEE, "taking, verifying or committing a state snapshot"


class CanShutDown(RoleWrite):
    permission, role, action = roles.SHUT_DOWN, roles.COMMITTEE, "pausing or shutting down a watched contract"
