"""Backups stay as private as their sources: a namespace pulls only what its source lets it.

A source registry read with credentials lists the namespaces that may use them. Its backups
live under a path of their own in the backup registry, read by a pull login of their own that
only those namespaces get; the backup's public pull login, which every namespace with a
backed-up public image gets, is refused there by the registry (a token server scoping reads
per repository, as Harbor's robot accounts or docker_auth's ACLs do). A registry that cannot
keep them apart (htpasswd: every login reads everything) gets no private image copied.
"""

import asyncio
import base64
import json
from collections.abc import Iterator

import pytest
from kubernetes import client

from cheiron.sources import skopeo
from tests.integration.backup.conftest import Env, deployment, template_images
from tests.support import oci
from tests.support.backups import PASSWORD, USER, create_backup, get_backup, push_credentials
from tests.support.managers import pull_secrets
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.registry import Registry, RegistryError
from tests.support.token_auth import TokenServer

TIMEOUT = 60
READER = ("payroll-ro", "reads-the-payroll")  # the private source's read-only login
EVERYONE = ("backup-everyone", "public-backups")  # the backup's public pull login
PAYROLL = ("backup-payroll", "payroll-backups")  # the pull login of the private scope


@pytest.fixture
def private_source() -> Iterator[Registry]:
    """registry.internal: plain HTTP, htpasswd; only READER pulls from it."""
    with Registry(auth=READER) as r:
        yield r


@pytest.fixture
def scoped_backup() -> Iterator[Registry]:
    """A backup registry whose token server scopes each pull login to its own paths."""
    with TokenServer(USER, PASSWORD) as tokens:
        tokens.add_reader(*EVERYONE, ["bk/*"], excluded=["bk/private/*"])
        tokens.add_reader(*PAYROLL, ["bk/private/*"])
        with Registry(token=tokens) as registry:
            yield registry


def _secret(env: Env, user: tuple[str, str], name: str) -> dict[str, str]:
    return push_credentials(env.core, env.namespace, name=name, user=user[0], password=user[1])


def _push_private(env: Env, source: Registry) -> str:
    layout = env.tmp_path / "payroll"
    digest = oci.write_image(layout, "v1", seed=f"payroll-{env.namespace}").digest
    oci.push(layout, "payroll/api:v1", source, creds=READER)
    return digest


def _private_entry(env: Env, source: Registry, **extra: object) -> dict[str, object]:
    return {
        "registry": source.host,
        "insecure": True,
        "credentialsSecretRef": _secret(env, READER, "payroll-source"),
        "namespaces": [env.namespace],
        **extra,
    }


def _login_in(env: Env, namespace: str, secret: str, host: str) -> skopeo.RegistryAccess:
    """The login a namespace's pull Secret holds for the backup registry."""
    data = env.core.read_namespaced_secret(secret, namespace).data[".dockerconfigjson"]
    auths = json.loads(base64.b64decode(data))["auths"]
    (auth,) = [v["auth"] for k, v in auths.items() if k.split("/")[0] == host]
    user, _, password = base64.b64decode(auth).decode().partition(":")
    return skopeo.RegistryAccess(host, user, password, insecure=True)


def _pulls(access: skopeo.RegistryAccess, reference: str, digest: str) -> bool:
    """Whether this login can pull `reference` (the registry serves its digest to it)."""
    try:
        return asyncio.run(skopeo.read_digest(reference, (access,))) == digest
    except skopeo.CopyError:
        return False


def _secret_names(env: Env, namespace: str) -> list[str]:
    return [s.metadata.name for s in env.core.list_namespaced_secret(namespace).items]


