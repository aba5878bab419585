"""Login links for raters: a signed token naming the user, valid for LOGIN_LINK_HOURS (72 by
default) and once only: it is bound to the user's password and last login, so signing in with
it (or changing the password) revokes it. Opening the link shows a page that asks; only its
POST signs in, so no link preview, prefetch or stray click switches anyone's account."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.urls import reverse
from django.utils.crypto import salted_hmac

_SALT = "annotations.login_link"


def link_lifetime() -> timedelta:
    return timedelta(hours=settings.LOGIN_LINK_HOURS)


def _tag(user: AbstractBaseUser) -> str:
    # the last login changes when the link is used: a used link no longer matches
    last_login = user.last_login.isoformat() if user.last_login else ""
    return salted_hmac(_SALT, f"{user.password}|{last_login}").hexdigest()[:24]


def login_token(user: AbstractBaseUser) -> str:
    return signing.dumps({"user": user.pk, "tag": _tag(user)}, salt=_SALT)


def login_path(user: AbstractBaseUser) -> str:
    """The path of the user's login link: /rate/login/<token>/."""
    return reverse("rate-login-link", args=[login_token(user)])


def user_from_token(token: str) -> AbstractBaseUser | None:
    """The link's user, if the link is genuine, unexpired and unused."""
    try:
        payload = signing.loads(token, salt=_SALT, max_age=link_lifetime())
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("user"), int):
        return None
    user = get_user_model().objects.filter(pk=payload["user"], is_active=True).first()
    if user is None or _tag(user) != payload.get("tag"):
        return None
    return user
