"""Resolves `spec.secrets` entries into pull-Secret payloads, or a reason why not.

Reading a referenced Secret is injected (`ReadSecret`), so the rules here stay pure and are
unit-tested without an API server. Messages name Secrets and keys, never their values.
"""

import datetime
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Protocol
from urllib.parse import urlsplit

from cheiron.api.models import DNS_SUBDOMAIN, CredentialsRef, SecretEntry, SecretRef
from cheiron.api.observed import (
    DOCKERCONFIGJSON_KEY,
    DOCKERCONFIGJSON_TYPE,
    ManagerInfo,
    ManagerKind,
    SecretInfo,
    digest,
)
from cheiron.api.sources import AwsKeys, EcrRequest, Verdict
from cheiron.dockerconfig import DockerConfig, DockerConfigError, normalize_registry

# Reasons, in the CamelCase that conditions and Events use.
RESOLVED = "Resolved"
SECRET_NOT_FOUND = "SecretNotFound"  # noqa: S105 - a reason, not a password
WRONG_SECRET_TYPE = "WrongSecretType"  # noqa: S105 - a reason, not a password
MALFORMED_DOCKER_CONFIG = "MalformedDockerConfig"
KEY_NOT_FOUND = "KeyNotFound"
INVALID_REGISTRY = "InvalidRegistry"
INVALID_CREDENTIALS = "InvalidCredentials"
INVALID_SECRET_NAME = "InvalidSecretName"  # noqa: S105 - a reason, not a password
NOT_ALLOWED = "NotAllowed"
INCOMPLETE_AWS_KEYS = "IncompleteAwsKeys"


@dataclass(frozen=True)
class EcrPolicy:
    """What the cluster admin lets ECR entries do beyond their own keys (`cheiron run` flags).

    A namespaced manager is a tenant's: by default it may use only the keys in its own
    Secret, never the operator's identity (IRSA, Pod Identity, node role), an assumed role
    or an endpoint of its choosing. Plain-http endpoints are refused for every manager unless
    their host is listed.
    """

    # Namespaces whose managers may use the operator's own AWS identity.
    ambient_namespaces: frozenset[str] = frozenset()
    # fnmatch patterns of role ARNs namespaced managers may assume.
    role_arns: tuple[str, ...] = ()
    # host[:port] of endpoints namespaced managers may name, and that may be plain http.
    endpoint_hosts: frozenset[str] = frozenset()

    def refusal(self, manager: ManagerInfo, request: EcrRequest) -> str | None:
        """Why this manager may not make this request, or None."""
        endpoint = urlsplit(request.endpoint_url) if request.endpoint_url else None
        host = endpoint.netloc if endpoint is not None else ""
        if endpoint is not None and endpoint.scheme != "https" and host not in self.endpoint_hosts:
            return f"endpoint {host} is plain http; only https, unless the operator allows the host"
        if manager.kind is not ManagerKind.NAMESPACED:
            return None
        namespace = manager.namespace or ""
        if request.keys is None and namespace not in self.ambient_namespaces:
            return (
                "a namespaced manager's ECR entry needs credentialsSecretRef with accessKeyID "
                "and secretKey: the operator's own AWS identity is not lent to namespaces "
                "(see cheiron run --ecr-ambient-namespace)"
            )
        if request.role_arn and not any(fnmatchcase(request.role_arn, p) for p in self.role_arns):
            return (
                f"role {request.role_arn} is not one namespaced managers may assume "
                "(see cheiron run --ecr-role-arn)"
            )
        if endpoint is not None and host not in self.endpoint_hosts:
            return (
                f"endpoint {host} is not one namespaced managers may use "
                "(see cheiron run --ecr-endpoint-host)"
            )
        return None


@dataclass(frozen=True)
class EntryOutcome:
    """What resolving one `spec.secrets` entry gave."""

    name: str
    ok: bool
    reason: str
    message: str = ""
    # The dockerconfigjson to materialise in each target; None when failed or used in place.
    payload: bytes | None = field(default=None, repr=False)
    # A namespaced manager's existingSecretRef: the Secret is used where it already is.
    in_place: bool = False
    # A cluster manager's existingSecretRef: (namespace, name) of the Secret copied. Where
    # the copy would land on the source itself, the source is used in place.
    source: tuple[str, str] | None = None
    # False: create the Secret where it is missing, but leave existing ones as they are.
    update: bool = True
    # ECR: when the token expires and when cheiron renews it.
    expires_at: datetime.datetime | None = None
    renew_at: datetime.datetime | None = None
    # A failed entry: failures in a row, and when it is tried again (cheiron.fsm.manager).
    failures: int = 0
    retry_at: datetime.datetime | None = None
    # What the registry said to the credentials (cheiron.pullsecrets.verification).
    verification: Verdict | None = None
    # Digest of the payload the registry accepted that the entry's Secrets hold.
    accepted_digest: str | None = None


