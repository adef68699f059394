"""The takeover on the real control plane: each tool's Secrets adopted in place, or conflicts.

Each test writes the Secrets as the tool writes them (name, marks, ownerReferences, type, a
stale value), runs `cheiron migrate`, the commands it prints and its output, then the
operator: with --adopt the very same Secret becomes cheiron's, without it stays untouched and
the manager reports SecretConflict. ECR tokens come from moto.
"""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from cheiron.api.meta import ADOPT_LABEL, OWNER_UID_LABEL
from cheiron.devcluster import ControlPlane
from tests.integration.migrate.support import Migrate
from tests.support import peers
from tests.support.managers import delete_manager, docker_config, get_manager, ready_condition
from tests.support.moto import REGION, REGISTRY, TOKEN_PASSWORD, MotoServer
from tests.support.namespaces import fresh_namespace
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually, gone

DOCKERCONFIGJSON = "kubernetes.io/dockerconfigjson"
STALE = "stale-password-of-the-old-tool"
HUB_PASSWORD = "hub-password-never-printed"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _config(registry: str, password: str, user: str = "user") -> str:
    auth = _b64(f"{user}:{password}")
    return json.dumps({"auths": {registry: {"username": user, "password": password, "auth": auth}}})


def _hidden(texts: list[str], values: list[str]) -> None:
    """None of the values, raw or base64, in any of the texts."""
    for value in values:
        for text in texts:
            assert value not in text
            assert _b64(value) not in text


def _pull_secret(  # noqa: PLR0917 - a Secret's parts, as each tool sets them
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    config: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: dict[str, Any] | None = None,
) -> client.V1Secret:
    """A pull Secret as an old tool writes it."""
    refs = None
    if owner is not None:
        refs = [
            client.V1OwnerReference(
                api_version=owner["apiVersion"],
                kind=owner["kind"],
                name=owner["metadata"]["name"],
                uid=owner["metadata"]["uid"],
                controller=True,
                block_owner_deletion=True,
            )
        ]
    return core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=name, labels=labels, annotations=annotations, owner_references=refs
            ),
            type=DOCKERCONFIGJSON,
            string_data={".dockerconfigjson": config},
        ),
    )


@dataclass
class Takeover:
    """Runs the output and the operator, and checks one old Secret's fate."""

    migrate: Migrate
    plane: ControlPlane
    core: client.CoreV1Api
    custom: client.CustomObjectsApi
    log: Path
    moto: MotoServer | None = None
    # What the printed commands showed, and the manager applied: (namespace, name).
    shown: str = ""
    manager: tuple[str | None, str] = (None, "")

    def run(self, output: str, manager: str, namespace: str | None, *args: str) -> OperatorProcess:
        """Run the printed commands, apply the manager, start the operator (stopped by caller)."""
        self.shown = self.migrate.run_commands(output)
        self.migrate.apply(output, [manager])
        env = {}
        if self.moto is not None:
            # The keys come from the managers' credentialsSecretRef; only the endpoint is moto.
            env = {"AWS_ENDPOINT_URL_ECR": self.moto.url, "AWS_EC2_METADATA_DISABLED": "true"}
        operator = OperatorProcess(self.plane.kubeconfig_path, self.log, args, env)
        operator.start()
        self.manager = (namespace, manager)
        return operator

    def adopted(self, old: client.V1Secret) -> client.V1Secret:
        """The same Secret, once the manager took it over in place."""
        namespace, name = old.metadata.namespace, old.metadata.name
        manager = get_manager(self.custom, *self.manager)

        def taken() -> client.V1Secret | None:
            now = self.core.read_namespaced_secret(name, namespace)
            return now if (now.metadata.labels or {}).get(OWNER_UID_LABEL) else None

        now = eventually(taken, what=f"{namespace}/{name} adopted")
        assert now.metadata.uid == old.metadata.uid  # in place: never deleted and recreated
        assert now.metadata.labels[OWNER_UID_LABEL] == manager["metadata"]["uid"]
        assert ADOPT_LABEL not in now.metadata.labels
        assert not now.metadata.owner_references
        assert now.type == DOCKERCONFIGJSON
        return now

    def ready(self) -> None:
        """The manager's Ready condition True: step 4 of the takeover."""
        eventually(
            lambda: (
                (c := ready_condition(get_manager(self.custom, *self.manager)))
                and c["status"] == "True"
            ),
            what="the manager Ready",
        )

    def conflict(self, old: client.V1Secret) -> None:
        """The manager reports the Secret as a conflict and leaves it as it was."""
        where = f"{old.metadata.namespace}/{old.metadata.name}"
        condition = eventually(
            lambda: (
                (c := ready_condition(get_manager(self.custom, *self.manager)))
                and c["reason"] == "SecretConflict"
                and c
            ),
            what="SecretConflict reported",
        )
        assert where in condition["message"]
        now = self.core.read_namespaced_secret(old.metadata.name, old.metadata.namespace)
        assert now.metadata.resource_version == old.metadata.resource_version

    def token_lands(
        self, output: str, old: client.V1Secret, manager: str, namespace: str | None, *args: str
    ) -> None:
        """Take over an ECR pull Secret: adopted in place, holding moto's token, Ready."""
        assert self.moto is not None
        operator = self.run(output, manager, namespace, *args)
        try:
            _hidden(
                [output, self.shown, operator.logs()],
                [self.moto.secret_access_key, STALE, TOKEN_PASSWORD],
            )
            auth = docker_config(self.adopted(old))["auths"][REGISTRY]
            assert (auth["username"], auth["password"]) == ("AWS", TOKEN_PASSWORD)
            self.ready()
        finally:
            self.stop(operator)

    def stop(self, operator: OperatorProcess) -> None:
        """Delete the manager while the operator runs (its finalizer), then stop it."""
        try:
            delete_manager(self.custom, *self.manager)
        finally:
            operator.stop()


