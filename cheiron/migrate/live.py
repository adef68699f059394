"""`cheiron migrate`'s I/O: read the old tool's objects through cheiron.k8s.peers, never write."""

from collections.abc import Mapping
from typing import Literal

from kubernetes import client

from cheiron.k8s import peers
from cheiron.migrate import eatr, imps, kube_ecr, patcher
from cheiron.migrate.common import Migration, NamespaceFacts, SecretFacts

Tool = Literal["imps", "kube-ecr", "eatr", "patcher"]
TOOLS: tuple[Tool, ...] = ("imps", "kube-ecr", "eatr", "patcher")


def _secret(
    api: client.ApiClient, namespace: str, name: str, reveal: tuple[str, ...] = ()
) -> SecretFacts | None:
    found = peers.secret_facts(api, namespace, name, reveal)
    return SecretFacts.from_wire(found) if found is not None else None


def from_imps(api: client.ApiClient, *, adopt: bool = False) -> Migration:
    """The ImagePullSecrets of imps, the Secrets they read, and those imps wrote."""
    objects = peers.custom_objects(api, imps.GROUP, imps.VERSION, imps.PLURAL)
    sources = {
        (ns, name): _secret(api, ns, name, (imps.ROLE_ARN_KEY,))
        for ns, name in imps.source_refs(objects)
    }
    written = (
        [
            SecretFacts.from_wire(s)
            for s in peers.secrets_across(api, label_selector=imps.OWNER_LABEL)
        ]
        if objects
        else []
    )
    return imps.migrate(objects, sources, written, adopt=adopt)


def from_kube_ecr(
    api: client.ApiClient, credentials_namespace: str, *, adopt: bool = False
) -> Migration:
    """kube-ecr-secrets-operator's objects and the Secrets where each writes one."""
    group, version = kube_ecr.GROUP, kube_ecr.VERSION
    namespaced = peers.custom_objects(api, group, version, kube_ecr.PLURAL)
    cluster = peers.custom_objects(api, group, version, kube_ecr.CLUSTER_PLURAL)
    written: dict[kube_ecr.ObjectKey, SecretFacts | None] = {}
    places: set[tuple[str, str]] = set()
    for obj in [*namespaced, *cluster]:
        where = kube_ecr.written_secret(obj)
        written[kube_ecr.key_of(obj)] = _secret(api, *where) if where is not None else None
        places.update(kube_ecr.places(obj))
    found = [f for ns, name in sorted(places) if (f := _secret(api, ns, name)) is not None]
    return kube_ecr.migrate(namespaced, cluster, written, credentials_namespace, found, adopt=adopt)


def from_eatr(
    api: client.ApiClient,
    host_namespace: str,
    prefix: str,
    targeting: eatr.Targeting,
    *,
    adopt: bool = False,
) -> Migration:
    """The namespaces labelled for eatr, its AWS key Secrets, and the Secrets it wrote."""
    namespaces = [NamespaceFacts.from_wire(n) for n in peers.namespaces(api)]
    credentials = [SecretFacts.from_wire(s) for s in peers.secrets_facts(api, host_namespace)]
    written = [f for ns, name in eatr.places(namespaces) if (f := _secret(api, ns, name))]
    return eatr.migrate(
        namespaces,
        credentials,
        host_namespace=host_namespace,
        prefix=prefix,
        targeting=targeting,
        written=written,
        adopt=adopt,
    )


def from_patcher(
    api: client.ApiClient, deployment: str | None, *, adopt: bool = False
) -> Migration:
    """The patcher's Deployments (all running its image, or the one named NS/NAME)."""
    wanted = tuple(deployment.split("/", 1)) if deployment else None
    found = [
        d
        for d in peers.deployments(api)
        if (
            (d["metadata"].get("namespace"), d["metadata"]["name"]) == wanted
            if wanted
            else patcher.is_patcher(d)
        )
    ]

    def lookup(kind: str, namespace: str, name: str) -> Mapping[str, str | None] | None:
        if kind == "configMap":
            data = peers.config_map(api, namespace, name)
            return (
                None
                if data is None
                else {k: data[k] if k in patcher.SETTINGS else None for k in data}
            )
        facts = _secret(api, namespace, name, tuple(patcher.SETTINGS))
        return None if facts is None else {k: facts.revealed.get(k) for k in facts.keys}

    patchers = [patcher.read(d, lookup) for d in found]
    sources = {
        (p.namespace, p.credential.name): _secret(api, p.namespace, p.credential.name)
        for p in patchers
        if p.credential.kind == "secret"
    }
    namespaces = [NamespaceFacts.from_wire(n) for n in peers.namespaces(api)]
    # Secrets of each patcher's name in every namespace: one list call per name.
    written = [
        SecretFacts.from_wire(s)
        for name in sorted({p.setting("CONFIG_SECRETNAME") for p in patchers})
        for s in peers.secrets_across(api, field_selector=f"metadata.name={name}")
    ]
    return patcher.migrate(patchers, namespaces, sources, written, adopt=adopt)
