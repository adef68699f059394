"""Writes cheiron's Grafana dashboard and the kustomize copy of its alerts (`make monitoring`).

The panels are listed here once. The dashboard JSON goes to the chart (served as a ConfigMap)
and to config/prometheus/; the PrometheusRule in config/prometheus/ is the chart's template
rendered with its default values. `--check` fails when a written file differs from what this
script would write (tests/unit/config runs it).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.tools import helm  # noqa: E402 - the repository root is on the path now

CHART = ROOT / "charts" / "cheiron"
DASHBOARD_FILES = (
    CHART / "dashboards" / "cheiron.json",
    ROOT / "config" / "prometheus" / "cheiron-dashboard.json",
)
RULE_FILE = ROOT / "config" / "prometheus" / "prometheusrule.yaml"

# (title, kind, unit, [(expr, legend)]): every expr is run against a real Prometheus scraping
# an operator in tests/integration/monitoring, so a renamed metric fails the build.
PANELS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Managers by readiness",
        "stat",
        "short",
        (
            ("count(cheiron_manager_ready == 1)", "Ready"),
            ("count by (reason) (cheiron_manager_ready == 0)", "{{reason}}"),
        ),
    ),
    (
        "Managers not Ready",
        "table",
        "short",
        (("cheiron_manager_ready == 0", "{{manager}}: {{reason}}"),),
    ),
    (
        "Secrets written and ECR renewals",
        "timeseries",
        "ops",
        (
            ("sum(rate(cheiron_secrets_created_total[$__rate_interval]))", "Secrets written"),
            ("sum(rate(cheiron_secret_renewals_total[$__rate_interval]))", "ECR renewals"),
        ),
    ),
    (
        "Time to ECR token expiry",
        "timeseries",
        "s",
        (("cheiron_ecr_token_expiry_seconds", "{{manager}} {{entry}}"),),
    ),
    (
        "Pass duration",
        "timeseries",
        "s",
        (
            (
                "histogram_quantile(0.5, sum by (le, controller) "
                "(rate(cheiron_reconcile_duration_seconds_bucket[$__rate_interval])))",
                "p50 {{controller}}",
            ),
            (
                "histogram_quantile(0.99, sum by (le, controller) "
                "(rate(cheiron_reconcile_duration_seconds_bucket[$__rate_interval])))",
                "p99 {{controller}}",
            ),
        ),
    ),
    (
        "Passes by result",
        "timeseries",
        "ops",
        (
            (
                "sum by (controller, result) (rate(cheiron_reconcile_total[$__rate_interval]))",
                "{{controller}} {{result}}",
            ),
        ),
    ),
    (
        "Errors by reason",
        "timeseries",
        "ops",
        (
            (
                "sum by (controller, reason) (rate(cheiron_errors_total[$__rate_interval]))",
                "{{controller}} {{reason}}",
            ),
        ),
    ),
    (
        "Credentials as their registries see them",
        "table",
        "short",
        (("cheiron_credentials_verified == 1", "{{manager}} {{entry}}: {{result}}"),),
    ),
    (
        "Objects managed",
        "timeseries",
        "short",
        (("sum by (manager, kind) (cheiron_managed_objects)", "{{manager}} {{kind}}"),),
    ),
    ("Leader", "timeseries", "short", (("cheiron_leader", "{{instance}}"),)),
    (
        "Backed-up images by state",
        "timeseries",
        "short",
        (("sum by (backup, state) (cheiron_backup_images)", "{{backup}} {{state}}"),),
    ),
)


def _panel(
    index: int, title: str, kind: str, unit: str, targets: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    return {
        "id": index + 1,
        "title": title,
        "type": kind,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [
            {
                "refId": chr(ord("A") + n),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr,
                "legendFormat": legend,
                "instant": kind in ("stat", "table"),
            }
            for n, (expr, legend) in enumerate(targets)
        ],
    }


def dashboard() -> str:
    """The dashboard as Grafana imports it."""
    document = {
        "title": "cheiron",
        "uid": "cheiron",
        "tags": ["cheiron", "kubernetes"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                }
            ]
        },
        "panels": [_panel(i, *p) for i, p in enumerate(PANELS)],
    }
    return json.dumps(document, indent=2) + "\n"


def rules() -> str:
    """The chart's PrometheusRule with default values, as kustomize applies it."""
    rendered = subprocess.run(  # noqa: S603 - our pinned helm, our chart
        [
            str(helm()),
            "template",
            "cheiron",
            str(CHART),
            "--namespace",
            "cheiron-system",
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--show-only",
            "templates/prometheusrule.yaml",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rule = yaml.safe_load(rendered)
    # Helm's own labels (chart version, release) mean nothing outside Helm.
    rule["metadata"]["labels"] = {"app.kubernetes.io/name": "cheiron"}
    header = "# Generated by `make monitoring` from charts/cheiron/templates/prometheusrule.yaml.\n"
    return header + yaml.safe_dump(rule, sort_keys=False, width=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args()
    wanted = {path: dashboard() for path in DASHBOARD_FILES} | {RULE_FILE: rules()}
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for path in stale:
            print(
                f"{path.relative_to(ROOT)} is out of date: run `make monitoring`", file=sys.stderr
            )
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path])
    return 0


if __name__ == "__main__":
    sys.exit(main())
