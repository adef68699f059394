"""imps' ImagePullSecrets become cluster managers with one merged Secret."""

import yaml

from cheiron.api.models import ClusterImagePullSecretManagerSpec
from cheiron.migrate import imps
from cheiron.migrate.common import SecretFacts
from tests.unit.migrate.support import unwrapped

# The README's second example, with one ECR source of imps' format.
IMPS = {
    "apiVersion": "images.banzaicloud.io/v1alpha1",
    "kind": "ImagePullSecret",
    "metadata": {"name": "imps"},
    "spec": {
        "registry": {
            "credentials": [
                {"name": "docker-hub", "namespace": "registry-access"},
                {"name": "ecr-pull-secret", "namespace": "registry-access"},
            ]
        },
        "target": {
            "namespaces": {
                "annotations": [
                    {"matchAnnotations": {"sidecar.istio.io/inject": "true"}},
                    {"matchExpressions": [{"key": "team", "operator": "Exists"}]},
                ],
                "labels": [{"matchExpressions": [{"key": "istio.io/rev", "operator": "Exists"}]}],
                "names": ["backyards-system"],
            },
            "namespacesWithPods": {
                "annotations": [{"matchAnnotations": {"sidecar.istio.io/inject": "true"}}]
            },
            "secret": {"name": "istio-pull-secret", "labels": {"a": "b"}},
        },
    },
}
SOURCES = {
    ("registry-access", "docker-hub"): SecretFacts(
        "registry-access",
        "docker-hub",
        "kubernetes.io/dockerconfigjson",
        frozenset({".dockerconfigjson"}),
    ),
    ("registry-access", "ecr-pull-secret"): SecretFacts(
        "registry-access",
        "ecr-pull-secret",
        imps.ECR_TYPE,
        frozenset({"accessKeyID", "secretKey", "region", "accountID", "roleArn"}),
        revealed={"roleArn": "arn:aws:iam::123456789012:role/puller"},
    ),
}


def test_imps_becomes_a_cluster_manager_with_the_same_targeting() -> None:
    migration = imps.migrate([IMPS], SOURCES)
    (manifest,) = migration.manifests
    assert manifest.body["kind"] == "ClusterImagePullSecretManager"
    assert manifest.body["metadata"] == {"name": "imps"}
    spec = ClusterImagePullSecretManagerSpec.model_validate(manifest.body["spec"])
    assert spec.target is not None
    assert spec.target.secret is not None
    assert spec.target.secret.name == "istio-pull-secret"
    assert spec.target.secret.labels == {"a": "b"}
    assert spec.target.namespaces is not None
    assert spec.target.namespaces.names == ["backyards-system"]
    assert spec.target.namespaces.labels[0].match_expressions[0].key == "istio.io/rev"
    # The selector with matchExpressions cannot be expressed: left out whole, and said so.
    assert [a.match_annotations for a in spec.target.namespaces.annotations] == [
        {"sidecar.istio.io/inject": "true"}
    ]
    assert any("matchExpressions" in n for n in migration.notes)
    assert spec.target.namespaces_with_pods is not None
    hub, ecr = spec.secrets
    assert hub.existing_secret_ref is not None
    assert (hub.existing_secret_ref.namespace, hub.existing_secret_ref.name) == (
        "registry-access",
        "docker-hub",
    )
    assert ecr.ecr is not None
    assert ecr.ecr.credentials_secret_ref is not None
    assert ecr.ecr.credentials_secret_ref.name == "ecr-pull-secret"
    assert ecr.ecr.role_arn == "arn:aws:iam::123456789012:role/puller"


def test_no_rules_select_nothing_as_in_imps() -> None:
    bare = {
        "metadata": {"name": "x"},
        "spec": {"registry": {"credentials": []}, "target": {"secret": {"name": "s"}}},
    }
    (manifest,) = imps.migrate([bare], {}).manifests
    # cheiron selects every namespace when target.namespaces is absent: it must be present.
    assert manifest.body["spec"]["target"]["namespaces"] == {
        "names": [],
        "labels": [],
        "annotations": [],
    }


