"""pydantic models of cheiron's custom resources: the single source of truth for the CRDs.

The CRD YAML under config/crd is generated from these classes (cheiron.api.crd). Rules the
apiserver must enforce are written twice on purpose: as a CEL rule in the schema (so kubectl
gets the error at apply time) and as a pydantic validator with the same message (so the
operator and `cheiron plan` see the same verdict on objects that bypassed the schema).
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from cheiron.api.sources import VerificationResult

# RFC 1123 subdomain, the rule for Secret and ServiceAccount names.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# RFC 1123 label, the rule for namespace names.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
NamespaceName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
SecretKey = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]


def validation_message(error: ValidationError, root: str = "") -> str:
    """Which fields are wrong and why, never their values (`root` names a whole-object error)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or root}: {err['msg']}" for err in error.errors()
    )


def cel(rule: str, message: str) -> JsonDict:
    """One x-kubernetes-validations item."""
    return {"rule": rule, "message": message}


class Model(BaseModel):
    """Base of every model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        # Validation errors end up in logs, events and status: they must not echo passwords.
        hide_input_in_errors=True,
    )

    def wire(self) -> dict[str, Any]:
        """The object as the apiserver stores it (camelCase, unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Mode(StrEnum):
    """Where the pull secrets are attached."""

    SERVICE_ACCOUNT = "ServiceAccount"
    POD = "Pod"


class Verification(StrEnum):
    """Whether credentials are checked with their registry before they are written."""

    NEVER = "Never"
    WARN = "Warn"
    ENFORCE = "Enforce"


class SecretRef(Model):
    """A reference to a Secret in the manager's own namespace."""

    # No name pattern on purpose: a reference to a Secret that cannot exist is reported by
    # the operator on that entry (Ready=False) while the other entries keep working, as the
    # original project's documented sample (with its `<my-registry>` placeholder) expects.
    name: str = Field(min_length=1, max_length=253, description="Name of the Secret.")


class ClusterSecretRef(SecretRef):
    """A reference to a Secret in a named namespace (cluster-scoped managers only)."""

    namespace: NamespaceName = Field(description="Namespace of the Secret.")


class CredentialsRef(Model):
    """Where the username and password of an entry are read from."""

    name: ObjectName = Field(description="Name of the Secret holding the credentials.")
    username_key: SecretKey = Field(
        default="username", description="Key of the username in the Secret's data."
    )
    password_key: SecretKey = Field(
        default="password", description="Key of the password or token in the Secret's data."
    )


class ClusterCredentialsRef(CredentialsRef):
    """Credentials read from a Secret in a named namespace (cluster-scoped managers only)."""

    namespace: NamespaceName = Field(description="Namespace of the Secret.")


_ECR_WHERE_MSG = (
    "ecr needs registry, or accountID and region, or a credentialsSecretRef whose Secret "
    "has the accountID and region keys"
)
ECR_REGISTRY = r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"


class EcrSource(Model):
    """A token from AWS ECR's GetAuthorizationToken, renewed before it expires."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.registry) || (has(self.accountID) && has(self.region))"
                    " || has(self.credentialsSecretRef)",
                    _ECR_WHERE_MSG,
                )
            ]
        }
    )

    registry: str | None = Field(
        default=None,
        pattern=ECR_REGISTRY,
        description="<account>.dkr.ecr.<region>.amazonaws.com",
    )
    account_id: str | None = Field(
        default=None, alias="accountID", pattern=r"^[0-9]{12}$", description="AWS account ID."
    )
    region: str | None = Field(
        default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$", description="AWS region."
    )
    credentials_secret_ref: SecretRef | None = Field(
        default=None,
        description=(
            "A Secret in imps' format (keys accessKeyID, secretKey, and optionally "
            "sessionToken, region and accountID). Its keys must be complete: an empty or blank "
            "accessKeyID or secretKey fails the entry (IncompleteAwsKeys), never falls back. "
            "Without it the default AWS chain is used: environment, web identity (IRSA), "
            "instance profile."
        ),
    )
    role_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$",
        description="Role to assume.",
    )
    endpoint_url: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        alias="endpointURL",
        description="An ECR-compatible endpoint instead of AWS's (also $AWS_ENDPOINT_URL_ECR).",
    )

    @property
    def host(self) -> str | None:
        """The registry host the token is for, when the spec names it (not only its Secret)."""
        if self.registry is not None:
            return self.registry
        if self.account_id and self.region:
            return f"{self.account_id}.dkr.ecr.{self.region}.amazonaws.com"
        return None

    @model_validator(mode="after")
    def _where(self) -> "EcrSource":
        if (
            self.registry is None
            and (self.account_id is None or self.region is None)
            and self.credentials_secret_ref is None
        ):
            raise ValueError(_ECR_WHERE_MSG)
        return self


class ClusterEcrSource(EcrSource):
    """An ECR source whose credentials Secret names its namespace."""

    credentials_secret_ref: ClusterSecretRef | None = Field(
        default=None,
        description=(
            "A Secret in imps' format (accessKeyID, secretKey, optionally sessionToken, "
            "region, accountID); empty or blank keys fail the entry (IncompleteAwsKeys)."
        ),
    )


_ONE_SOURCE = (
    "[has(self.existingSecretRef), has(self.credentialsSecretRef), has(self.ecr),"
    " has(self.username) || has(self.password)].filter(x, x).size() == 1"
)
_ONE_SOURCE_MSG = (
    "each entry needs exactly one credential source: username and password, "
    "credentialsSecretRef, existingSecretRef, or ecr"
)
_BOTH_INLINE_MSG = "inline credentials need both username and password"
_NAME_REGISTRY_MSG = "name and registry are required unless existingSecretRef is given"
_REF_NO_REGISTRY_MSG = "registry cannot be combined with existingSecretRef or ecr"


class SecretEntry(Model):
    """One registry credential: inline, from a Secret's keys, or an existing pull Secret."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(_ONE_SOURCE, _ONE_SOURCE_MSG),
                cel("has(self.username) == has(self.password)", _BOTH_INLINE_MSG),
                cel(
                    "has(self.existingSecretRef) || (has(self.name) "
                    "&& (has(self.registry) || has(self.ecr)))",
                    _NAME_REGISTRY_MSG,
                ),
                cel(
                    "!(has(self.existingSecretRef) || has(self.ecr)) || !has(self.registry)",
                    _REF_NO_REGISTRY_MSG,
                ),
            ]
        }
    )

    name: ObjectName | None = Field(
        default=None,
        description=(
            "Name of the Secret cheiron creates for this entry. With existingSecretRef it "
            "defaults to the referenced Secret's name."
        ),
    )
    registry: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        pattern=r"^\S+$",
        description="Registry host (ghcr.io, https://index.docker.io/v1/, host:port/path).",
    )
    username: str | None = Field(default=None, min_length=1, description="Inline username.")
    password: str | None = Field(
        default=None,
        min_length=1,
        description="Inline password or token. Prefer credentialsSecretRef.",
    )
    email: str | None = Field(default=None, description="Optional e-mail for the registry.")
    credentials_secret_ref: CredentialsRef | None = Field(
        default=None, description="Read username and password from keys of a Secret."
    )
    existing_secret_ref: SecretRef | None = Field(
        default=None,
        description="Use an existing kubernetes.io/dockerconfigjson Secret as it is.",
    )
    ecr: EcrSource | None = Field(
        default=None, description="An AWS ECR token, renewed at half its lifetime."
    )

    @model_validator(mode="after")
    def _one_source(self) -> "SecretEntry":
        inline = self.username is not None or self.password is not None
        sources = [
            self.existing_secret_ref is not None,
            self.credentials_secret_ref is not None,
            self.ecr is not None,
        ]
        if sum([*sources, inline]) != 1:
            raise ValueError(_ONE_SOURCE_MSG)
        if (self.username is None) != (self.password is None):
            raise ValueError(_BOTH_INLINE_MSG)
        if self.existing_secret_ref is None and (
            self.name is None or (self.registry is None and self.ecr is None)
        ):
            raise ValueError(_NAME_REGISTRY_MSG)
        if (self.existing_secret_ref or self.ecr) is not None and self.registry is not None:
            raise ValueError(_REF_NO_REGISTRY_MSG)
        return self

    @property
    def secret_name(self) -> str:
        """The name of the Secret this entry materialises in each target namespace."""
        if self.name is not None:
            return self.name
        assert self.existing_secret_ref is not None  # noqa: S101 - guaranteed by _one_source
        return self.existing_secret_ref.name

    def __repr_args__(self) -> Any:
        # The password must never reach a log line through a repr.
        for key, value in super().__repr_args__():
            yield key, ("***" if key == "password" and value is not None else value)


