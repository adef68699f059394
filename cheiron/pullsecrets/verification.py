"""Whether a registry accepts an entry's credentials: what to ask, when, and what follows (pure).

The asking itself (the distribution API's `GET /v2/` and its challenge) is sources/' job.
Here: which logins a payload holds, which hosts a manager may have the operator contact, how
long an answer holds, which checks may run now (CheckBoard: per host and per manager, a
silent host backed off, failed logins per account capped, a cluster manager's usernames
never tried by a tenant), and what an answer, or none yet, does to the entry: a rejected
rotation never replaces credentials the registry accepts, and `Enforce` writes nothing
rejected.
"""

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any

from cheiron.api.models import Verification
from cheiron.api.observed import ManagerInfo, ManagerKind
from cheiron.api.sources import RegistryLogin, Verdict, VerificationResult
from cheiron.dockerconfig import DOCKER_HUB, DockerConfig, DockerConfigError
from cheiron.pullsecrets.entries import EntryOutcome

CREDENTIALS_REJECTED = "CredentialsRejected"
# Enforce, and no answer yet: nothing written until the registry answers.
VERIFICATION_PENDING = "VerificationPending"
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


def users(payload: bytes) -> frozenset[tuple[str, str]]:
    """Every (host, username) a payload logs in with, however many registries it lists."""
    try:
        config = DockerConfig.parse(payload)
    except DockerConfigError:
        return frozenset()
    return frozenset(
        (login_host(registry), auth.username)
        for registry, auth in config.auths.items()
        if auth.username
    )


@dataclass(frozen=True)
class Pending:
    """No answer to act on yet: the registry is being asked, in the background."""

    message: str
    since: datetime.datetime


def pending(host: str, now: datetime.datetime) -> Pending:
    """Credentials the operator is asking `host` about (the same words at every pass)."""
    return Pending(f"{host}: not verified yet: asking it in the background", now)


def settled(answers: Sequence[Verdict | Pending], now: datetime.datetime) -> Verdict | Pending:
    """One answer for an entry: a rejection at once, else pending while any login is."""
    verdicts = [a for a in answers if isinstance(a, Verdict)]
    waiting = [a for a in answers if isinstance(a, Pending)]
    if not waiting or any(v.result is VerificationResult.REJECTED for v in verdicts):
        return combined(verdicts, now)
    return Pending(
        "; ".join(dict.fromkeys(p.message for p in waiting)), min(p.since for p in waiting)
    )


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


def outcome_with(  # noqa: PLR0917 - the answer and what it is weighed against
    outcome: EntryOutcome,
    verdict: Verdict | Pending,
    mode: Verification,
    kept: Verdict | None,
    digests: tuple[str, str | None],
    held: bytes | None = None,
) -> EntryOutcome:
    """The entry once its registry answered, or while it has not yet.

    `kept`: what the registry says to the credentials the entry's Secrets hold now, when a
    rotation changed them. `digests`: the new payload's, and the accepted one on record.
    `held`: those accepted credentials, where they are known (not in a merged Secret).
    """
    if isinstance(verdict, Pending):
        return _unanswered(outcome, verdict, mode, kept, digests[1], held)
    new, accepted = digests
    verified = replace(outcome, verification=verdict)
    if verdict.result is VerificationResult.VERIFIED:
        return replace(verified, accepted_digest=new)
    if verdict.result is not VerificationResult.REJECTED:
        # Unreachable or skipped: written as asked; what the Secrets held is gone with it.
        return replace(verified, accepted_digest=None)
    if kept is not None and kept.result is VerificationResult.VERIFIED:
        message = (
            f"{verdict.message}; the Secrets keep the previous credentials, which the "
            "registry accepts"
        )
        return _withheld(verified, CREDENTIALS_REJECTED, message, accepted)
    if mode is Verification.ENFORCE:
        message = f"{verdict.message}; not written (verification: Enforce)"
        return _withheld(verified, CREDENTIALS_REJECTED, message, None)
    return replace(verified, accepted_digest=None)


