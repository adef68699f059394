"""Throttled API calls: asked again after Retry-After, bounded, and never a namespace's refusal."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron.k8s import rest
from cheiron.k8s.lease import LeaderElection
from cheiron.k8s.objects import refusal
from cheiron.k8s.rest import Retries, next_wait, retry_after, retryable

WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("1", 1.0), (" 12 ", 12.0), ("0", 0.0), (None, None), ("", None), ("-1", None)],
)
def test_retry_after_is_whole_seconds_as_client_go_reads_it(
    header: str | None, seconds: float | None
) -> None:
    assert retry_after(header) == seconds


@pytest.mark.parametrize("header", ["1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", "\u0661"])
def test_anything_but_whole_seconds_counts_as_no_retry_after(header: str) -> None:
    assert retry_after(header) is None


@pytest.mark.parametrize("method", ["GET", *WRITES])
@pytest.mark.parametrize("status", [429, 503])
def test_not_served_answers_are_asked_again_whatever_the_method(method: str, status: int) -> None:
    assert retryable(method, status)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_answers_that_may_follow_a_write_are_asked_again_for_reads_only(status: int) -> None:
    assert retryable("GET", status)
    assert not any(retryable(m, status) for m in WRITES)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422])
def test_refusals_are_never_asked_again(status: int) -> None:
    assert not any(retryable(m, status) for m in ("GET", *WRITES))


@given(
    retry=st.integers(min_value=0, max_value=60),
    rand=st.floats(min_value=0, max_value=1, exclude_max=True),
    attempt=st.integers(min_value=1, max_value=5),
)
def test_a_wait_honours_retry_after_with_bounded_jitter(
    retry: int, rand: float, attempt: int
) -> None:
    retries = Retries(attempts=6, budget=1000.0, cap=10.0, jitter=0.5)
    wait = next_wait(retries, "PATCH", 429, attempt, float(retry), 0.0, rand)
    assert wait is not None
    # Never sooner than the server asked (up to the cap), never more than half again.
    assert min(retry, retries.cap) <= wait <= min(retry * 1.5, retries.cap)


@given(rand=st.floats(min_value=0, max_value=1, exclude_max=True))
def test_without_retry_after_the_wait_doubles_up_to_the_cap(rand: float) -> None:
    retries = Retries(attempts=10, budget=1000.0, cap=3.0, backoff=0.5, jitter=0.5)
    waits = [next_wait(retries, "GET", 503, n, None, 0.0, rand) for n in range(1, 7)]
    bases = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert waits == [min(b * (1 + 0.5 * rand), 3.0) for b in bases]


def test_the_attempts_and_the_budget_bound_the_retries() -> None:
    retries = Retries(attempts=3, budget=2.5, cap=10.0, jitter=0.0)
    assert next_wait(retries, "PATCH", 429, 1, 1.0, 0.0, 0.0) == 1.0
    assert next_wait(retries, "PATCH", 429, 2, 1.0, 1.0, 0.0) == 1.0
    assert next_wait(retries, "PATCH", 429, 3, 1.0, 2.0, 0.0) is None  # the third call was last
    # A wait that would overrun the budget is not started: the caller keeps its deadline.
    assert next_wait(retries, "PATCH", 429, 1, 3.0, 0.0, 0.0) is None
    assert next_wait(retries, "PATCH", 429, 2, 1.0, 2.0, 0.0) is None
    assert next_wait(rest.NO_RETRIES, "GET", 429, 1, 0.0, 0.0, 0.0) is None


class _Answer:
    """What RESTClientObject.request returns, with the status and headers a test names."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.reason = {200: "OK", 403: "Forbidden", 429: "Too Many Requests"}.get(status, "Error")
        self.data: bytes | None = None
        self.response = self
        self.headers = {"content-type": "application/json", **(headers or {})}
        self.body = json.dumps({"kind": "Status" if status >= 300 else "Secret"}).encode()
        self.released = 0

    def read(self) -> bytes:
        self.data = self.body
        return self.data

    def release_conn(self) -> None:
        self.released += 1


class _Transport:
    def __init__(self, answers: list[_Answer]) -> None:
        self.answers = answers
        self.methods: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any) -> _Answer:
        self.methods.append(method)
        return self.answers.pop(0)


def _api(answers: list[_Answer]) -> client.ApiClient:
    api = client.ApiClient(client.Configuration(host="https://apiserver:6443"))
    api.rest_client = _Transport(answers)
    return api


def test_a_throttled_write_is_sent_again_after_retry_after() -> None:
    throttled = [_Answer(429, {"Retry-After": "2"}), _Answer(429, {"Retry-After": "1"})]
    api = _api([*throttled, _Answer(200)])
    slept: list[float] = []
    path = "/api/v1/namespaces/a/secrets"
    done = rest.request(api, "POST", path, body={}, _sleep=slept.append)
    assert done == {"kind": "Secret"}
    assert api.rest_client.methods == ["POST"] * 3
    assert 2.0 <= slept[0] <= 3.0
    assert 1.0 <= slept[1] <= 1.5
    assert [a.released for a in throttled] == [1, 1]  # every connection back in the pool


def test_throttling_surfaces_once_the_retries_ran_out() -> None:
    answers = [_Answer(429, {"Retry-After": "1"}) for _ in range(3)]
    api = _api(answers)
    slept: list[float] = []
    with pytest.raises(ApiException) as raised:
        rest.request(api, "PATCH", "/x", body={}, _retries=Retries(attempts=3), _sleep=slept.append)
    assert raised.value.status == 429
    assert len(slept) == 2
    assert all(a.released == 1 for a in answers)


def test_a_write_that_may_have_been_applied_is_not_sent_again() -> None:
    api = _api([_Answer(504), _Answer(200)])
    with pytest.raises(ApiException) as raised:
        rest.request(api, "PATCH", "/x", body={}, _sleep=lambda _s: None)
    assert raised.value.status == 504
    assert api.rest_client.methods == ["PATCH"]


def test_a_refusal_is_raised_at_once() -> None:
    api = _api([_Answer(403), _Answer(200)])
    with pytest.raises(ApiException):
        rest.request(api, "POST", "/x", body={}, _sleep=lambda _s: pytest.fail("waited"))
    assert len(api.rest_client.methods) == 1


def test_the_lease_retries_fit_well_inside_its_renew_deadline() -> None:
    for seconds in (15, 30, 60):  # the default lease and longer ones
        election = LeaderElection(client.ApiClient(), "ns", "cheiron", "me", seconds)
        retries = election.retries
        worst = retries.attempts * election.request_timeout[1] + retries.budget
        # One call, however throttled, ends before the holder must give up.
        assert worst < election.renew_deadline
    for seconds in (6, 15, 60):
        assert LeaderElection(client.ApiClient(), "ns", "n", "me", seconds).retries.budget == (
            seconds / 10
        )


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_throttling_is_no_namespaces_refusal(status: int) -> None:
    assert refusal(ApiException(status=status, reason="Too Many Requests")) is None


@pytest.mark.parametrize(("status", "reason"), [(403, "Forbidden"), (422, "Unprocessable Entity")])
def test_an_answer_about_the_write_is_its_namespaces_refusal(status: int, reason: str) -> None:
    assert refusal(ApiException(status=status, reason=reason)) == f"{status} {reason}"


def test_a_failing_admission_webhook_stays_its_namespaces_refusal() -> None:
    # The apiserver answers 500 when a webhook (scoped to some namespaces) cannot be called:
    # one namespace's trouble, not a reason to fail every namespace's pass.
    assert refusal(ApiException(status=500, reason="Internal Server Error")) is not None
