"""Django's database sessions, taking only session keys Django itself could have made.

Django makes keys of lowercase letters and digits, but looks up any cookie value of 8 or more
characters: one with a NUL character (a quoted cookie may carry ``\\000``) made PostgreSQL fail
on the lookup, a 500 on every page. Such a key is now simply no session.
"""

from django.contrib.sessions.backends import db


class SessionStore(db.SessionStore):
    def _validate_session_key(self, key: str | None) -> bool:
        return bool(super()._validate_session_key(key)) and key.isascii() and key.isalnum()
