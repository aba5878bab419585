import sys

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views import defaults
from django.views.decorators.cache import never_cache

from legibility.middleware import DATABASE_UNAVAILABLE, database_unavailable


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_staff:
        return redirect("dashboard:index")
    return redirect("rate")


@never_cache
def health(request: HttpRequest) -> HttpResponse:
    """Liveness for the load balancer and docker-compose: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 handler (DEBUG off). A database connection error raised outside a view, in a
    middleware such as the session's, gets the 503 page all the same."""
    error = sys.exc_info()[1]
    if isinstance(error, DATABASE_UNAVAILABLE):
        return database_unavailable(request, error)
    return defaults.server_error(request)
