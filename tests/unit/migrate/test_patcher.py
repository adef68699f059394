"""The patcher's Deployment settings become a cluster manager."""

from collections.abc import Mapping
from typing import Any

from cheiron.api.models import ClusterImagePullSecretManagerSpec
from cheiron.migrate import patcher
from cheiron.migrate.common import NamespaceFacts, SecretFacts


def _deployment(env: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    container = {
        "name": "p",
        "image": "quay.io/titansoft/imagepullsecret-patcher:v0.14",
        "env": env,
    }
    container.update(extra.pop("container", {}))
    return {
        "metadata": {"name": "imagepullsecret-patcher", "namespace": "ips"},
        "spec": {"template": {"spec": {"containers": [container], **extra}}},
    }


def _none(kind: str, namespace: str, name: str) -> Mapping[str, str | None] | None:
    return None


# The README's deploy example: the credentials come from a mounted Secret.
EXAMPLE = _deployment(
    [
        {"name": "CONFIG_FORCE", "value": "true"},
        {"name": "CONFIG_ALLSERVICEACCOUNT", "value": "true"},
        {"name": "CONFIG_DOCKERCONFIGJSONPATH", "value": "/app/secrets/.dockerconfigjson"},
    ],
    container={"volumeMounts": [{"name": "src", "mountPath": "/app/secrets", "readOnly": True}]},
    volumes=[{"name": "src", "secret": {"secretName": "image-pull-secret-src"}}],
)
SRC = SecretFacts(
    "ips",
    "image-pull-secret-src",
    "kubernetes.io/dockerconfigjson",
    frozenset({".dockerconfigjson"}),
)


def test_the_readme_example() -> None:
    found = patcher.read(EXAMPLE, _none)
    assert found.credential == patcher.Credential(
        "secret", "image-pull-secret-src", ".dockerconfigjson"
    )
    migration = patcher.migrate(
        [found],
        [NamespaceFacts("quiet", annotations={patcher.EXCLUDE_ANNOTATION: "true"})],
        {("ips", "image-pull-secret-src"): SRC},
    )
    (manifest,) = migration.manifests
    spec = ClusterImagePullSecretManagerSpec.model_validate(manifest.body["spec"])
    (entry,) = spec.secrets
    assert entry.name == "image-pull-secret"
    assert entry.existing_secret_ref is not None
    assert (entry.existing_secret_ref.namespace, entry.existing_secret_ref.name) == (
        "ips",
        "image-pull-secret-src",
    )
    assert spec.exclude_namespaces == ["quiet"]
    assert spec.service_account_selector is None
    assert spec.target is None
    assert not migration.commands


def test_settings_from_env_from_value_from_and_flags() -> None:
    deployment = _deployment(
        [
            {
                "name": "CONFIG_SECRETNAME",
                "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "name"}},
            },
            {
                "name": "CONFIG_DOCKERCONFIGJSON",
                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "json"}},
            },
        ],
        container={
            "envFrom": [{"secretRef": {"name": "env"}}],
            "args": ["-excluded-namespaces", "a,b", "--runonce"],
        },
    )
    objects: dict[tuple[str, str], Mapping[str, str | None]] = {
        ("configMap", "cfg"): {"name": "regcred"},
        ("secret", "env"): {"CONFIG_SERVICEACCOUNTS": "default,builder", "CONFIG_FORCE": "false"},
    }

    def lookup(kind: str, namespace: str, name: str) -> Mapping[str, str | None] | None:
        return objects.get((kind, name))

    found = patcher.read(deployment, lookup)
    assert found.setting("CONFIG_SECRETNAME") == "regcred"
    assert found.setting("CONFIG_EXCLUDED_NAMESPACES") == "a,b"
    assert found.flag("CONFIG_RUNONCE")
    assert not found.flag("CONFIG_FORCE")
    assert found.credential == patcher.Credential("secret", "creds", "json")
    creds = SecretFacts("ips", "creds", "Opaque", frozenset({"json"}))
    migration = patcher.migrate([found], [], {("ips", "creds"): creds})
    (manifest,) = migration.manifests
    spec = manifest.body["spec"]
    assert spec["excludeNamespaces"] == ["a", "b"]
    assert spec["serviceAccountSelector"]["names"] == ["default", "builder"]
    assert spec["secrets"][0]["existingSecretRef"] == {"name": "regcred-source", "namespace": "ips"}
    (command,) = migration.commands
    assert '".dockerconfigjson":"{{index .data "json"}}"' in command
    assert any("CONFIG_RUNONCE" in n for n in migration.notes)


def test_inline_credentials_are_piped_not_printed() -> None:
    secret = '{"auths":{"r.example":{"auth":"c2VjcmV0LXBhc3N3b3Jk"}}}'
    found = patcher.read(_deployment([{"name": "CONFIG_DOCKERCONFIGJSON", "value": secret}]), _none)
    migration = patcher.migrate([found], [], {})
    text = migration.render()
    assert "c2VjcmV0LXBhc3N3b3Jk" not in text
    (command,) = migration.commands
    assert "--from-file=.dockerconfigjson=/dev/stdin" in command
    assert "CONFIG_DOCKERCONFIGJSON" in command
    assert found.settings == {}


def test_a_deployment_without_credentials_gets_no_entry() -> None:
    migration = patcher.migrate([patcher.read(_deployment([]), _none)], [], {})
    (manifest,) = migration.manifests
    assert manifest.body["spec"]["secrets"] == []
    assert any("no dockerconfigjson found" in n for n in migration.notes)


def _written(namespace: str, name: str = "image-pull-secret", **kw: Any) -> SecretFacts:
    """A Secret as the patcher writes it: its name, its annotation, no owner."""
    return SecretFacts(
        namespace,
        name,
        kw.get("type", "kubernetes.io/dockerconfigjson"),
        frozenset({".dockerconfigjson"}),
        annotations=kw.get("annotations", {patcher.MANAGED_BY[0]: patcher.MANAGED_BY[1]}),
    )


def test_adopt_labels_the_patchers_secrets_where_the_manager_writes() -> None:
    found = patcher.read(EXAMPLE, _none)
    namespaces = [
        NamespaceFacts("quiet", annotations={patcher.EXCLUDE_ANNOTATION: "true"}),
        NamespaceFacts("mine", annotations={"cheiron.anny.co/ignore": "true"}),
    ]
    written = [
        _written("shop"),
        _written("quiet"),  # excluded: the manager does not write there
        _written("mine"),  # opted out of cheiron
        _written("kube-system"),
        _written("users", annotations={}),  # a user's Secret of that name
        _written("legacy", type="Opaque"),
    ]
    migration = patcher.migrate(
        [found], namespaces, {("ips", "image-pull-secret-src"): SRC}, written, adopt=True
    )
    assert migration.labels == [
        "kubectl label secret image-pull-secret -n shop "
        "cheiron.anny.co/adopt=imagepullsecret-patcher --overwrite"
    ]
    assert any("legacy/image-pull-secret" in n and "type Opaque" in n for n in migration.notes)
    text = migration.render()
    assert (
        "Stop the patcher first: scale its Deployment to 0 replicas (ips/imagepullsecret-patcher)"
        in (text.replace("\n#    ", " "))
    )
