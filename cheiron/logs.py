"""Log setup: human-readable or JSON lines, with credentials redacted from every record.

cheiron never logs a credential itself; the redaction is for what libraries print at debug
level (kopf logs whole objects, inline passwords of a manager's spec included).
"""

import json
import logging
import re
import sys
from typing import Literal

LogFormat = Literal["text", "json"]

# A key that holds a credential, then its quoted value: Python reprs and JSON alike.
_SECRET_VALUE = re.compile(
    r"""(?P<key>['"]?(?:password|auth|secretKey|secretAccessKey|sessionToken|token|"""
    r"""authorizationToken|\.dockerconfigjson)['"]?\s*[:=]\s*)(?P<q>['"])(?:\\.|(?!(?P=q)).)*(?P=q)""",
    re.IGNORECASE,
)
REDACTED = "<redacted>"


def redact(text: str) -> str:
    """The text with every credential-looking value replaced."""
    return _SECRET_VALUE.sub(lambda m: f"{m['key']}{m['q']}{REDACTED}{m['q']}", text)


class RedactingFilter(logging.Filter):
    """Render the message once, redacted, so no formatter sees the raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record; rewrites its message."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, object and exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # kopf's per-object logger names the object it handles: pipelines filter on it.
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict):
            entry["object"] = {
                k: ref[k] for k in ("kind", "namespace", "name") if ref.get(k) is not None
            }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(fmt: LogFormat, verbose: bool) -> None:
    """Install the root handler; quiet the chatty libraries unless verbose."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        # kopf's per-object INFO lines are noise at cluster scale; transitions logs every
        # state entry and exit at INFO.
        logging.getLogger("kopf").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
