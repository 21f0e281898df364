"""What a refused CSRF check answers (``CSRF_FAILURE_VIEW``): JSON for the API, a page otherwise.

A script posting to ``/api/`` or ``/auth/siwe/`` reads the error in the shape of every other API
error and is told how to pass the check; a person whose form went stale gets a page saying so.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

JSON_PREFIXES = ("/api/", "/auth/siwe/")
MESSAGE = (
    "the CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header "
    "(GET /auth/siwe/nonce/ sets the cookie), from a page of this site"
)

PAGE_MESSAGE = (
    "This form has expired or did not come from this site's page, so nothing was changed. "
    "Reload the page and try again (your browser must accept this site's cookies)."
)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.path.startswith(JSON_PREFIXES):
        body = {"error": {"code": "csrf_failed", "message": MESSAGE, "detail": {"reason": reason}}}
        return JsonResponse(body, status=403)
    return render(request, "web/forbidden.html", {"message": PAGE_MESSAGE}, status=403)