class SecretLike(Protocol):
    """The parts of a read Secret that resolving needs."""

    @property
    def type(self) -> str:
        """The Secret's type."""

    @property
    def data(self) -> dict[str, bytes]:
        """The decoded data."""


ReadSecret = Callable[[str, str], SecretLike | None]


def _valid_object_name(name: str) -> bool:
    return len(name) <= 253 and re.fullmatch(DNS_SUBDOMAIN, name) is not None


ResolveEcr = Callable[[ManagerInfo, SecretEntry], EntryOutcome]


def _no_ecr(manager: ManagerInfo, entry: SecretEntry) -> EntryOutcome:
    return EntryOutcome(entry.secret_name, False, "EcrUnavailable", "ECR is not configured")


def resolve(
    manager: ManagerInfo, entry: SecretEntry, read: ReadSecret, ecr: ResolveEcr = _no_ecr
) -> EntryOutcome:
    """Turn one entry into the dockerconfigjson to materialise, or a failed outcome."""
    name = entry.secret_name
    if not _valid_object_name(name):
        return EntryOutcome(
            name, False, INVALID_SECRET_NAME, f"{name!r} is not a valid Secret name"
        )
    if entry.existing_secret_ref is not None:
        return _existing(manager, entry, read)
    if entry.ecr is not None:
        return ecr(manager, entry)
    return _with_credentials(manager, entry, read)


def _with_credentials(manager: ManagerInfo, entry: SecretEntry, read: ReadSecret) -> EntryOutcome:
    """An inline entry, or one whose credentials sit in a Secret's keys."""
    name = entry.secret_name
    assert entry.registry is not None  # noqa: S101 - guaranteed by the model
    credentials = _credentials(manager, entry, read)
    if isinstance(credentials, EntryOutcome):
        return credentials
    try:
        normalize_registry(entry.registry)
    except DockerConfigError as e:
        return EntryOutcome(name, False, INVALID_REGISTRY, str(e))
    try:
        config = DockerConfig.single(entry.registry, *credentials, entry.email)
    except DockerConfigError as e:
        return EntryOutcome(name, False, INVALID_CREDENTIALS, str(e))
    return EntryOutcome(name, True, RESOLVED, payload=config.to_json())


def _ref_namespace(manager: ManagerInfo, ref: SecretRef | CredentialsRef) -> str:
    """Where a referenced Secret lives: the manager's namespace unless the ref names one."""
    return getattr(ref, "namespace", None) or manager.namespace or ""


def _read_ref(
    manager: ManagerInfo, entry: SecretEntry, ref: SecretRef | CredentialsRef, read: ReadSecret
) -> tuple[str, SecretLike] | EntryOutcome:
    """The referenced Secret and its namespace."""
    namespace = _ref_namespace(manager, ref)
    secret = read(namespace, ref.name)
    if secret is None:
        return EntryOutcome(
            entry.secret_name, False, SECRET_NOT_FOUND, f"Secret {namespace}/{ref.name} not found"
        )
    return namespace, secret


def _credentials(
    manager: ManagerInfo, entry: SecretEntry, read: ReadSecret
) -> tuple[str, str] | EntryOutcome:
    """Username and password, inline or from the referenced Secret's keys."""
    ref = entry.credentials_secret_ref
    if ref is None:
        assert entry.username is not None  # noqa: S101 - guaranteed by the model
        assert entry.password is not None  # noqa: S101
        return entry.username, entry.password
    found = _read_keys(manager, entry, ref, read, (ref.username_key, ref.password_key))
    if isinstance(found, EntryOutcome):
        return found
    return found[ref.username_key], found[ref.password_key]


def _read_keys(
    manager: ManagerInfo,
    entry: SecretEntry,
    ref: SecretRef | CredentialsRef,
    read: ReadSecret,
    required: tuple[str, ...],
) -> dict[str, str] | EntryOutcome:
    """The referenced Secret's keys as stripped text; every key in `required` must be there."""
    found = _read_ref(manager, entry, ref, read)
    if isinstance(found, EntryOutcome):
        return found
    namespace, secret = found
    missing = [k for k in required if k not in secret.data]
    if missing:
        return EntryOutcome(
            entry.secret_name,
            False,
            KEY_NOT_FOUND,
            f"Secret {namespace}/{ref.name} has no key {', '.join(missing)}",
        )
    return {k: v.decode(errors="replace").strip() for k, v in secret.data.items()}


