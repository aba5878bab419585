"""Settings for Legibility, read only from the environment.

With nothing set the app runs as a self-contained demo: SQLite in the project folder and Celery
tasks executed in-process. ``DATABASE_URL`` switches to PostgreSQL and ``REDIS_URL`` to a Redis
broker. With ``DEBUG`` off, a missing ``SECRET_KEY`` stops start-up.
"""

import os
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# lets generic annotations such as ModelAdmin[Sample] run, not only type-check
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env_bool(name: str, *, default: bool) -> bool:
    """A switch from the environment. A value that is neither true nor false stops start-up:
    a typo must not quietly turn a safety switch off."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    if value.strip().lower() in TRUE:
        return True
    if value.strip().lower() in FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is neither true nor false: use one of 1/0, true/false, yes/no, on/off"
    )


def env_list(name: str, *, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or default


DEBUG = env_bool("DEBUG", default=True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off the app refuses to start without one; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "django-insecure-local-development-only-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "legibility",
    "annotations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "legibility.middleware.DatabaseUnavailableMiddleware",
    # last: it turns a login that axes refused into the lock-out page
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "legibility.urls"
WSGI_APPLICATION = "legibility.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# No DATABASE_URL: a SQLite file for the demo. IMMEDIATE transactions take the write lock at
# BEGIN, so two concurrent writers queue instead of failing with "database is locked" mid-way.
SQLITE_PATH = BASE_DIR / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{SQLITE_PATH}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Failed logins on /accounts/login/ and /admin/login/ are counted per user name and address:
# the fifth in a row locks that pair out for an hour (429 and a page that says so).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False  # no banner on every command's start

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# How long a login link staff hand out stays valid (it works once, then never again)
LOGIN_LINK_HOURS = int(os.environ.get("LOGIN_LINK_HOURS") or 72)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # gunicorn serves static files itself through WhiteNoise; no separate web server needed
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Behind TLS in production; the local docker-compose stack sets HTTPS_ONLY=0 to serve plain http.
HTTPS_ONLY = env_bool("HTTPS_ONLY", default=not DEBUG)
# X-Forwarded-Proto is believed only when a proxy that sets it (and strips a client's) stands
# in front: without one, any client could claim HTTPS.
BEHIND_PROXY = env_bool("BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_SSL_REDIRECT = HTTPS_ONLY
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts, styles, fonts and images come from our own static files only: no inline code, no
# CDN. Pages may not be framed. (The API docs allow Swagger UI's inline style, and no more.)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_PARSER_CLASSES": ["legibility.api.parsers.JSONBodyParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Legibility API",
    "DESCRIPTION": "Push prover samples, manage campaigns and read legibility curves.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # the schema and its docs describe every endpoint: staff only, like the API
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    # Swagger UI's files come from the installed sidecar package, never from a CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# A REST push carries at most 10,000 records; a body over this size is refused with 413. The
# push reads its body as a stream, so this limit is its own: every other request keeps
# Django's (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB).
INGEST_PUSH_MAX_BYTES = 64 * 1024 * 1024

# Where sample sources may point. Watched directories must lie under WATCHED_DIRECTORY_ROOT
# (docker-compose mounts ./var/watched there); model endpoints on loopback or link-local
# addresses (the machine itself, a cloud's metadata service) are refused unless allowed.
WATCHED_DIRECTORY_ROOT = Path(os.environ.get("WATCHED_DIRECTORY_ROOT") or BASE_DIR / "var")
ALLOW_LOCAL_MODEL_ENDPOINTS = env_bool("ALLOW_LOCAL_MODEL_ENDPOINTS", default=False)
# An API key is read from an environment variable a source or judge names: only names ending
# in _API_KEY or _TOKEN, or listed here (comma-separated), so that a source cannot be made to
# send, say, DATABASE_URL to a model server.
MODEL_API_KEY_VARIABLES = env_list("MODEL_API_KEY_VARIABLES", default=[])

# Celery. No REDIS_URL: tasks run eagerly in the calling process, so the demo needs no broker.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
# The campaign analysis is cached: in Redis when there is one, so the worker that warms it and
# every web process share it; otherwise in the process.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# Tasks are written to be safe to run twice, so a task is acknowledged only once it finished:
# a worker killed mid-task hands the message to the next worker instead of losing it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 10 * 60
CELERY_TASK_TIME_LIMIT = 11 * 60
# Redis redelivers an unacknowledged message after this long; it must exceed the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60 * 60}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis away for a while (bench/drill.py redis-outage): workers keep reconnecting however long
# it takes, instead of exiting after 100 tries; a task running when it went away finishes (it is
# safe to run twice should the broker hand it out again).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    # each source has its own interval; this only checks which are due
    "poll-due-sources": {"task": "legibility.ingest.tasks.sources_poll_due_task", "schedule": 5.0},
    "take-in-new-checkpoints": {
        "task": "annotations.tasks.campaigns_take_in_task",
        "schedule": 60.0,
    },
    "warm-campaign-analyses": {
        "task": "annotations.tasks.campaigns_analyse_task",
        "schedule": 300.0,
    },
    "expire-overdue-assignments": {
        "task": "annotations.tasks.assignments_expire_task",
        "schedule": 30.0,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"level": "INFO", "propagate": True},
        "httpx": {"level": "WARNING"},  # one line per request is noise, even in a simulation
        "axes": {"level": "WARNING"},  # a line per successful login is noise too
    },
}
