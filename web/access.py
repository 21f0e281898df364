"""Who may see and use the workspace pages (committee and executor), and who is signed in.

The holders' pages are open to everyone. The committee's and executors' pages are workspaces:
``role_required`` lets in a Django user holding the role's permission (a superuser holds every
one). An anonymous visitor (or a holder signed in with Ethereum only, who has no Django account)
is sent to the staff sign-in page with ``?next=``; a signed-in user without the role gets the 403
page naming the role and how an administrator grants it. The same rule guards GET and POST, so a
form posted by the wrong role changes nothing.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from recovery import roles

Role = tuple[str, str]  # (permission, role name)

COMMITTEE: Role = (roles.BUILD_PLAN, roles.COMMITTEE)
EXECUTOR: Role = (roles.RUN_EXECUTION, roles.EXECUTOR)


def has_role(request: HttpRequest, role: Role) -> bool:
    user = request.user
    return bool(user.is_authenticated and user.has_perm(role[0]))


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    """The 403 page, saying what was refused and how to get the right."""
    return render(request, "web/forbidden.html", {"message": message}, status=403)


def not_found(request: HttpRequest, message: str, *, nav: str | None = None) -> HttpResponse:
    """The 404 page, saying what was not found (``nav`` marks the header's current section)."""
    return render(request, "web/not_found.html", {"message": message, "nav": nav}, status=404)


def role_required(role: Role, action: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Page views for ``role`` only: anonymous → the sign-in page, wrong role → 403 naming the role.

    ``action`` completes "… needs the committee role", e.g. ``"the incidents workspace"``.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request, role):
                name = request.user.get_username()
                return forbidden(
                    request,
                    f"{action[:1].upper()}{action[1:]} needs the {role[1]} role; {name} does not have it "
                    f"(an administrator adds it with `manage.py role add {name} {role[1]}`).",
                )
            return view(request, *args, **kwargs)

        return guarded

    return decorate


committee_required = role_required(COMMITTEE, "the committee's workspace")
executor_required = role_required(EXECUTOR, "the executors' workspace")