@pytest.fixture
def takeover(
    migrate: Migrate,
    control_plane: ControlPlane,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    tmp_path: Path,
) -> Takeover:
    """The runner of a takeover, its operator's log in the test's directory."""
    return Takeover(migrate, control_plane, core, custom, tmp_path / "operator.log")


@pytest.fixture
def ecr_takeover(takeover: Takeover, moto: MotoServer) -> Takeover:
    """The same, its operator asking moto for ECR tokens."""
    takeover.moto = moto
    return takeover


def _labelled(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("#   kubectl label ")]


# imps: the label images.banzaicloud.io/owner-uid and an ownerReference to the ImagePullSecret.
IMPS = ("images.banzaicloud.io", "v1alpha1", "imagepullsecrets")


@pytest.fixture
def imps_setup(
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> Iterator[tuple[str, client.V1Secret, str]]:
    """An ImagePullSecret, its source, and the Secret imps wrote in a target namespace."""
    peers.install_crds(api_client, "imps")
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="docker-hub"),
            type=DOCKERCONFIGJSON,
            string_data={".dockerconfigjson": _config("https://index.docker.io/v1/", HUB_PASSWORD)},
        ),
    )
    name = f"imps-{namespace}"[:63]
    with fresh_namespace(core, "imps-adopt") as target:
        owner = custom.create_cluster_custom_object(
            *IMPS,
            {
                "apiVersion": "images.banzaicloud.io/v1alpha1",
                "kind": "ImagePullSecret",
                "metadata": {"name": name},
                "spec": {
                    "registry": {"credentials": [{"name": "docker-hub", "namespace": namespace}]},
                    "target": {"namespaces": {"names": [target]}, "secret": {"name": "pull"}},
                },
            },
        )
        try:
            old = _pull_secret(
                core,
                target,
                "pull",
                _config("https://index.docker.io/v1/", STALE),
                labels={"images.banzaicloud.io/owner-uid": owner["metadata"]["uid"]},
                owner=owner,
            )
            yield name, old, namespace
        finally:
            custom.delete_cluster_custom_object(*IMPS, name)


def test_imps_secret_adopted_in_place(
    takeover: Takeover, migrate: Migrate, imps_setup: tuple[str, client.V1Secret, str]
) -> None:
    name, old, source_ns = imps_setup
    output = migrate.run("--from", "imps", "--adopt")
    (command,) = [c for c in _labelled(output) if name in c]
    assert "-l images.banzaicloud.io/owner-uid=" in command
    operator = takeover.run(output, name, None)
    try:
        _hidden([output, takeover.shown, operator.logs()], [HUB_PASSWORD, STALE])
        now = takeover.adopted(old)
        source = takeover.core.read_namespaced_secret("docker-hub", source_ns)
        assert docker_config(now) == docker_config(source)
        takeover.ready()
    finally:
        takeover.stop(operator)


