"""eatr's labelled namespaces and key Secrets become a cluster manager."""

from cheiron.api.models import ClusterImagePullSecretManagerSpec
from cheiron.migrate import eatr
from cheiron.migrate.common import NamespaceFacts, SecretFacts

HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
OTHER = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
NAMESPACES = [
    NamespaceFacts("shop", {HOST: "true"}),
    NamespaceFacts("kube-system", {HOST: "true"}),
    NamespaceFacts("lonely", {OTHER: "true"}),
    NamespaceFacts("plain"),
]
KEYS = SecretFacts(
    "ci-cd",
    f"eatr-aws-credentials-{HOST}",
    "Opaque",
    frozenset({"aws_access_key_id", "aws_secret_access_key", "aws_region"}),
)


def test_labels_mode_gives_one_manager_and_copy_commands() -> None:
    migration = eatr.migrate(NAMESPACES, [KEYS])
    (manifest,) = migration.manifests
    spec = ClusterImagePullSecretManagerSpec.model_validate(manifest.body["spec"])
    (entry,) = spec.secrets
    assert entry.name == HOST
    assert entry.ecr is not None
    assert entry.ecr.registry == HOST
    assert entry.ecr.credentials_secret_ref is not None
    assert entry.ecr.credentials_secret_ref.namespace == "ci-cd"
    assert spec.target is not None
    assert spec.target.namespaces is not None
    assert spec.target.namespaces.names == []
    assert any("--eatr-namespace-labels" in c for c in manifest.comments)
    (command,) = migration.commands
    assert '"accessKeyID":"{{index .data "aws_access_key_id"}}"' in command
    assert f"kubectl get secret eatr-aws-credentials-{HOST} -n ci-cd" in command
    assert any("no Secret eatr-aws-credentials-" + OTHER in n for n in migration.notes)
    assert any("kube-system" in n for n in migration.notes)


def test_explicit_mode_selects_the_labels_itself() -> None:
    migration = eatr.migrate(NAMESPACES, [KEYS], targeting="explicit")
    (manifest,) = migration.manifests
    assert manifest.body["metadata"]["name"] == f"eatr-{HOST}"
    labels = manifest.body["spec"]["target"]["namespaces"]["labels"]
    assert labels == [{"matchLabels": {HOST: "true"}, "matchExpressions": []}]


def test_nothing_to_migrate() -> None:
    assert (
        eatr.migrate([NamespaceFacts("plain")], [])
        .render()
        .endswith("# Nothing of eatr was found to migrate.\n")
    )


def _written(namespace: str, name: str = HOST, registry: str = f"https://{HOST}") -> SecretFacts:
    """A Secret as eatr writes it: the host's name, a dockerconfigjson for its proxy endpoint."""
    return SecretFacts(
        namespace,
        name,
        "kubernetes.io/dockerconfigjson",
        frozenset({".dockerconfigjson"}),
        registries=(registry,),
    )


def test_adopt_matches_name_labelled_namespace_and_content() -> None:
    namespaces = [*NAMESPACES, NamespaceFacts("unlabelled")]
    assert ("shop", HOST) in eatr.places(namespaces)
    assert ("unlabelled", HOST) not in eatr.places(namespaces)
    written = [
        _written("shop"),
        _written("kube-system"),  # no manager writes there
        _written("unlabelled"),  # not labelled for the host: not eatr's
        _written("shop", name=OTHER, registry=OTHER),  # another host's name
    ]
    migration = eatr.migrate(namespaces, [KEYS], written=written, adopt=True)
    assert migration.labels == [
        f"kubectl label secret {HOST} -n shop cheiron.anny.co/adopt=eatr --overwrite"
    ]
    explicit = eatr.migrate(namespaces, [KEYS], written=written, adopt=True, targeting="explicit")
    assert explicit.labels == [
        f"kubectl label secret {HOST} -n shop cheiron.anny.co/adopt=eatr-{HOST} --overwrite"
    ]


def test_a_secret_naming_another_registry_is_not_eatrs() -> None:
    written = [_written("shop", registry="https://ghcr.io")]
    migration = eatr.migrate(NAMESPACES, [KEYS], written=written, adopt=True)
    assert not migration.labels
    assert not migration.taken
