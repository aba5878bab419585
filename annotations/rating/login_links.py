"""Login links for raters: a signed token naming the user, valid for a while and only while the
user's password is unchanged (changing it revokes every link)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.urls import reverse
from django.utils.crypto import salted_hmac

LINK_LIFETIME = timedelta(days=60)
_SALT = "annotations.login_link"


def _password_tag(user: AbstractBaseUser) -> str:
    return salted_hmac(_SALT, user.password).hexdigest()[:16]


def login_token(user: AbstractBaseUser) -> str:
    return signing.dumps({"user": user.pk, "tag": _password_tag(user)}, salt=_SALT)


def login_path(user: AbstractBaseUser) -> str:
    """The path of the user's login link: /rate/login/<token>/."""
    return reverse("rate-login-link", args=[login_token(user)])


def user_from_token(token: str) -> AbstractBaseUser | None:
    try:
        payload = signing.loads(token, salt=_SALT, max_age=LINK_LIFETIME)
    except signing.BadSignature:
        return None
    user = get_user_model().objects.filter(pk=payload.get("user"), is_active=True).first()
    if user is None or _password_tag(user) != payload.get("tag"):
        return None
    return user
