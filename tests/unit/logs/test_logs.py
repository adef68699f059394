"""JSON log lines and the redaction of credentials (pure formatting, no I/O)."""

import json
import logging
import sys

from cheiron.logs import (
    REDACTED,
    WIRE_LOGGERS,
    JsonFormatter,
    RedactingFilter,
    TextFormatter,
    configure,
    redact,
)


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("kopf.objects", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_json_line_names_the_object_kopf_handles() -> None:
    ref = {"apiVersion": "v1", "kind": "ServiceAccount", "namespace": "team", "name": "default"}
    line = json.loads(JsonFormatter().format(_record("patched %s", "default", k8s_ref=ref)))
    assert line["message"] == "patched default"
    assert line["level"] == "INFO"
    assert line["object"] == {"kind": "ServiceAccount", "namespace": "team", "name": "default"}


def test_cluster_scoped_object_has_no_namespace_and_plain_records_no_object() -> None:
    ref = {"kind": "ClusterImagePullSecretManager", "namespace": None, "name": "all"}
    line = json.loads(JsonFormatter().format(_record("x", k8s_ref=ref)))
    assert line["object"] == {"kind": "ClusterImagePullSecretManager", "name": "all"}
    assert "object" not in json.loads(JsonFormatter().format(_record("x")))


def test_filter_redacts_arguments_before_any_formatter_sees_them() -> None:
    spec = {"username": "bot", "password": "hunter2", "auth": "Ym90Omh1bnRlcjI="}
    record = _record("spec: %r", spec)
    assert RedactingFilter().filter(record)
    for text in (logging.Formatter().format(record), JsonFormatter().format(record)):
        assert "hunter2" not in text
        assert "Ym90Omh1bnRlcjI=" not in text
        assert REDACTED in text
        assert "bot" in text  # only credentials go


def test_redact_covers_json_and_escaped_quotes() -> None:
    text = json.dumps({".dockerconfigjson": 'ey"J', "authorizationToken": "QVdT"})
    cleaned = redact(text)
    assert "QVdT" not in cleaned
    assert "ey" not in cleaned
    assert cleaned.count(REDACTED) == 2


def test_redact_covers_header_reprs_as_botocore_logs_them() -> None:
    headers = {
        "X-Amz-Security-Token": b"FwoGZXIvYXdzEXAMPLESESSION",
        "Authorization": b"AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/x, Signature=abc123",
        "User-Agent": b"Boto3/1.35",
    }
    cleaned = redact(f"Sending http request: <AWSPreparedRequest headers={headers}>")
    assert "FwoGZXIvYXdzEXAMPLESESSION" not in cleaned
    assert "Signature=abc123" not in cleaned
    assert "Boto3/1.35" in cleaned


def test_redact_covers_sts_xml_replies() -> None:
    body = (
        b"<AssumeRoleResponse><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId>"
        b"<SecretAccessKey>wJalrXUtnFEMI/K7MDENG</SecretAccessKey>"
        b"<SessionToken>FQoGZXIvYXdzEXAMPLE</SessionToken></Credentials></AssumeRoleResponse>"
    )
    cleaned = redact(f"Response body:\n{body!r}")
    assert "wJalrXUtnFEMI/K7MDENG" not in cleaned
    assert "FQoGZXIvYXdzEXAMPLE" not in cleaned
    assert f"<SessionToken>{REDACTED}</SessionToken>" in cleaned


def test_tracebacks_are_redacted_in_both_formats() -> None:
    def fail(password: str) -> None:
        raise ValueError(f"login failed with {{'password': '{password}'}}")

    secret = "".join(["hun", "ter2"])  # not in the source lines the traceback quotes
    try:
        fail(secret)
    except ValueError:
        record = logging.LogRecord(
            "cheiron", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    for formatter in (TextFormatter(), JsonFormatter()):
        text = formatter.format(record)
        assert "ValueError" in text
        assert secret not in text


def test_wire_loggers_stay_at_info_under_verbose_unless_named() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure("text", verbose=True, debug_loggers=["urllib3"])
        assert logging.getLogger("cheiron").getEffectiveLevel() == logging.DEBUG
        assert logging.getLogger("botocore").getEffectiveLevel() == logging.INFO
        assert logging.getLogger("botocore.endpoint").getEffectiveLevel() == logging.INFO
        assert logging.getLogger("urllib3").getEffectiveLevel() == logging.DEBUG
    finally:
        root.handlers[:], root.level = handlers, level
        for name in WIRE_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
