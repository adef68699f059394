"""Log setup: human-readable or JSON lines, with credentials redacted from every record.

cheiron never logs a credential itself; the redaction is for what libraries print at debug
level (kopf logs whole objects, inline passwords of a manager's spec included; botocore logs
request headers and STS's XML replies) and for tracebacks, in either format. Under -v the
libraries that log wire traffic stay at INFO unless named with --debug-logger.
"""

import json
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any, Literal

LogFormat = Literal["text", "json"]

# A key that holds a credential, then its quoted value: Python reprs and JSON alike.
_SECRET_VALUE = re.compile(
    r"""(?P<key>['"]?(?:password|auth|secretKey|secretAccessKey|sessionToken|token|"""
    r"""authorizationToken|\.dockerconfigjson)['"]?\s*[:=]\s*)(?P<q>['"])(?:\\.|(?!(?P=q)).)*(?P=q)""",
    re.IGNORECASE,
)
# Headers as botocore and urllib3 print them: 'X-Amz-Security-Token': b'...' and the like.
_SECRET_HEADER = re.compile(
    r"""(?P<key>['"]?(?:x-amz-security-token|authorization)['"]?"""
    r"""\s*[:=]\s*b?)(?P<q>['"])(?:\\.|(?!(?P=q)).)*(?P=q)""",
    re.IGNORECASE,
)
# STS and other AWS query APIs answer in XML.
_SECRET_ELEMENT = re.compile(
    r"<(?P<tag>SecretAccessKey|SessionToken|Password|Token)>[^<]*</(?P=tag)>", re.IGNORECASE
)
REDACTED = "<redacted>"
# Libraries that log requests and replies at DEBUG: quiet under -v unless named.
WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "kubernetes", "s3transfer", "aiohttp")


def redact(text: str) -> str:
    """The text with every credential-looking value replaced."""
    text = _SECRET_VALUE.sub(lambda m: f"{m['key']}{m['q']}{REDACTED}{m['q']}", text)
    text = _SECRET_HEADER.sub(lambda m: f"{m['key']}{m['q']}{REDACTED}{m['q']}", text)
    return _SECRET_ELEMENT.sub(lambda m: f"<{m['tag']}>{REDACTED}</{m['tag']}>", text)


class RedactingFilter(logging.Filter):
    """Render the message once, redacted, so no formatter sees the raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record; rewrites its message."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class TextFormatter(logging.Formatter):
    """One line per record; tracebacks redacted like messages (they quote locals and bodies)."""

    def formatException(self, ei: Any) -> str:
        """The traceback, redacted."""
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        """The stack, redacted."""
        return redact(super().formatStack(stack_info))


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


def configure(fmt: LogFormat, verbose: bool, debug_loggers: Sequence[str] = ()) -> None:
    """Install the root handler; quiet the chatty libraries unless verbose or named."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    for name in debug_loggers:
        logging.getLogger(name).setLevel(logging.DEBUG)
    if not verbose:
        # kopf's per-object INFO lines are noise at cluster scale; transitions logs every
        # state entry and exit at INFO.
        logging.getLogger("kopf").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