def test_missing_and_unknown_sources_are_reported() -> None:
    obj = {
        "metadata": {"name": "x"},
        "spec": {
            "registry": {
                "credentials": [
                    {"name": "gone", "namespace": "a"},
                    {"name": "odd", "namespace": "a"},
                ]
            },
            "target": {"secret": {"name": "s"}},
        },
    }
    odd = SecretFacts("a", "odd", "Opaque", frozenset({"x"}))
    migration = imps.migrate([obj], {("a", "gone"): None, ("a", "odd"): odd})
    (manifest,) = migration.manifests
    assert [e["name"] for e in manifest.body["spec"]["secrets"]] == ["gone"]
    assert any("a/gone does not exist" in n for n in migration.notes)
    assert any("type Opaque" in n for n in migration.notes)


def test_a_role_arn_that_is_no_arn_is_not_printed() -> None:
    facts = SecretFacts(
        "a", "e", imps.ECR_TYPE, frozenset(imps.ECR_KEYS), revealed={"roleArn": "hunter2"}
    )
    obj = {
        "metadata": {"name": "x"},
        "spec": {
            "registry": {"credentials": [{"name": "e", "namespace": "a"}]},
            "target": {"secret": {"name": "s"}},
        },
    }
    migration = imps.migrate([obj], {("a", "e"): facts})
    assert "hunter2" not in migration.render()
    assert any("not an IAM role ARN" in n for n in migration.notes)


def test_the_output_is_a_yaml_stream() -> None:
    text = imps.migrate([IMPS], SOURCES).render()
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert [d["kind"] for d in docs] == ["ClusterImagePullSecretManager"]
    assert text.startswith("# cheiron migrate --from imps")


def _written(namespace: str, uid: str = "uid-1", **kw: str) -> SecretFacts:
    """A Secret as imps writes it: its owner label, the merged Secret's name."""
    return SecretFacts(
        namespace,
        kw.get("name", "istio-pull-secret"),
        kw.get("type", "kubernetes.io/dockerconfigjson"),
        frozenset({".dockerconfigjson"}),
        labels={imps.OWNER_LABEL: uid, "a": "b"},
    )


OWNED = {**IMPS, "metadata": {"name": "imps", "uid": "uid-1"}}
WRITTEN = [
    _written("shop"),
    _written("kube-system"),
    _written("odd", type="Opaque"),
    _written("other", uid="uid-2"),
    _written("renamed", name="old-name"),
]


def test_adopt_labels_the_secrets_imps_wrote_by_its_owner_label() -> None:
    migration = imps.migrate([OWNED], SOURCES, WRITTEN, adopt=True)
    (command,) = migration.labels
    assert command == (
        "kubectl label secret -A -l images.banzaicloud.io/owner-uid=uid-1 --field-selector "
        "metadata.name=istio-pull-secret,type=kubernetes.io/dockerconfigjson,"
        "metadata.namespace!=kube-system cheiron.anny.co/adopt=imps --overwrite"
    )
    assert [s.where for s in migration.taken] == ["shop/istio-pull-secret"]
    text = migration.render()
    assert text.startswith("# cheiron migrate --from imps --adopt\n")
    assert f"#   {command}\n" in text
    # A type cannot change in place: named, not labelled.
    assert any("odd/istio-pull-secret" in n and "type Opaque" in n for n in migration.notes)
    steps = [line for line in text.splitlines() if line[:4] in {f"# {n}." for n in range(1, 6)}]
    assert [s.split()[2] for s in steps] == ["Stop", "Label", "Apply", "Check", "Delete"]


def test_kube_system_is_labelled_when_the_manager_names_it() -> None:
    named = {
        **OWNED,
        "spec": {
            **IMPS["spec"],
            "target": {"namespaces": {"names": ["kube-system"]}, "secret": {"name": "s"}},
        },
    }
    migration = imps.migrate([named], SOURCES, [_written("kube-system", name="s")], adopt=True)
    (command,) = migration.labels
    assert "namespace!=kube-system" not in command
    assert [s.where for s in migration.taken] == ["kube-system/s"]


def test_without_adopt_the_secrets_are_named_as_conflicts() -> None:
    migration = imps.migrate([OWNED], SOURCES, WRITTEN)
    assert not migration.labels
    text = migration.render()
    assert "kubectl label" not in text
    flat = unwrapped(text)
    assert "(shop/istio-pull-secret) are reported as SecretConflict" in flat
    assert "`cheiron migrate --from imps --adopt` prints the commands" in flat
