"""Lifeboat's error root and the one DRF exception handler.

Each app raises subclasses of ``LifeboatError`` (in its ``exceptions.py``) with a ``code`` and
an HTTP ``status``; the handler answers them as ``{"error": {"code", "message", "detail"}}``.
Anything else that escapes a view is a bug and stays a 500.
"""

from typing import Any

from rest_framework import status as http
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class LifeboatError(Exception):
    code = "error"
    status = http.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, LifeboatError):
        body = {"error": {"code": exc.code, "message": exc.message, "detail": exc.detail}}
        return Response(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "invalid")
        response.data = {"error": {"code": code, "message": _first_message(response.data), "detail": response.data}}
    return response


def _first_message(data: Any) -> str:
    while isinstance(data, dict | list) and data:
        data = next(iter(data.values())) if isinstance(data, dict) else data[0]
    return str(data)
