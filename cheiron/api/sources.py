"""What a credential source is asked for and answers, as plain data shared across layers."""

import datetime
from dataclasses import dataclass, field


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