def test_a_private_backup_is_pullable_only_by_the_namespaces_of_its_source(
    backup_operator: OperatorProcess,
    env: Env,
    private_source: Registry,
    scoped_backup: Registry,
) -> None:
    """Only the listed namespace gets the private backup and a login that reads it.

    Another namespace, whose own credentials cannot pull the source, keeps the source image,
    never gets the scope's login, and the backup login it does get is refused on the
    private path.

    Before, one pull login read every backup and every namespace with any backed-up image
    got it: the tenant could pull the payroll image's backup.
    """
    digest = _push_private(env, private_source)
    env.push("web", "web")
    private_ref = f"{private_source.host}/payroll/api:v1"
    public_ref = f"{env.source.host}/team/web:v1"
    tenant = f"{env.namespace}-tenant"
    env.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=tenant)))
    try:
        name = create_backup(
            env.custom,
            env.backups,
            env.source,
            (scoped_backup.host, None),
            push_credentials(env.core, env.namespace),
            pull_credentials=_secret(env, EVERYONE, "backup-everyone"),
            sourceRegistries=[
                {"registry": env.source.host, "insecure": True},
                _private_entry(
                    env,
                    private_source,
                    backupPullCredentialsSecretRef=_secret(env, PAYROLL, "backup-payroll"),
                ),
            ],
        )
        env.apps.create_namespaced_deployment(env.namespace, deployment("api", private_ref))
        env.apps.create_namespaced_deployment(tenant, deployment("api", private_ref))
        env.apps.create_namespaced_deployment(tenant, deployment("web", public_ref))

        # The listed namespace: pointed at the backup, under the private path.
        record = env.wait_for_state(name, private_ref, "BackedUp")
        private_repo = f"bk/private/{private_source.host.replace(':', '_')}/payroll/api"
        assert record["backup"] == f"{scoped_backup.host}/{private_repo}:v1@{digest}"
        eventually(
            lambda: template_images(env.apps, env.namespace, "api") == [record["backup"]],
            timeout=TIMEOUT,
            what="the payments workload pointed at its private backup",
        )
        scope_secret = f"backup-{name}-{private_source.host.replace(':', '-')}"
        assert scope_secret in pull_secrets(env.core, env.namespace)
        payments_login = _login_in(env, env.namespace, scope_secret, scoped_backup.host)
        assert _pulls(payments_login, f"{scoped_backup.host}/{private_repo}@{digest}", digest)

        # The tenant: its public image rewritten, so a pass has seen its workloads.
        public = env.wait_for_state(name, public_ref, "BackedUp")
        eventually(
            lambda: template_images(env.apps, tenant, "web") == [public["backup"]],
            timeout=TIMEOUT,
            what="the tenant's public workload rewritten",
        )
        assert template_images(env.apps, tenant, "api") == [private_ref]
        assert scope_secret not in _secret_names(env, tenant)
        assert scope_secret not in pull_secrets(env.core, tenant)
        tenant_login = _login_in(env, tenant, f"backup-{name}", scoped_backup.host)
        public_pinned = f"{scoped_backup.host}/{env.backup_repo('web')}@{public['digest']}"
        assert _pulls(tenant_login, public_pinned, public["digest"])
        assert not _pulls(tenant_login, f"{scoped_backup.host}/{private_repo}@{digest}", digest)
        # Nor was the private image copied anywhere the public login reads.
        flat = f"bk/{private_source.host.replace(':', '_')}/payroll/api"
        assert not _pulls(tenant_login, f"{scoped_backup.host}/{flat}@{digest}", digest)
    finally:
        env.core.delete_namespace(tenant)


def test_a_backup_registry_that_cannot_keep_private_backups_apart_gets_none(
    backup_operator: OperatorProcess, env: Env, private_source: Registry
) -> None:
    """htpasswd: the public pull login reads every path, so no private image is copied.

    The listed namespace keeps its source image (as for any image not backed up), the
    status says why, and nothing lies at the private path for the public login to pull.
    """
    _push_private(env, private_source)
    private_ref = f"{private_source.host}/payroll/api:v1"
    name = env.create_backup(
        sourceRegistries=[
            _private_entry(
                env,
                private_source,
                backupPullCredentialsSecretRef=push_credentials(
                    env.core, env.namespace, name="backup-scope"
                ),
            )
        ],
    )
    env.apps.create_namespaced_deployment(env.namespace, deployment("api", private_ref))

    record = env.wait_for_state(name, private_ref, "Failed")
    assert "not copied" in record["lastError"]
    assert "pull credentials of backup-" in record["lastError"]
    assert PASSWORD not in json.dumps(get_backup(env.custom, name))
    private_repo = f"bk/private/{private_source.host.replace(':', '_')}/payroll/api"
    with pytest.raises(RegistryError) as nothing:
        env.backup.tags(private_repo)
    assert nothing.value.status == 404
    assert template_images(env.apps, env.namespace, "api") == [private_ref]
