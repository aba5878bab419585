"""Where a sample source may point, checked when staff save it (admin, add_source) and again
when a worker polls it: watched directories under WATCHED_DIRECTORY_ROOT, model servers off
loopback and link-local addresses unless allowed, API keys only from variables meant for them."""

from pathlib import Path

from django.conf import settings

from legibility.model_client import api_key_variable_problem, endpoint_address_problem


def directory_problem(path: str) -> str:
    """Why a watched directory may not be read; "" when it may. Symbolic links are followed
    first, so a link cannot lead out of the root."""
    root = Path(settings.WATCHED_DIRECTORY_ROOT).resolve()
    if not path:
        return "a watched directory needs a path"
    if not Path(path).resolve().is_relative_to(root):
        return (
            f"{path} is outside {root}, the root of watched directories "
            "(set WATCHED_DIRECTORY_ROOT to allow another)"
        )
    return ""


def endpoint_problem(*, base_url: str, api_key_env: str) -> str:
    """Why an endpoint source may not be polled as configured; "" when it may."""
    return endpoint_address_problem(base_url.strip()) or api_key_variable_problem(api_key_env)
