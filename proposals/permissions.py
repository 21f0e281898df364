"""Who may write proposals: the committee (it freezes, and later signs off and publishes).

Freezing reuses the committee's ``recovery.build_plan`` permission rather than a new one, so
no permission migration is needed in ``recovery``.
"""

from recovery import roles
from recovery.permissions import RoleWrite


class CanFreezeProposal(RoleWrite):
    permission, role, action = roles.BUILD_PLAN, roles.COMMITTEE, "freezing a proposal document"
