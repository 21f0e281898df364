"""HTTP Basic authentication for API clients, refusing what a database cannot even look up."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request


class BasicAuthentication(authentication.BasicAuthentication):
    """DRF's Basic scheme; a user name or password with a NUL character is refused as invalid.

    Django's sign-in forms refuse NUL characters, its auth backend does not: PostgreSQL then
    fails on the user lookup (``DataError``) and the caller got a 500 instead of a 401.
    """

    def authenticate_credentials(self, userid: str, password: str, request: Request | None = None) -> Any:
        if "\x00" in userid or "\x00" in password:
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        return super().authenticate_credentials(userid, password, request)


class BasicScheme(OpenApiAuthenticationExtension):
    """The OpenAPI schema names it as plain HTTP Basic (Swagger UI's "Authorize" offers it)."""

    target_class = BasicAuthentication
    name = "basicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "basic"}
