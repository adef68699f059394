"""cheiron.sources.skopeo against two real registries: copy, skip, verify, and fail cleanly."""

import asyncio
import os
import stat
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from cheiron.images.reference import backup_repository, digest_tag, parse
from cheiron.sources import skopeo
from cheiron.sources.skopeo import CopyError, CopyRequest, CopyResult, RegistryAccess
from tests.integration.backup.conftest import access
from tests.support import oci
from tests.support.backups import PASSWORD, USER
from tests.support.proxy import tarpit
from tests.support.registry import SKOPEO_ENV, Registry, SkopeoRecorder, leaky_environment


def backup(request: CopyRequest) -> CopyResult:
    return asyncio.run(skopeo.backup(request))


def read_digest(reference: str, registries: Sequence[RegistryAccess] = ()) -> str | None:
    return asyncio.run(skopeo.read_digest(reference, registries))


def _children_named(name: str) -> list[int]:
    """Live child processes of this one with that command name."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if comm == name and ppid == os.getpid():
            found.append(int(entry.name))
    return found


def _request(
    source: Registry, backup_to: Registry, ref: str, *registries: RegistryAccess
) -> CopyRequest:
    parsed = parse(f"{source.host}/{ref}")
    return CopyRequest(
        source=parsed.name,
        source_repository=parsed.repository,
        repository=backup_repository(parsed, backup_to.host, "bk"),
        tag=digest_tag,
        source_digest=parsed.digest,
        registries=registries or (access(source), access(backup_to)),
    )


def test_multi_arch_index_is_copied_whole_with_its_digests(
    source_registry: Registry, backup_registry: Registry, layout: Path
) -> None:
    index = oci.write_index(layout, "v1", seed="skopeo-multi")
    oci.push(layout, "team/multi:v1", source_registry)
    request = _request(source_registry, backup_registry, "team/multi:v1")

    result = backup(request)

    assert (result.source_digest, result.backup_digest, result.copied) == (
        index.digest,
        index.digest,
        True,
    )
    repo = request.repository.split("/", 1)[1]
    assert repo == f"bk/{source_registry.host.replace(':', '_')}/team/multi"
    assert backup_registry.manifest_digest(repo, digest_tag(index.digest)) == index.digest
    for image in index.images:
        assert backup_registry.manifest_digest(repo, image.digest) == image.digest
    # Every blob once: the layer both platforms share was deduplicated.
    assert backup_registry.stored_blobs() == index.blobs


def test_present_image_is_not_copied_again(
    source_registry: Registry, backup_registry: Registry, layout: Path
) -> None:
    image = oci.write_image(layout, "v1", seed="skopeo-again")
    oci.push(layout, "team/app:v1", source_registry)
    request = _request(source_registry, backup_registry, "team/app:v1")
    assert backup(request).copied

    again = backup(request)

    assert (again.copied, again.backup_digest) == (False, image.digest)
    # By digest as well: a pinned source needs no lookup at the source at all.
    source_registry.stop()
    assert backup(replace(request, source_digest=image.digest)).copied is False


def test_wrong_password_fails_without_revealing_it(
    source_registry: Registry, backup_registry: Registry, layout: Path
) -> None:
    oci.write_image(layout, "v1", seed="skopeo-refused")
    oci.push(layout, "team/app:v1", source_registry)
    wrong = "definitely-wrong-password"
    request = _request(
        source_registry,
        backup_registry,
        "team/app:v1",
        access(source_registry),
        access(backup_registry, wrong),
    )

    with pytest.raises(CopyError) as failed:
        backup(request)

    assert "unauthorized" in str(failed.value).lower() or "401" in str(failed.value)
    assert wrong not in str(failed.value)
    assert PASSWORD not in str(failed.value)


def test_missing_source_and_untrusted_backup(
    source_registry: Registry, backup_registry: Registry, layout: Path
) -> None:
    with pytest.raises(CopyError, match="not found"):
        backup(_request(source_registry, backup_registry, "team/none:v1"))
    oci.write_image(layout, "v1", seed="skopeo-ca")
    oci.push(layout, "team/app:v1", source_registry)
    untrusted = RegistryAccess(backup_registry.host, *backup_registry.auth or ())
    request = _request(
        source_registry,
        backup_registry,
        "team/app:v1",
        access(source_registry),
        untrusted,
    )
    with pytest.raises(CopyError, match="certificate"):
        backup(request)


def test_source_credentials_are_used(
    source_registry: Registry, backup_registry: Registry, layout: Path
) -> None:
    # The authenticated registry as the source this time, the plain one as the backup.
    image = oci.write_image(layout, "v1", seed="skopeo-private")
    oci.push(layout, "private/app:v1", backup_registry)
    reference = f"{backup_registry.host}/private/app:v1"
    assert read_digest(reference, [access(backup_registry)]) == image.digest
    with pytest.raises(CopyError, match=r"(?i)unauthorized|authentication"):
        read_digest(reference, [access(backup_registry, "nope")])
    request = _request(backup_registry, source_registry, "private/app:v1")
    assert backup(request).backup_digest == image.digest


def test_a_registry_that_never_answers_costs_the_deadline_and_no_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(skopeo, "INSPECT_TIMEOUT", 2.0)
    with tarpit() as pit, pytest.raises(CopyError, match="timed out after 2s"):
        read_digest(f"127.0.0.1:{pit.port}/team/app:v1")
    assert _children_named("skopeo") == []


def test_a_cancelled_copy_kills_its_skopeo() -> None:
    async def cancel_midway(port: int) -> None:
        task = asyncio.ensure_future(skopeo.read_digest(f"127.0.0.1:{port}/team/app:v1"))
        while not _children_named("skopeo"):
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with tarpit() as pit:
        asyncio.run(asyncio.wait_for(cancel_midway(pit.port), 30))
    assert _children_named("skopeo") == []


def test_workdir_is_private(tmp_path: Path) -> None:
    from cheiron.sources.skopeo import _workdir  # noqa: PLC0415 - the private helper itself

    with _workdir([RegistryAccess("r.io", "u", "p")]) as work:
        assert stat.S_IMODE(work.path.stat().st_mode) == 0o700
        (flag,) = work.credentials("", "r.io")
        authfile = Path(flag.removeprefix("--authfile="))
        assert authfile.parent == work.path
        assert stat.S_IMODE(authfile.stat().st_mode) == 0o600
        kept = work.path
    assert not kept.exists()


def test_each_run_sees_only_its_hosts(
    backup_registry: Registry, layout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = SkopeoRecorder(tmp_path / "skopeo")
    other = RegistryAccess("other.example:5000", "other-user", "other-registry-secret")
    with Registry(auth=("source-user", "source-secret-1")) as private:
        image = oci.write_image(layout, "v1", seed="skopeo-own-hosts")
        oci.push(layout, "team/app:v1", private)
        # The operator's environment: AWS keys, settings, and ambient logins for every host.
        logins = {r.host: r.auth for r in (private, backup_registry) if r.auth is not None}
        leaked = leaky_environment(tmp_path / "operator", logins)
        for name, value in leaked.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PATH", recorder.path(os.environ["PATH"]))
        # The caller knows credentials for three registries; each run gets its own hosts'.
        request = _request(
            private, backup_registry, "team/app:v1", other, access(private), access(backup_registry)
        )
        assert backup(request).backup_digest == image.digest
    runs = recorder.runs()
    assert [r.argv[1] for r in runs] == ["inspect", "inspect", "copy", "inspect"]
    source, backed_up = "source-user:source-secret-1", f"{USER}:{PASSWORD}"
    inspect_source, inspect_backup, copy, read_back = runs
    assert inspect_source.credentials() == {private.host: source}
    assert inspect_backup.credentials() == {backup_registry.host: backed_up}
    assert copy.authfiles["src-authfile"]["auths"].keys() == {private.host}
    assert copy.authfiles["dest-authfile"]["auths"].keys() == {backup_registry.host}
    assert read_back.credentials() == {backup_registry.host: backed_up}
    for run in runs:
        assert not any(s in arg for arg in run.argv for s in ("secret", PASSWORD, USER))
        assert set(run.env) <= SKOPEO_ENV, sorted(set(run.env) - SKOPEO_ENV)
        assert run.env["HOME"] not in (leaked["HOME"], leaked["XDG_RUNTIME_DIR"])
