"""HTTP Basic authentication as supervisord checks it: a plain or ``{SHA}``+hex-SHA1 password."""

from __future__ import annotations

import binascii

# hashlib and hmac load OpenSSL (several MiB of RSS): imported only when a daemon
# actually has credentials configured and a client presents some.


class BasicAuth:
    REALM = "default"

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def password_ok(self, candidate: str) -> bool:
        import hashlib
        import hmac

        if self.password.startswith("{SHA}"):
            digest = hashlib.sha1(candidate.encode("utf-8")).hexdigest()
            return hmac.compare_digest(self.password[5:], digest)
        return hmac.compare_digest(self.password.encode("utf-8"), candidate.encode("utf-8"))

    def check(self, authorization: str) -> bool:
        """True when the Authorization header value carries our user and password."""
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = binascii.a2b_base64(encoded.strip(), strict_mode=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        username, sep, password = decoded.partition(":")
        if not sep:
            return False
        import hmac

        user_ok = hmac.compare_digest(username.encode("utf-8"), self.username.encode("utf-8"))
        return self.password_ok(password) and user_ok

    @property
    def challenge(self) -> tuple[str, str]:
        return ("WWW-Authenticate", f'Basic realm="{self.REALM}"')
