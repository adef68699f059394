"""cheiron's alerts, checked by promtool: each fires when it should and only then."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent
RULE = HERE.parents[2] / "config" / "prometheus" / "prometheusrule.yaml"


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: `make monitoring-tools` installs Debian's prometheus")
    return found


def _groups(*, annotations: bool) -> dict[str, list[dict[str, Any]]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULE.read_text())["spec"]["groups"]
    if not annotations:
        for group in groups:
            for rule in group["rules"]:
                rule.pop("annotations", None)
    return {"groups": groups}


def _promtool(promtool: str, *args: str, cwd: Path) -> None:
    done = subprocess.run([promtool, *args], cwd=cwd, check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_are_valid_prometheus_rules(promtool: str, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(_groups(annotations=True)))
    _promtool(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)


@pytest.mark.parametrize(
    ("test_file", "rules_file", "annotations"),
    [
        ("alerts_test.yaml", "rules.yaml", False),
        ("annotations_test.yaml", "rules-annotated.yaml", True),
    ],
)
def test_each_alert_fires_when_it_should_and_only_then(
    promtool: str, tmp_path: Path, test_file: str, rules_file: str, annotations: bool
) -> None:
    (tmp_path / rules_file).write_text(yaml.safe_dump(_groups(annotations=annotations)))
    shutil.copy(HERE / test_file, tmp_path / test_file)
    _promtool(promtool, "test", "rules", test_file, cwd=tmp_path)


def test_every_alert_is_tested_firing_and_silent() -> None:
    alerts = {r["alert"] for g in _groups(annotations=False)["groups"] for r in g["rules"]}
    tests = yaml.safe_load((HERE / "alerts_test.yaml").read_text())["tests"]
    checks = [c for t in tests for c in t["alert_rule_test"]]
    firing = {c["alertname"] for c in checks if c["exp_alerts"]}
    silent = {c["alertname"] for c in checks if not c["exp_alerts"]}
    assert firing == alerts
    assert silent == alerts