class ClusterSecretEntry(SecretEntry):
    """A credential entry of a cluster-scoped manager: references name their namespace."""

    credentials_secret_ref: ClusterCredentialsRef | None = Field(
        default=None, description="Read username and password from keys of a Secret."
    )
    existing_secret_ref: ClusterSecretRef | None = Field(
        default=None,
        description=(
            "Copy an existing kubernetes.io/dockerconfigjson Secret into each target namespace."
        ),
    )
    ecr: ClusterEcrSource | None = Field(
        default=None, description="An AWS ECR token, renewed at half its lifetime."
    )


LabelKey = Annotated[str, Field(min_length=1, max_length=317)]
LabelValue = Annotated[str, Field(max_length=63)]


class LabelSelectorRequirement(Model):
    """One matchExpressions item, as in Kubernetes label selectors."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.operator in ['In', 'NotIn'] ? size(self.values) > 0 "
                    ": !has(self.values) || size(self.values) == 0",
                    "In and NotIn need values; Exists and DoesNotExist take none",
                )
            ]
        }
    )

    key: LabelKey
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[LabelValue] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values(self) -> "LabelSelectorRequirement":
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError("In and NotIn need values; Exists and DoesNotExist take none")
        return self


class LabelSelector(Model):
    """A Kubernetes label selector: every matchLabels pair and every expression must hold."""

    match_labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


class AnnotationSelector(Model):
    """Every listed annotation must be present with exactly that value."""

    match_annotations: dict[LabelKey, str] = Field(default_factory=dict)


class NamespaceRules(Model):
    """Namespaces selected by name, by labels or by annotations (any rule is enough)."""

    names: list[NamespaceName] = Field(
        default_factory=list,
        description="Namespaces by name; the only way to include kube-system.",
    )
    labels: list[LabelSelector] = Field(default_factory=list)
    annotations: list[AnnotationSelector] = Field(default_factory=list)


class PodRules(Model):
    """Namespaces that hold at least one Pod matching any of these rules.

    Pod labels and annotations are set by whoever may create Pods in a namespace: alone,
    these rules let any tenant opt their namespace in. `namespaceSelector` is the cluster
    admin's side: only namespaces matching it count.
    """

    labels: list[LabelSelector] = Field(default_factory=list)
    annotations: list[AnnotationSelector] = Field(default_factory=list)
    namespace_selector: LabelSelector | None = Field(
        default=None,
        description=(
            "Only namespaces whose labels match this selector may be selected by their "
            "Pods (Pod labels are the tenants'; namespace labels usually the admin's)."
        ),
    )


class MergedSecret(Model):
    """One Secret holding every credential of the manager (imps' behaviour)."""

    name: ObjectName = Field(description="Name of the merged Secret in each target namespace.")
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    annotations: dict[LabelKey, str] = Field(default_factory=dict)


class NamespacedTarget(Model):
    """Options of a namespaced manager's target (its namespace is fixed)."""

    secret: MergedSecret | None = Field(
        default=None,
        description=(
            "Merge all entries into this one dockerconfigjson Secret; when two entries name "
            "the same registry, the earlier entry wins."
        ),
    )


class ClusterTarget(NamespacedTarget):
    """Which namespaces a cluster manager acts in: all when no rule is given."""

    namespaces: NamespaceRules | None = None
    namespaces_with_pods: PodRules | None = None


class ServiceAccountSelector(Model):
    """Which ServiceAccounts of a target namespace get the secrets (default: all)."""

    names: list[ObjectName] = Field(default_factory=list)
    label_selector: LabelSelector | None = None


_UNIQUE_NAMES = (
    "self.all(a, self.exists_one(b, "
    "(has(a.name) ? a.name : a.existingSecretRef.name) == "
    "(has(b.name) ? b.name : b.existingSecretRef.name)))"
)
_UNIQUE_NAMES_MSG = "the Secret names of the entries must be unique"


class ManagerSpec(Model):
    """What both kinds of manager share."""

    mode: Mode = Field(
        default=Mode.SERVICE_ACCOUNT,
        description="Attach pull secrets to ServiceAccounts, or to Pods at creation.",
    )
    secrets: list[SecretEntry] = Field(
        default_factory=list,
        max_length=64,
        description="Registry credentials to materialise as dockerconfigjson Secrets.",
        json_schema_extra={"x-kubernetes-validations": [cel(_UNIQUE_NAMES, _UNIQUE_NAMES_MSG)]},
    )
    service_account_selector: ServiceAccountSelector | None = Field(
        default=None,
        description="Patch only these ServiceAccounts (by name and/or labels); default all.",
    )
    verification: Verification = Field(
        default=Verification.WARN,
        description=(
            "Ask each registry whether it accepts an entry's credentials before they are "
            "written. Warn: rejected credentials are still written (the registry may answer "
            "nodes but not the operator) and the manager is Degraded; Enforce: they are not "
            "written; Never: no check. Either way, a rotation the registry rejects never "
            "replaces credentials it accepts."
        ),
    )
    recreate_stuck_pods: bool = Field(
        default=False,
        description=(
            "Delete Pods owned by a ReplicaSet, StatefulSet, DaemonSet or Job that wait in "
            "ErrImagePull or ImagePullBackOff for a registry these secrets cover and were "
            "created without them, so their owner recreates them with the secrets. Bare Pods "
            "are never deleted."
        ),
    )

    @model_validator(mode="after")
    def _unique_names(self) -> "ManagerSpec":
        names = [entry.secret_name for entry in self.secrets]
        if len(names) != len(set(names)):
            raise ValueError(_UNIQUE_NAMES_MSG)
        return self


class ImagePullSecretManagerSpec(ManagerSpec):
    """Spec of an ImagePullSecretManager: acts in its own namespace only."""

    target: NamespacedTarget | None = Field(
        default=None, description="Options for what the manager writes in its namespace."
    )


class ClusterImagePullSecretManagerSpec(ImagePullSecretManagerSpec):
    """Spec of a ClusterImagePullSecretManager: acts in every namespace it selects."""

    secrets: list[ClusterSecretEntry] = Field(  # type: ignore[assignment]
        default_factory=list,
        max_length=64,
        description="Registry credentials to materialise as dockerconfigjson Secrets.",
        json_schema_extra={"x-kubernetes-validations": [cel(_UNIQUE_NAMES, _UNIQUE_NAMES_MSG)]},
    )
    exclude_namespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=1024,
        description=(
            "Namespaces never acted in; wins over target. kube-system is excluded unless "
            "target.namespaces.names lists it."
        ),
    )
    target: ClusterTarget | None = Field(
        default=None,
        description="Select namespaces (any rule matching is enough); all when absent.",
    )