def _unanswered(  # noqa: PLR0917 - outcome_with's own inputs
    outcome: EntryOutcome,
    waiting: Pending,
    mode: Verification,
    kept: Verdict | None,
    accepted: str | None,
    held: bytes | None,
) -> EntryOutcome:
    """The entry while its registry is being asked: the next pass acts on the answer.

    A rotation away from accepted credentials waits for it (they may be rejected); so does
    anything new under `Enforce`. Otherwise it is written as asked, like an unreachable one.
    """
    # Status shows why there is no answer; a Skipped row has no time, so no churn.
    shown = replace(
        outcome, verification=Verdict(VerificationResult.SKIPPED, waiting.since, waiting.message)
    )
    if kept is not None and kept.result is VerificationResult.VERIFIED:
        message = (
            f"{waiting.message}; the Secrets keep the previous credentials, which the "
            "registry accepted, until it answers"
        )
        if held is not None:
            return replace(shown, message=message, payload=held, accepted_digest=accepted)
        # A merged Secret: a failed entry leaves it as it is.
        return _withheld(shown, VERIFICATION_PENDING, message, accepted)
    if mode is Verification.ENFORCE:
        message = f"{waiting.message}; not written until it answers (verification: Enforce)"
        return _withheld(shown, VERIFICATION_PENDING, message, None)
    return replace(shown, accepted_digest=None)


def _withheld(
    outcome: EntryOutcome, reason: str, message: str, accepted: str | None
) -> EntryOutcome:
    """The entry failed with nothing to write (its Secrets keep what they hold)."""
    return replace(
        outcome, ok=False, reason=reason, message=message, payload=None, accepted_digest=accepted
    )


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
    # Skipped (or not answered yet) asked nobody: what follows is the first answer.
    if before is None or before.result is VerificationResult.SKIPPED:
        return after.result is not VerificationResult.VERIFIED
    return before.result is not after.result


# --- which checks run, and which are not asked at all -------------------------------------

# Failed logins are counted per account over this window.
FAILED_LOGIN_WINDOW = datetime.timedelta(hours=1)
# A host that did not answer is not asked again for this long, doubling up to the recheck.
HOST_BACKOFF = datetime.timedelta(seconds=30)
# Until every cluster manager has had a pass, their usernames are not all known: tenants'
# checks wait for them, this long at most after the first request (a broken cluster manager
# must not stop every tenant's verification).
CLUSTER_GATE = datetime.timedelta(seconds=60)
# Accounts with failures and hosts backed off that are remembered (tenants choose names).
MAX_TRACKED = 10_000


@dataclass(frozen=True)
class CheckLimits:
    """How many checks may run at once, and how many failed logins an account may see."""

    # skopeo processes of the whole operator.
    total: int = 8
    per_host: int = 2
    # One manager's share: it never holds every slot, of a host or of the operator.
    per_manager: int = 4
    per_manager_per_host: int = 1
    # Rejected logins per (host, username) and FAILED_LOGIN_WINDOW, across all managers:
    # registries that lock an account after failures (Harbor, Artifactory, GitLab, Nexus) are
    # never brought there by the operator.
    failed_logins: int = 5
    # Checks one manager may have waiting; more are asked for at its later passes.
    queued_per_manager: int = 512


@dataclass
class Check:
    """One login to ask a registry about, and the managers that want the answer."""

    login: RegistryLogin
    # Whose share the check uses: the manager that asked first.
    owner: str
    # Only namespaced managers asked: the check waits until cluster usernames are known.
    namespaced: bool
    requesters: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Down:
    """A host that did not answer: how often in a row, until when it is left alone, why."""

    count: int
    at: datetime.datetime
    until: datetime.datetime
    message: str


