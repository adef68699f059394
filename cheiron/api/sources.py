"""What a credential source is asked for and answers, as plain data shared across layers."""

import datetime
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class AwsKeys:
    """Static AWS keys, complete: an id and a secret (and a session token, if temporary)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class EcrRequest:
    """Where to get an ECR token and with which identity.

    `keys` None means the operator's own identity (AWS's default chain: IRSA, Pod Identity,
    the node's role, its environment); whoever builds a request decides that once, and the
    session does exactly what it says, never completing keys from the environment.
    """

    account_id: str
    region: str
    keys: AwsKeys | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None
    # The assumed role's session name: the manager's, so CloudTrail says who asked.
    session_name: str = "cheiron"

    @property
    def identity(self) -> tuple[str, ...]:
        """What decides which token AWS hands out; a change means the cached token is stale.

        The secret key is left out on purpose: it authenticates, it does not select.
        """
        return (
            self.account_id,
            self.region,
            self.keys.access_key_id if self.keys is not None else "",
            self.role_arn or "",
            self.endpoint_url or "",
        )


@dataclass(frozen=True)
class EcrToken:
    """A registry password and when it stops working."""

    registry: str
    username: str
    password: str = field(repr=False)
    expires_at: datetime.datetime


class VerificationResult(StrEnum):
    """What a registry said to an entry's credentials."""

    VERIFIED = "Verified"  # it accepted them
    REJECTED = "Rejected"  # 401 or 403: they do not work
    UNREACHABLE = "Unreachable"  # no answer to go by: network, TLS, 5xx
    SKIPPED = "Skipped"  # not asked: the host is not one the operator may contact


@dataclass(frozen=True)
class RegistryLogin:
    """Credentials for one registry host, as the registry's API is reached (host[:port])."""

    host: str
    username: str
    password: str = field(repr=False)
    # Plain http, or https without certificate checks (test registries only).
    insecure: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """What a verdict is cached under: the host and a digest of the credentials."""
        material = f"{self.host}\0{self.username}\0{self.password}".encode()
        return self.host, hashlib.sha256(material).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """A registry's answer to one set of credentials, and when it was asked."""

    result: VerificationResult
    checked_at: datetime.datetime
    # Why, in the registry's or the network's words; never a credential.
    message: str = ""