class ConditionStatus(StrEnum):
    """The three values of a Kubernetes condition status."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(Model):
    """A Kubernetes-style status condition."""

    type: str = Field(min_length=1, max_length=316)
    status: ConditionStatus
    reason: str = Field(
        min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
    )
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(default=None, ge=0)


class EntryVerification(Model):
    """The registry's answer to one entry's credentials."""

    result: VerificationResult = Field(
        description="Verified, Rejected (401/403), Unreachable (network, TLS, 5xx) or Skipped "
        "(the operator may not contact the host)."
    )
    checked_at: datetime | None = Field(default=None, description="When the registry was asked.")
    message: str = Field(default="", max_length=2048)


class EntryStatus(Model):
    """How one `spec.secrets` entry fared in the last reconcile."""

    name: str = Field(description="The entry's Secret name.")
    ready: bool
    reason: str
    message: str = ""
    expires_at: datetime | None = Field(default=None, description="ECR: the token's expiry.")
    renew_at: datetime | None = Field(default=None, description="ECR: the next renewal.")
    token_digest: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="ECR: SHA-256 of the token's dockerconfigjson. After a restart the "
        "operator reuses only a copy with this digest, never one a tenant rewrote.",
    )
    verification: EntryVerification | None = Field(
        default=None, description="What the registry said to the entry's credentials."
    )
    accepted_digest: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the dockerconfigjson the registry last accepted and the "
        "Secrets hold: a rotation it rejects keeps that one.",
    )
    failures: int | None = Field(
        default=None, ge=0, description="A failed entry: how many passes in a row it failed."
    )
    retry_at: datetime | None = Field(
        default=None, description="A failed entry: when it is tried again at the latest."
    )


REFUSALS_SHOWN = 5  # refused writes listed in a manager's status; the rest are counted


class ManagerStatus(Model):
    """Status of both kinds of manager."""

    observed_generation: int | None = Field(default=None, ge=0)
    # Materializing and Annotating: written by earlier versions, read as Pending.
    phase: (
        Literal[
            "Pending",
            "Resolving",
            "Retrying",
            "Syncing",
            "Ready",
            "Degraded",
            "Invalid",
            "Materializing",
            "Annotating",
        ]
        | None
    ) = Field(default=None, description="The manager state machine's current state.")
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    secrets: list[str] = Field(default_factory=list, description="Names of the Secrets in use.")
    secret_count: int = Field(
        default=0, ge=0, description="How many Secrets are in use (kubectl's Secrets column)."
    )
    entries: list[EntryStatus] = Field(default_factory=list)
    target_namespaces: int = Field(default=0, ge=0, description="Namespaces acted in.")
    reconciled_objects: int = Field(
        default=0, ge=0, description="ServiceAccounts or Pods annotated with the secrets."
    )
    pods_needing_recreation: int = Field(
        default=0, ge=0, description="Pods created without the secrets (Pod mode)."
    )
    refused_namespaces: int = Field(
        default=0,
        ge=0,
        description="Namespaces where the API server refused a write (retried with backoff).",
    )
    refusals: list[str] = Field(
        default_factory=list,
        max_length=REFUSALS_SHOWN,
        description="The first refusals: namespace, write, HTTP status and reason.",
    )


# --- ClusterImageBackup ------------------------------------------------------------------

# A registry host as image references spell it: DNS name or IPv4, optional port.
REGISTRY_HOST = (
    r"^(localhost|[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*)"
    r"(:[0-9]{1,5})?$"
)
# Repository path components, lower case, as in the distribution reference grammar.
PATH_COMPONENT = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_PREFIX = rf"^{PATH_COMPONENT}(/{PATH_COMPONENT})*$"
_CA_OR_INSECURE_MSG = "caBundle and insecure cannot be combined"


class WorkloadKind(StrEnum):
    """The workload kinds whose pod templates a backup covers."""

    DEPLOYMENT = "Deployment"
    DAEMON_SET = "DaemonSet"
    STATEFUL_SET = "StatefulSet"


class Rewrite(StrEnum):
    """Where backed-up images replace the originals."""

    WORKLOADS = "Workloads"
    PODS = "Pods"


_CA_OR_INSECURE = "!(has(self.caBundle) && has(self.insecure) && self.insecure)"


class RegistryTls(Model):
    """How cheiron trusts a registry: the system CAs, plus a CA bundle, or no TLS checks."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [cel(_CA_OR_INSECURE, _CA_OR_INSECURE_MSG)]}
    )

    ca_bundle: str | None = Field(
        default=None,
        min_length=1,
        max_length=65536,
        description="PEM CA certificates trusted for this registry (besides the system's).",
    )
    insecure: bool = Field(
        default=False,
        description="Skip TLS verification, and fall back to plain HTTP (test registries only).",
    )

    @model_validator(mode="after")
    def _ca_or_insecure(self) -> "RegistryTls":
        if self.ca_bundle is not None and self.insecure:
            raise ValueError(_CA_OR_INSECURE_MSG)
        return self


