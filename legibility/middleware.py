"""A database that cannot be reached (restarting, failing over, out of connections) is a
passing state, not a bug: the request gets a short 503 page that asks to try again, never a
traceback. Each write is one transaction, so a failed request leaves nothing half-written."""

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
# the errors of a connection that was refused, dropped or cancelled; others are bugs (500)
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def database_unavailable(request: HttpRequest, error: BaseException) -> HttpResponse:
    logger.warning("database unavailable for %s %s: %s", request.method, request.path, error)
    # a page is loaded again by itself until the database is back; a form is not sent again
    reload_s = RETRY_AFTER_S if request.method == "GET" else None
    # rendered without the request: the page must not need the database (no user, no session)
    page = render_to_string("503.html", {"reload_s": reload_s})
    response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    if request.headers.get("HX-Request"):
        # htmx swaps in no error response, which would leave the rater's buttons disabled:
        # the whole page loads again instead, showing this page until the database is back,
        # then the rater's item (still open if the answer was not stored, else the next one)
        response["HX-Refresh"] = "true"
    return response


class DatabaseUnavailableMiddleware:
    """Turns a view's database connection error into the 503 page, with DEBUG on or off."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_UNAVAILABLE):
            return database_unavailable(request, exception)
        return None
