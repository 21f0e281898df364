"""Lifeboat's error root and the one DRF exception handler.

Each app raises subclasses of ``LifeboatError`` (in its ``exceptions.py``) with a ``code`` and
an HTTP ``status``; the handler answers them as ``{"error": {"code", "message", "detail"}}``,
with the error's ``headers`` (``Retry-After`` on a 429, say) on the response.
Anything else that escapes a view is a bug and stays a 500. Django's 404 and 500 pages under
``/api/`` (an unknown path, an uncaught error) answer the same JSON shape (``handler404`` and
``handler500`` in ``config/urls.py``).
"""

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import status as http
from rest_framework.response import Response


class LifeboatError(Exception):
    code = "error"
    status = http.HTTP_400_BAD_REQUEST

    @property
    def headers(self) -> Mapping[str, str]:
        """HTTP headers the answer carries; a subclass derives them from its detail."""
        return {}

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Imported here: rest_framework.views loads the default permission classes, whose errors
    # import this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, LifeboatError):
        body = {"error": {"code": exc.code, "message": exc.message, "detail": exc.detail}}
        return Response(body, status=exc.status, headers=dict(exc.headers))
    response = drf_exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "invalid")
        response.data = {"error": {"code": code, "message": _first_message(response.data), "detail": response.data}}
    return response


def _first_message(data: Any) -> str:
    while isinstance(data, dict | list) and data:
        data = next(iter(data.values())) if isinstance(data, dict) else data[0]
    return str(data)


# --- Django's error pages: JSON under /api/, HTML elsewhere (used when DEBUG is off) ---


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return api_not_found(request)


def api_not_found(request: HttpRequest) -> JsonResponse:
    """The answer for a path under /api/ that no endpoint serves."""
    body = {"error": {"code": "not_found", "message": f"there is no API endpoint at {request.path}", "detail": {}}}
    return JsonResponse(body, status=http.HTTP_404_NOT_FOUND)


def server_error(request: HttpRequest) -> HttpResponse:
    # Nothing about the failure goes to the caller (it may carry a secret); the log has it.
    if not _is_api(request):
        return defaults.server_error(request)
    body = {"error": {"code": "server_error", "message": "internal error: the failure was logged", "detail": {}}}
    return JsonResponse(body, status=http.HTTP_500_INTERNAL_SERVER_ERROR)