class BackupRegistry(RegistryTls):
    """Where backups are pushed, and the credentials that push (and pull) them."""

    host: str = Field(
        max_length=253,
        pattern=REGISTRY_HOST,
        description="Registry host and optional port, e.g. registry.example.com:5000.",
    )
    prefix: str | None = Field(
        default=None,
        max_length=255,
        pattern=REPOSITORY_PREFIX,
        description="Repository path prefix for every backup, e.g. backup/prod.",
    )
    credentials_secret_ref: ClusterCredentialsRef = Field(
        description=(
            "Username and password that push to the registry. Never copied into workload "
            "namespaces unless sharePushCredentials is true."
        )
    )
    pull_credentials_secret_ref: ClusterCredentialsRef | None = Field(
        default=None,
        description=(
            "Read-only credentials for Pods pulling backups, copied into the namespaces whose "
            "images are rewritten. Without them no namespace gets a pull Secret (so no "
            "workload is rewritten) unless sharePushCredentials is true."
        ),
    )
    share_push_credentials: bool = Field(
        default=False,
        description=(
            "Without pullCredentialsSecretRef, hand the push credentials to the namespaces "
            "whose images are rewritten: every tenant there could then overwrite backups. "
            "For single-tenant clusters."
        ),
    )


_CREDENTIALS_NEED_NAMESPACES = (
    "!has(self.credentialsSecretRef) || (has(self.namespaces) && size(self.namespaces) > 0)"
)
_CREDENTIALS_NEED_NAMESPACES_MSG = (
    "a source registry with credentialsSecretRef lists the namespaces that may use them"
)
_BACKUP_SCOPE_NEEDS_CREDENTIALS = (
    "has(self.credentialsSecretRef) || "
    "!(has(self.backupPrefix) || has(self.backupPullCredentialsSecretRef))"
)
_BACKUP_SCOPE_NEEDS_CREDENTIALS_MSG = (
    "backupPrefix and backupPullCredentialsSecretRef are for a source registry with "
    "credentialsSecretRef"
)
# Path components without a dot or underscore (never `localhost`): no registry host's
# component (`docker.io`, `host_5000`) looks like one, so a private backup's path never
# equals a public backup's, `<prefix>/<source-host>/...`.
PRIVATE_PREFIX = r"^[a-z0-9]+(-+[a-z0-9]+)*(/[a-z0-9]+(-+[a-z0-9]+)*)*$"
_LOCALHOST_COMPONENT = "(^|/)localhost(/|$)"
_NO_LOCALHOST = f"!has(self.backupPrefix) || !self.backupPrefix.matches('{_LOCALHOST_COMPONENT}')"
_NO_LOCALHOST_MSG = "backupPrefix cannot have a component `localhost`, a registry host's name"


