"""Whether a registry accepts an entry's credentials: what to ask, and what follows (pure).

The asking itself (the distribution API's `GET /v2/` and its challenge) is sources/' job.
Here: which logins a payload holds, which hosts a manager may have the operator contact, how
long an answer holds, and what an answer does to the entry: a rejected rotation never
replaces credentials the registry accepts, and `Enforce` writes nothing rejected.
"""

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any

from cheiron.api.models import Verification
from cheiron.api.observed import ManagerInfo, ManagerKind
from cheiron.api.sources import RegistryLogin, Verdict, VerificationResult
from cheiron.dockerconfig import DOCKER_HUB, DockerConfig, DockerConfigError
from cheiron.pullsecrets.entries import EntryOutcome

CREDENTIALS_REJECTED = "CredentialsRejected"
REGISTRY_UNREACHABLE = "RegistryUnreachable"
CREDENTIALS_VERIFIED = "CredentialsVerified"
# A dockerconfigjson may list many registries; an existingSecretRef with hundreds must not
# make one entry cost hundreds of requests.
MAX_LOGINS = 8
# An unreachable registry is asked again sooner than the interval: the network comes back.
UNREACHABLE_RECHECK = datetime.timedelta(minutes=10)
# A skipped verdict asked nobody: it has no time of its own.
_NEVER = "1970-01-01T00:00:00+00:00"
_SEVERITY = (
    VerificationResult.REJECTED,
    VerificationResult.UNREACHABLE,
    VerificationResult.SKIPPED,
    VerificationResult.VERIFIED,
)


@dataclass(frozen=True)
class VerifyPolicy:
    """Which registries the operator may contact to verify, and how often (`cheiron run`).

    Namespaced managers are a tenant's: verifying would let them make the operator connect
    wherever they like (a network probe from the operator's Pod), so only listed hosts are
    asked for them. Cluster managers are the admin's: any host, unless `listed_only`.
    """

    interval: datetime.timedelta = datetime.timedelta(hours=6)
    # fnmatch patterns of host[:port].
    hosts: tuple[str, ...] = ()
    listed_only: bool = False
    # Hosts reached over plain http or without certificate checks (test registries).
    insecure_hosts: tuple[str, ...] = ()

    def refusal(self, manager: ManagerInfo, host: str) -> str | None:
        """Why the operator may not contact `host` for this manager, or None."""
        if any(fnmatchcase(host, p) for p in self.hosts):
            return None
        if manager.kind is ManagerKind.NAMESPACED:
            return (
                f"not verified: {host} is not a registry namespaced managers may have the "
                "operator contact (see cheiron run --verify-host)"
            )
        if self.listed_only:
            return f"not verified: {host} is not listed in cheiron run --verify-host"
        return None

    def insecure(self, host: str) -> bool:
        """Whether `host` is reached without TLS checks."""
        return any(fnmatchcase(host, p) for p in self.insecure_hosts)

    def due(self, verdict: Verdict | None, now: datetime.datetime) -> bool:
        """Whether credentials last answered with `verdict` are to be asked about again."""
        if verdict is None or verdict.result is VerificationResult.SKIPPED:
            return True
        hold = self.interval
        if verdict.result is VerificationResult.UNREACHABLE:
            hold = min(hold, UNREACHABLE_RECHECK)
        return now - verdict.checked_at >= hold


def login_host(registry: str) -> str:
    """Where a normalised dockerconfigjson key's registry API is reached: host[:port]."""
    if registry == DOCKER_HUB:
        return "docker.io"
    return registry.split("/", 1)[0]


def logins(payload: bytes, policy: VerifyPolicy) -> tuple[RegistryLogin, ...]:
    """The username/password pairs of a payload, one per registry (identity tokens: none)."""
    try:
        config = DockerConfig.parse(payload)
    except DockerConfigError:
        return ()
    found: dict[tuple[str, str], RegistryLogin] = {}
    for registry, auth in config.auths.items():
        if not auth.username or not auth.password:
            continue
        host = login_host(registry)
        login = RegistryLogin(host, auth.username, auth.password, policy.insecure(host))
        found.setdefault(login.key, login)
    return tuple(found.values())[:MAX_LOGINS]


def combined(verdicts: Sequence[Verdict], now: datetime.datetime) -> Verdict:
    """One verdict for an entry: its worst login's, with every login's trouble named."""
    if not verdicts:
        return Verdict(VerificationResult.SKIPPED, now, "no username and password to verify")
    worst = min(verdicts, key=lambda v: _SEVERITY.index(v.result))
    messages = [v.message for v in verdicts if v.result is not VerificationResult.VERIFIED]
    return Verdict(
        worst.result,
        min(v.checked_at for v in verdicts),
        "; ".join(dict.fromkeys(m for m in messages if m)),
    )


def outcome_with(
    outcome: EntryOutcome,
    verdict: Verdict,
    mode: Verification,
    kept: Verdict | None,
    digests: tuple[str, str | None],
) -> EntryOutcome:
    """The entry once its registry answered.

    `kept`: what the registry says to the credentials the entry's Secrets hold now, when a
    rotation changed them. `digests`: the new payload's, and the accepted one on record.
    """
    new, accepted = digests
    verified = replace(outcome, verification=verdict)
    if verdict.result is VerificationResult.VERIFIED:
        return replace(verified, accepted_digest=new)
    if verdict.result is not VerificationResult.REJECTED:
        # Unreachable or skipped: written as asked; what the Secrets held is gone with it.
        return replace(verified, accepted_digest=None)
    if kept is not None and kept.result is VerificationResult.VERIFIED:
        return replace(
            verified,
            ok=False,
            reason=CREDENTIALS_REJECTED,
            message=(
                f"{verdict.message}; the Secrets keep the previous credentials, which the "
                "registry accepts"
            ),
            payload=None,
            accepted_digest=accepted,
        )
    if mode is Verification.ENFORCE:
        return replace(
            verified,
            ok=False,
            reason=CREDENTIALS_REJECTED,
            message=f"{verdict.message}; not written (verification: Enforce)",
            payload=None,
            accepted_digest=None,
        )
    return replace(verified, accepted_digest=None)


def rejected_written(outcome: EntryOutcome) -> bool:
    """An entry written although its registry rejected it (verification: Warn)."""
    return (
        outcome.ok
        and outcome.verification is not None
        and outcome.verification.result is VerificationResult.REJECTED
    )


def recorded_verdict(recorded: Mapping[str, Any] | None) -> Verdict | None:
    """The verdict `status.entries[]` holds for an entry (the API's camelCase), or None."""
    raw = (recorded or {}).get("verification")
    if not isinstance(raw, Mapping):
        return None
    try:
        result = VerificationResult(str(raw.get("result")))
        checked = datetime.datetime.fromisoformat(
            str(raw.get("checkedAt") or _NEVER).replace("Z", "+00:00")
        )
    except ValueError:
        return None
    return Verdict(result, checked, str(raw.get("message") or ""))


def changed(before: Verdict | None, after: Verdict | None) -> bool:
    """Whether an Event tells of `after`: a new result worth a line, not a repeat."""
    if after is None or after.result is VerificationResult.SKIPPED:
        return False
    if before is None:
        return after.result is not VerificationResult.VERIFIED
    return before.result is not after.result
