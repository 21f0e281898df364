"""A logging filter that takes secrets out of every record before a handler writes it.

Installed on the console handler by ``settings.LOGGING`` (and so on Celery's worker, whose
logging is set up from the same dictionary: see ``config/celery.py``). A record's message is
formatted with its arguments, redacted and put back without arguments; a traceback is
formatted and redacted too, so nothing reaches the stream unredacted.
"""

import logging
from collections.abc import Iterable

from chain.redaction import redact


class RedactSecrets(logging.Filter):
    """Redacts URLs in every record and masks ``secrets`` (keys, passwords, configured URLs)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        named = [secret for secret in secrets if secret]
        # A hex key is as secret without its 0x prefix.
        self.secrets = tuple({*named, *(s[2:] for s in named if s.lower().startswith("0x"))})

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: keep both, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def redact(self, text: str) -> str:
        return redact(text, secrets=self.secrets)