class SourceRegistry(RegistryTls):
    """Credentials and TLS settings cheiron uses to read images from one source registry."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(_CA_OR_INSECURE, _CA_OR_INSECURE_MSG),
                cel(_CREDENTIALS_NEED_NAMESPACES, _CREDENTIALS_NEED_NAMESPACES_MSG),
                cel(_BACKUP_SCOPE_NEEDS_CREDENTIALS, _BACKUP_SCOPE_NEEDS_CREDENTIALS_MSG),
                cel(_NO_LOCALHOST, _NO_LOCALHOST_MSG),
            ]
        }
    )

    registry: str = Field(
        max_length=253,
        pattern=REGISTRY_HOST,
        description="Registry host as it appears in image references (docker.io for Docker Hub).",
    )
    credentials_secret_ref: ClusterCredentialsRef | None = Field(
        default=None, description="Username and password that read from the registry."
    )
    namespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=1024,
        description=(
            "With credentialsSecretRef: the only namespaces whose workloads may have this "
            "registry's images backed up and run from the backup. The credentials read "
            "what any namespace names; without this list a tenant could copy another's "
            "private image and run it."
        ),
    )
    backup_prefix: str | None = Field(
        default=None,
        max_length=200,
        pattern=PRIVATE_PREFIX,
        description=(
            "With credentialsSecretRef: the backup registry's path prefix for this registry's "
            "backups (`<backupPrefix>/<source-host>/<path>`), default `<prefix>/private`. "
            "Only backupPullCredentialsSecretRef may read it; give it a project of its own "
            "on registries whose pull rights are per project (Harbor)."
        ),
    )
    backup_pull_credentials_secret_ref: ClusterCredentialsRef | None = Field(
        default=None,
        description=(
            "With credentialsSecretRef: credentials that read this registry's backups in the "
            "backup registry and nothing else there, handed to the listed namespaces only. "
            "Without them the backups are made but no workload is pointed at them."
        ),
    )

    @model_validator(mode="after")
    def _namespaces_with_credentials(self) -> "SourceRegistry":
        if self.credentials_secret_ref is not None and not self.namespaces:
            raise ValueError(_CREDENTIALS_NEED_NAMESPACES_MSG)
        scoped = self.backup_prefix is not None or self.backup_pull_credentials_secret_ref
        if scoped and self.credentials_secret_ref is None:
            raise ValueError(_BACKUP_SCOPE_NEEDS_CREDENTIALS_MSG)
        if self.backup_prefix is not None and re.search(_LOCALHOST_COMPONENT, self.backup_prefix):
            raise ValueError(_NO_LOCALHOST_MSG)
        return self


_UNIQUE_SOURCES = "self.all(a, self.exists_one(b, a.registry == b.registry))"
_UNIQUE_SOURCES_MSG = "each source registry may be listed once"


class ClusterImageBackupSpec(Model):
    """Spec of a ClusterImageBackup: back up workload images, then point workloads at them."""

    registry: BackupRegistry = Field(description="The backup registry.")
    workload_kinds: list[WorkloadKind] = Field(
        default_factory=lambda: list(WorkloadKind),
        description="Workload kinds whose pod templates are backed up.",
    )
    exclude_namespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=1024,
        description=(
            "Namespaces never backed up or rewritten. kube-system and the operator's own "
            "namespace always are."
        ),
    )
    rewrite: Rewrite = Field(
        default=Rewrite.WORKLOADS,
        description=(
            "Workloads: patch the workloads' pod templates. Pods: rewrite images when Pods are "
            "created (cheiron's admission webhook), leaving workload specs to GitOps tools."
        ),
    )
    keep_tag: bool = Field(
        default=True,
        description="Rewrite to `name:tag@sha256:...` (True) or `name@sha256:...` (False).",
    )
    source_registries: list[SourceRegistry] = Field(
        default_factory=list,
        max_length=64,
        description="Credentials and TLS settings for source registries that need them.",
        json_schema_extra={"x-kubernetes-validations": [cel(_UNIQUE_SOURCES, _UNIQUE_SOURCES_MSG)]},
    )
    copy_concurrency: int = Field(
        default=4, ge=1, le=32, description="Images copied at once (each one skopeo process)."
    )

    @model_validator(mode="after")
    def _unique_sources(self) -> "ClusterImageBackupSpec":
        hosts = [s.registry for s in self.source_registries]
        if len(hosts) != len(set(hosts)):
            raise ValueError(_UNIQUE_SOURCES_MSG)
        return self


class ImageState(StrEnum):
    """Where one image stands (the image machine's states, cheiron.fsm.backup)."""

    PENDING = "Pending"
    COPYING = "Copying"
    BACKED_UP = "BackedUp"
    FAILED = "Failed"


class BackedUpImage(Model):
    """One source image and its backup."""

    source: str = Field(description="The normalised source reference (no digest if none).")
    state: ImageState
    digest: str | None = Field(default=None, description="The source's manifest digest.")
    backup: str | None = Field(
        default=None, description="The pinned backup reference workloads are pointed at."
    )
    attempts: int = Field(default=0, ge=0, description="Failed attempts in a row.")
    last_error: str | None = Field(default=None, max_length=2048)
    next_attempt: datetime | None = Field(default=None, description="When a failed copy retries.")


class ClusterImageBackupStatus(Model):
    """Status of a ClusterImageBackup."""

    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    images: list[BackedUpImage] = Field(default_factory=list)
    backed_up: int = Field(default=0, ge=0, description="Images backed up and verified.")
    pending: int = Field(default=0, ge=0, description="Images waiting for or in a copy.")
    failed: int = Field(default=0, ge=0, description="Images whose last copy failed.")
    namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces that get a pull Secret of the backup (any of its scopes).",
    )
    rewritten: int = Field(default=0, ge=0, description="Workloads pointed at their backups.")