class CheckBoard:
    """The checks queued and in flight, the hosts backed off, the failed logins per account.

    Mutable bookkeeping without I/O: the verifier asks it which checks may start
    (`next_checks`) and tells it how they ended (`finished`); every decision takes `now`.
    """

    def __init__(self, limits: CheckLimits | None = None) -> None:
        """An empty board."""
        self.limits = limits or CheckLimits()
        self.queued: dict[tuple[str, str], Check] = {}
        self.running: dict[tuple[str, str], Check] = {}
        self._failures: dict[tuple[str, str], list[datetime.datetime]] = {}
        self._down: dict[str, _Down] = {}
        # (host, username) each cluster manager's entries use, by (manager UID, entry name),
        # and how many entries use each: a tenant's check costs one lookup, not a walk.
        self._cluster: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}
        self._cluster_users: Counter[tuple[str, str]] = Counter()
        # Checks queued per owner: a manager's queue is bounded without a walk of it.
        self._queued_by: Counter[str] = Counter()
        self._since: datetime.datetime | None = None

    # -- what the cluster managers use ----------------------------------------------------

    def cluster_uses(self, uid: str, entry: str, used: Iterable[tuple[str, str]]) -> None:
        """Record the (host, username) pairs a cluster manager's entry logs in with."""
        self._cluster_users.subtract(self._cluster.get((uid, entry), ()))
        self._cluster[uid, entry] = now = frozenset(used)
        self._cluster_users.update(now)
        self._cluster_users = +self._cluster_users  # drop the zeros

    def _cluster_user(self, host: str, username: str) -> bool:
        return self._cluster_users[host, username] > 0

    # -- why not ask ---------------------------------------------------------------------

    def _recent_failures(self, account: tuple[str, str], now: datetime.datetime) -> int:
        times = [t for t in self._failures.get(account, ()) if now - t < FAILED_LOGIN_WINDOW]
        if times:
            self._failures[account] = times
        else:
            self._failures.pop(account, None)
        return len(times)

    def not_asked(
        self, login: RegistryLogin, namespaced: bool, now: datetime.datetime
    ) -> Verdict | None:
        """The verdict of a login the registry is not to be asked about now, or None."""
        host, user = login.host, login.username
        if namespaced and self._cluster_user(host, user):
            return Verdict(
                VerificationResult.SKIPPED,
                now,
                f"not verified: {user} is a username a cluster manager uses at {host}; "
                "namespaced managers are not verified with it, so that their failed logins "
                "cannot lock that account",
            )
        if self._recent_failures((host, user), now) >= self.limits.failed_logins:
            return Verdict(
                VerificationResult.SKIPPED,
                now,
                f"not asked: too many failed logins for {user} at {host} this hour",
            )
        down = self._down.get(host)
        if down is not None and now < down.until:
            return Verdict(
                VerificationResult.UNREACHABLE,
                down.at,
                f"not asked: {host} did not answer the last check ({down.message}); asked "
                f"again after {down.until.isoformat(timespec='seconds')}",
            )
        return None

    # -- the queue -----------------------------------------------------------------------

    def request(
        self, login: RegistryLogin, manager: str, namespaced: bool, now: datetime.datetime
    ) -> Check | None:
        """The check that answers `login` for `manager`, queued if new; None: queue full."""
        if self._since is None:
            self._since = now
        check = self.running.get(login.key) or self.queued.get(login.key)
        if check is None:
            if self._queued_by[manager] >= self.limits.queued_per_manager:
                return None
            check = self.queued[login.key] = Check(login, manager, namespaced)
            self._queued_by[manager] += 1
        check.requesters.add(manager)
        check.namespaced = check.namespaced and namespaced
        return check

    def gated(self, cluster_known: bool, now: datetime.datetime) -> bool:
        """Whether tenants' checks wait for cluster managers' usernames."""
        if cluster_known or self._since is None:
            return False
        return now - self._since < CLUSTER_GATE

    def waiting_for_cluster(self, cluster_known: bool, now: datetime.datetime) -> bool:
        """Whether a queued check waits only for the cluster managers' first passes."""
        return self.gated(cluster_known, now) and any(c.namespaced for c in self.queued.values())

    def next_checks(
        self, now: datetime.datetime, cluster_known: bool
    ) -> tuple[list[Check], list[tuple[Check, Verdict]]]:
        """The checks to start now, and the queued ones answered without asking.

        Fair across managers: each free slot goes to the manager with the fewest checks in
        flight (the longest waiting check first), within every limit.
        """
        answered: list[tuple[Check, Verdict]] = []
        for key, check in list(self.queued.items()):
            verdict = self.not_asked(check.login, check.namespaced, now)
            if verdict is not None:
                self._dequeue(key)
                answered.append((check, verdict))
        gated = self.gated(cluster_known, now)
        started: list[Check] = []
        while len(self.running) < self.limits.total:
            load = Counter(c.owner for c in self.running.values())
            best: Check | None = None
            for check in self.queued.values():
                if (gated and check.namespaced) or not self._startable(check, load, now):
                    continue
                if best is None or load[check.owner] < load[best.owner]:
                    best = check
            if best is None:
                break
            self._dequeue(best.login.key)
            self.running[best.login.key] = best
            started.append(best)
        return started, answered

    def _dequeue(self, key: tuple[str, str]) -> Check:
        check = self.queued.pop(key)
        self._queued_by[check.owner] -= 1
        if self._queued_by[check.owner] <= 0:
            del self._queued_by[check.owner]
        return check

    def _startable(self, check: Check, load: Counter[str], now: datetime.datetime) -> bool:
        limits, login = self.limits, check.login
        running = self.running.values()
        on_host = [c for c in running if c.login.host == login.host]
        same_account = sum(1 for c in on_host if c.login.username == login.username)
        failed = self._recent_failures((login.host, login.username), now)
        return (
            load[check.owner] < limits.per_manager
            and len(on_host) < limits.per_host
            and sum(1 for c in on_host if c.owner == check.owner) < limits.per_manager_per_host
            # A check in flight may fail too: together with the failures, under the cap.
            and failed + same_account < limits.failed_logins
        )

    def finished(self, check: Check, verdict: Verdict, now: datetime.datetime) -> None:
        """Record how a check ended: a failed login, a host that did not answer, or one that did."""
        self.running.pop(check.login.key, None)
        host = check.login.host
        if verdict.result is VerificationResult.REJECTED:
            self._failures.setdefault((host, check.login.username), []).append(now)
        if verdict.result is VerificationResult.UNREACHABLE:
            before = self._down.get(host)
            count = before.count + 1 if before is not None else 1
            hold = min(HOST_BACKOFF * 2 ** min(count - 1, 10), UNREACHABLE_RECHECK)
            self._down[host] = _Down(count, now, now + hold, verdict.message)
        elif verdict.result is not VerificationResult.SKIPPED:
            self._down.pop(host, None)
        self._prune(now)

    def _prune(self, now: datetime.datetime) -> None:
        if len(self._failures) > MAX_TRACKED:
            for account in list(self._failures):
                self._recent_failures(account, now)
        if len(self._down) > MAX_TRACKED:
            for host in [h for h, d in self._down.items() if d.until <= now]:
                del self._down[host]

    def forget(self, manager: str, uid: str) -> None:
        """Drop a deleted manager: its queued checks (unless others want them), its usernames."""
        for key, check in list(self.queued.items()):
            check.requesters.discard(manager)
            if not check.requesters:
                self._dequeue(key)
            elif check.owner == manager:
                self._dequeue(key)
                check.owner = min(check.requesters)
                self.queued[key] = check
                self._queued_by[check.owner] += 1
        for record in [r for r in self._cluster if r[0] == uid]:
            self._cluster_users.subtract(self._cluster.pop(record))
        self._cluster_users = +self._cluster_users
