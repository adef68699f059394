"""The Dockerfile: pinned base and uv, locked install without tests, non-root, real command."""

import json
import re
import shlex
import tomllib

from cheiron.cli import build_parser
from tests.support.dockerfile import instructions, stages
from tests.support.tools import ROOT


def _args() -> dict[str, str]:
    return dict(a.split("=", 1) for op, a in instructions() if op == "ARG" and "=" in a)


def _image(from_args: str) -> str:
    image = from_args.split(maxsplit=1)[0]
    return re.sub(r"\$\{(\w+)\}", lambda m: _args()[m.group(1)], image)


def test_every_stage_uses_the_same_pinned_python() -> None:
    images = {_image(stage[0][1]) for stage in stages()}
    assert len(stages()) == 2
    # The venv copied from the build stage points at that stage's interpreter.
    assert len(images) == 1
    (image,) = images
    name, _, tag = image.partition("@")[0].partition(":")
    assert name == "python"
    assert "@sha256:" in image or re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), image


def test_uv_is_the_makefiles_and_installs_only_the_lock_without_tests() -> None:
    makefile = (ROOT / "Makefile").read_text()
    uv_version = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert uv_version
    runs = [rest for op, rest in instructions() if op == "RUN"]
    assert any(f"uv=={uv_version.group(1)}" in r for r in runs)
    syncs = [shlex.split(r) for r in runs if "uv sync" in r]
    assert syncs
    for sync in syncs:
        # --no-dev alone keeps pyproject's default group (pytest, moto, mypy) in the image.
        assert {"--frozen", "--no-dev", "--no-default-groups"} <= set(sync), sync


def test_runs_as_a_numeric_non_root_user() -> None:
    final = stages()[-1]
    users = [rest for op, rest in final if op == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    uid, _, gid = users[-1].partition(":")
    # Numeric, so that the kubelet can check runAsNonRoot without an /etc/passwd lookup.
    assert uid.isdigit()
    assert int(uid) > 0
    assert not gid or int(gid) > 0


def test_entrypoint_is_the_console_script_and_cmd_is_a_valid_run() -> None:
    final = dict(stages()[-1])
    entrypoint, cmd = json.loads(final["ENTRYPOINT"]), json.loads(final["CMD"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["cheiron"]
    assert scripts["cheiron"] == "cheiron.cli:main"
    args = build_parser().parse_args(cmd)
    assert args.command == "run"
    # The probes of config/ and the chart: served on every interface of the Pod.
    assert (args.metrics_host, args.metrics_port) == ("0.0.0.0", 9090)  # noqa: S104
    exposed = {int(p) for op, rest in stages()[-1] if op == "EXPOSE" for p in rest.split()}
    assert args.metrics_port in exposed


def test_final_image_has_skopeo_for_backups() -> None:
    runs = [shlex.split(rest) for op, rest in stages()[-1] if op == "RUN"]
    installs = [r for r in runs if "apt-get" in r and "install" in r]
    # Image backups (ClusterImageBackup) shell out to skopeo; without it every copy fails.
    assert any("skopeo" in r for r in installs), runs
    for run in installs:
        assert "--no-install-recommends" in run
        assert "-y" in run
        # The package lists would stay in the layer otherwise.
        assert "/var/lib/apt/lists/*" in run


def test_build_context_is_only_what_the_image_needs() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored  # everything is left out unless listed with !
    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    copied = {
        src
        for op, rest in instructions()
        if op == "COPY" and not rest.startswith("--from")
        for src in rest.split()[:-1]
    }
    assert copied == allowed