def test_imps_secret_without_adopt_is_a_conflict(
    takeover: Takeover, migrate: Migrate, imps_setup: tuple[str, client.V1Secret, str]
) -> None:
    name, old, _ = imps_setup
    output = migrate.run("--from", "imps")
    assert not _labelled(output)
    assert f"({old.metadata.namespace}/pull" in output
    operator = takeover.run(output, name, None)
    try:
        _hidden([output], [HUB_PASSWORD, STALE])
        takeover.conflict(old)
    finally:
        takeover.stop(operator)


# kube-ecr-secrets-operator: an ownerReference to its object, the name spec.secretName.
KUBE_ECR = ("aws.zakariaamine.com", "v1alpha2")


@pytest.fixture
def kube_ecr_setup(
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    moto: MotoServer,
    namespace: str,
) -> Iterator[client.V1Secret]:
    """An AWSECRImagePullSecret with moto's keys (as its webhook stores them) and its Secret.

    The object is deleted afterwards and waited for: a later migration must not find it in a
    namespace being deleted, where its copy command could create nothing.
    """
    peers.install_crds(api_client, "kube-ecr")
    owner = custom.create_namespaced_custom_object(
        *KUBE_ECR,
        namespace,
        "awsecrimagepullsecrets",
        {
            "apiVersion": "/".join(KUBE_ECR),
            "kind": "AWSECRImagePullSecret",
            "metadata": {"name": "ecr"},
            "spec": {
                "awsAccess": {
                    "accessKeyId": _b64(moto.access_key_id),
                    "secretAccessKey": _b64(moto.secret_access_key),
                    "region": REGION,
                },
                "secretName": "ecr-login",
            },
        },
    )
    try:
        yield _pull_secret(
            core,
            namespace,
            "ecr-login",
            _config(REGISTRY, STALE, "AWS"),
            annotations={"expiry": "2030-01-01T00:00:00Z"},
            owner=owner,
        )
    finally:
        objects = (*KUBE_ECR, namespace, "awsecrimagepullsecrets", "ecr")
        custom.delete_namespaced_custom_object(*objects)
        eventually(gone(lambda: custom.get_namespaced_custom_object(*objects)), what="deleted")


def test_kube_ecr_secret_adopted_in_place(
    ecr_takeover: Takeover,
    migrate: Migrate,
    moto: MotoServer,
    kube_ecr_setup: client.V1Secret,
    namespace: str,
) -> None:
    output = migrate.run("--from", "kube-ecr", "--credentials-namespace", namespace, "--adopt")
    assert f"#   kubectl label secret ecr-login -n {namespace} {ADOPT_LABEL}=ecr " in output
    ecr_takeover.token_lands(output, kube_ecr_setup, "ecr", namespace)


def test_kube_ecr_secret_without_adopt_is_a_conflict(
    ecr_takeover: Takeover,
    migrate: Migrate,
    moto: MotoServer,
    kube_ecr_setup: client.V1Secret,
    namespace: str,
) -> None:
    output = migrate.run("--from", "kube-ecr", "--credentials-namespace", namespace)
    assert not _labelled(output)
    operator = ecr_takeover.run(output, "ecr", namespace)
    try:
        _hidden([output, ecr_takeover.shown], [moto.secret_access_key, STALE])
        ecr_takeover.conflict(kube_ecr_setup)
    finally:
        ecr_takeover.stop(operator)


# eatr: no marks. Named after the host, in a namespace labelled for it, naming it.


@pytest.fixture
def eatr_setup(
    core: client.CoreV1Api, moto: MotoServer, namespace: str
) -> Iterator[client.V1Secret]:
    """Eatr's key Secret (`namespace` plays its host namespace) and a Secret it wrote."""
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=f"eatr-aws-credentials-{REGISTRY}"),
            string_data={
                "aws_access_key_id": moto.access_key_id,
                "aws_region": REGION,
                "aws_secret_access_key": moto.secret_access_key,
            },
        ),
    )
    with fresh_namespace(core, "eatr-adopt") as labelled:
        core.patch_namespace(labelled, {"metadata": {"labels": {REGISTRY: "true"}}})
        # eatr's own format: the proxy endpoint as the key, an auth only.
        config = json.dumps({"auths": {f"https://{REGISTRY}": {"auth": _b64(f"AWS:{STALE}")}}})
        yield _pull_secret(core, labelled, REGISTRY, config)


