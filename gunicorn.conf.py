"""Gunicorn's settings for the app; gunicorn reads this file from the directory it starts in
(the repository, or /app in the image)."""

import os

# X-Forwarded-Proto (and -Ssl, -Protocol) make gunicorn call a request HTTPS. It believes them
# from loopback by default, so any client on the machine could claim HTTPS; believe them only
# from the proxy in front (BEHIND_PROXY=1: from anywhere, as only the proxy can reach us then;
# FORWARDED_ALLOW_IPS names its addresses instead).
_behind_proxy = os.environ.get("BEHIND_PROXY", "").strip().lower() in {"1", "true", "yes", "on"}
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or ("*" if _behind_proxy else "")
