"""What every page's header needs: the roles of the signed-in user and the holder's address."""

from typing import Any

from django.http import HttpRequest

from web import access
from web.views_siwe import holder_address


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "is_committee": access.has_role(request, access.COMMITTEE),
        "is_executor": access.has_role(request, access.EXECUTOR),
        "holder_address": holder_address(request) if hasattr(request, "session") else None,
    }