def test_eatr_secret_adopted_in_place(
    ecr_takeover: Takeover,
    migrate: Migrate,
    moto: MotoServer,
    eatr_setup: client.V1Secret,
    namespace: str,
) -> None:
    output = migrate.run("--from", "eatr", "--eatr-namespace", namespace, "--adopt")
    assert _labelled(output) == [
        f"#   kubectl label secret {REGISTRY} -n {eatr_setup.metadata.namespace} "
        f"{ADOPT_LABEL}=eatr --overwrite"
    ]
    ecr_takeover.token_lands(output, eatr_setup, "eatr", None, "--eatr-namespace-labels")


def test_eatr_secret_without_adopt_is_a_conflict(
    ecr_takeover: Takeover,
    migrate: Migrate,
    moto: MotoServer,
    eatr_setup: client.V1Secret,
    namespace: str,
) -> None:
    output = migrate.run("--from", "eatr", "--eatr-namespace", namespace)
    assert not _labelled(output)
    operator = ecr_takeover.run(output, "eatr", None, "--eatr-namespace-labels")
    try:
        _hidden([output, ecr_takeover.shown], [moto.secret_access_key, STALE])
        ecr_takeover.conflict(eatr_setup)
    finally:
        ecr_takeover.stop(operator)


# The patcher: the annotation app.kubernetes.io/managed-by, the name CONFIG_SECRETNAME.
PATCHER_MARK = {"app.kubernetes.io/managed-by": "imagepullsecret-patcher"}


@pytest.fixture
def patcher_setup(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> tuple[client.V1Secret, client.V1Secret]:
    """The README's Deployment, excluding every other namespace, and a Secret it wrote.

    Its manager selects every namespace: excluded by the patcher's own setting, the
    namespaces that exist now are out of the manager's reach too (no other test runs
    meanwhile, and the manager is deleted at the end).
    """
    secret, deployment = peers.documents("patcher")
    others = sorted(
        n.metadata.name for n in core.list_namespace().items if n.metadata.name != namespace
    )
    secret["metadata"]["namespace"] = namespace
    deployment["metadata"]["namespace"] = namespace
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["env"].append({"name": "CONFIG_EXCLUDED_NAMESPACES", "value": ",".join(others)})
    for limits in (container.get("resources") or {}).values():
        limits.update({k: str(v) for k, v in limits.items()})
    core.create_namespaced_secret(namespace, secret)
    apps.create_namespaced_deployment(namespace, deployment)
    source = core.read_namespaced_secret("image-pull-secret-src", namespace)
    old = _pull_secret(
        core, namespace, "image-pull-secret", _config("gcr.io", STALE), annotations=PATCHER_MARK
    )
    return old, source


def test_patcher_secret_adopted_in_place(
    takeover: Takeover,
    migrate: Migrate,
    patcher_setup: tuple[client.V1Secret, client.V1Secret],
    namespace: str,
) -> None:
    old, source = patcher_setup
    deployment = f"{namespace}/imagepullsecret-patcher"
    output = migrate.run("--from", "patcher", "--patcher-deployment", deployment, "--adopt")
    assert _labelled(output) == [
        f"#   kubectl label secret image-pull-secret -n {namespace} "
        f"{ADOPT_LABEL}=imagepullsecret-patcher --overwrite"
    ]
    operator = takeover.run(output, "imagepullsecret-patcher", None)
    try:
        _hidden([output, takeover.shown, operator.logs()], [STALE])
        assert source.data[".dockerconfigjson"] not in output
        now = takeover.adopted(old)
        assert docker_config(now) == docker_config(source)
        takeover.ready()
    finally:
        takeover.stop(operator)


def test_patcher_secret_without_adopt_is_a_conflict(
    takeover: Takeover,
    migrate: Migrate,
    patcher_setup: tuple[client.V1Secret, client.V1Secret],
    namespace: str,
) -> None:
    old, source = patcher_setup
    deployment = f"{namespace}/imagepullsecret-patcher"
    output = migrate.run("--from", "patcher", "--patcher-deployment", deployment)
    assert not _labelled(output)
    operator = takeover.run(output, "imagepullsecret-patcher", None)
    try:
        _hidden([output], [STALE])
        assert source.data[".dockerconfigjson"] not in output
        takeover.conflict(old)
    finally:
        takeover.stop(operator)
