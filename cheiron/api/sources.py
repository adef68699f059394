"""What a credential source is asked for and answers, as plain data shared across layers."""

import datetime
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class EcrRequest:
    """Where to get an ECR token and with which identity (None: the default AWS chain)."""

    account_id: str
    region: str
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
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
            self.access_key_id or "",
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
