"""JSON log lines and the redaction of credentials (pure formatting, no I/O)."""

import json
import logging

from cheiron.logs import REDACTED, JsonFormatter, RedactingFilter, redact


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