def _existing(manager: ManagerInfo, entry: SecretEntry, read: ReadSecret) -> EntryOutcome:
    ref = entry.existing_secret_ref
    assert ref is not None  # noqa: S101 - checked by the caller
    name = entry.secret_name
    found = _read_ref(manager, entry, ref, read)
    if isinstance(found, EntryOutcome):
        return found
    namespace, secret = found
    if secret.type != DOCKERCONFIGJSON_TYPE:
        return EntryOutcome(
            name,
            False,
            WRONG_SECRET_TYPE,
            f"Secret {namespace}/{ref.name} has type {secret.type}, "
            f"expected {DOCKERCONFIGJSON_TYPE}",
        )
    payload = secret.data.get(DOCKERCONFIGJSON_KEY)
    if payload is None:
        return EntryOutcome(
            name,
            False,
            MALFORMED_DOCKER_CONFIG,
            f"Secret {namespace}/{ref.name} has no {DOCKERCONFIGJSON_KEY} key",
        )
    try:
        DockerConfig.parse(payload)
    except DockerConfigError as e:
        return EntryOutcome(
            name, False, MALFORMED_DOCKER_CONFIG, f"Secret {namespace}/{ref.name}: {e}"
        )
    if manager.kind is ManagerKind.NAMESPACED and namespace == manager.namespace:
        # Already where it is needed: attach it as it is, copy nothing.
        return EntryOutcome(name, True, RESOLVED, payload=payload, in_place=True)
    return EntryOutcome(name, True, RESOLVED, payload=payload, source=(namespace, ref.name))


ECR_HOST = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com")
# imps' Secret format for AWS credentials (and the session token of temporary ones).
IMPS_KEYS = ("accessKeyID", "secretKey")
SESSION_TOKEN_KEY = "sessionToken"  # noqa: S105 - a key's name, not a token


def aws_keys(keys: dict[str, str], secret: str) -> AwsKeys | str:
    """The complete keys a credentials Secret holds, or why they are not complete.

    The one place that decides an entry's AWS identity from its Secret: a Secret that is
    named must give the whole identity, since whatever it lacks boto3 would otherwise
    take from the operator's environment (IRSA, Pod Identity, the node's role).
    """
    access_key_id, secret_key = keys.get("accessKeyID", ""), keys.get("secretKey", "")
    missing = [k for k, v in (("accessKeyID", access_key_id), ("secretKey", secret_key)) if not v]
    if missing:
        return (
            f"Secret {secret} has an empty {' and '.join(missing)}: an ECR entry's keys must "
            "be complete, they are never completed from the operator's own AWS identity"
        )
    return AwsKeys(access_key_id, secret_key, keys.get(SESSION_TOKEN_KEY) or None)


def ecr_target(
    manager: ManagerInfo, entry: SecretEntry, read: ReadSecret, policy: EcrPolicy
) -> EcrRequest | EntryOutcome:
    """The account, region and identity of an ECR entry, or why they cannot (or may not) be had.

    Nothing is sent anywhere for a request the policy refuses.
    """
    source = entry.ecr
    assert source is not None  # noqa: S101 - only called for ECR entries
    account, region = source.account_id, source.region
    if source.registry and (match := ECR_HOST.match(source.registry)):
        account, region = match["account"], match["region"]
    identity: AwsKeys | None = None
    if (ref := source.credentials_secret_ref) is not None:
        found = _read_keys(manager, entry, ref, read, IMPS_KEYS)
        if isinstance(found, EntryOutcome):
            return found
        keys = aws_keys(found, f"{_ref_namespace(manager, ref)}/{ref.name}")
        if isinstance(keys, str):
            return EntryOutcome(entry.secret_name, False, INCOMPLETE_AWS_KEYS, keys)
        identity = keys
        region = region or found.get("region") or None
        account = account or found.get("accountID") or None
    if not account or not region:
        return EntryOutcome(
            entry.secret_name, False, INVALID_REGISTRY, "ECR account and region unknown"
        )
    request = EcrRequest(
        account,
        region,
        identity,
        source.role_arn,
        source.endpoint_url,
        # Who asked, for CloudTrail: `<namespace>.<name>`, or the cluster manager's name.
        session_name=".".join(p for p in (manager.namespace, manager.name) if p)[:64],
    )
    if (refused := policy.refusal(manager, request)) is not None:
        return EntryOutcome(entry.secret_name, False, NOT_ALLOWED, refused)
    return request


def own_payload(
    manager: ManagerInfo,
    entry: SecretEntry,
    secrets: Iterable[SecretInfo],
    read: ReadSecret,
    expected: str,
) -> bytes | None:
    """The dockerconfigjson of a copy of the entry's Secret whose digest is `expected`.

    Copies live in target namespaces, where tenants may rewrite them: only the one cheiron
    wrote (its digest recorded in status, where tenants cannot write) is taken back.
    """
    copy = next(
        (
            s
            for s in secrets
            if s.name == entry.secret_name and s.owner_uid == manager.uid and s.digest == expected
        ),
        None,
    )
    secret = read(copy.namespace, copy.name) if copy is not None else None
    payload = secret.data.get(DOCKERCONFIGJSON_KEY) if secret is not None else None
    # Read again, not from the cache: it may have changed since; check it once more.
    return payload if payload and digest(payload) == expected else None
