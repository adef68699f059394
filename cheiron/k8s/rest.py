"""The few API calls the operator makes, as plain JSON over the official client's transport.

kubernetes' generated API classes wrap each of their hundreds of methods in pydantic's
validate_call: importing CoreV1Api alone costs tens of MiB, for a handful of calls. Here the
official client still does configuration, TLS, authentication and connection pooling (its
`ApiClient` and `RESTClientObject`), and errors are its `ApiException`s; what is left is
building a URL and decoding JSON. The classes below keep the official method names, argument
order and keywords, so callers read (and RBAC checks scan) as with the official client.

Bodies are plain dicts, sent as the official client sends them: JSON, with the patch content
type it picks for each call (strategic merge for a dict patch of a built-in kind, merge patch
for a custom object, JSON patch for a list of operations). Results are decoded JSON; with
`_preload_content=False`, the raw urllib3 response, whose connection the caller releases.

An apiserver that is throttling (API Priority and Fairness answers 429) is asked again after
the `Retry-After` it names, with jitter, a bounded number of times and for a bounded total
wait (`Retries`); only then does the error reach the caller.
"""

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

log = logging.getLogger(__name__)

ACCEPT = "application/json"
# Objects' metadata only, as client-go's metadata informers ask: for kinds whose content
# cheiron does not read, a list page holds no payloads. A list and a watch each need their
# own form (a watch asked for the List form streams nothing).
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_WATCH = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
# (connect, read) seconds for a call that names none: without one, a call to an apiserver
# that stopped answering hangs its thread for good (urllib3's default is no timeout).
REQUEST_TIMEOUT = (5.0, 30.0)

# The apiserver did not act on the request: API Priority and Fairness or max-in-flight
# rejected it (429), or nothing behind the address could serve it (503: the aggregator, an
# apiserver shutting down, a load balancer without a backend). Any method may be sent again.
NOT_SERVED = frozenset({429, 503})
# The apiserver may have acted before the error: a 504 timeout can follow a committed write,
# a 502 proxy may have forwarded it, and 500 is also what a failing admission webhook answers.
# Only reads are sent again; a write surfaces at once (cheiron's writes are guarded by
# resourceVersion, JSON patch tests or create-409, and the next pass plans from the watches).
MAYBE_SERVED = frozenset({500, 502, 504})
READS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Retries:
    """How a throttled call is asked again: attempts and waiting, both bounded.

    `attempts` counts the calls, the first included; `budget` bounds the seconds spent waiting
    between them, so a caller's deadline holds (each call also has its own timeout). A wait is
    the server's `Retry-After`, else `backoff` doubled per attempt; then up to `jitter` of it
    more, so that replicas throttled together do not come back together; at most `cap`.
    """

    attempts: int = 6
    budget: float = 30.0
    cap: float = 10.0
    backoff: float = 0.5
    jitter: float = 0.5


DEFAULT_RETRIES = Retries()
NO_RETRIES = Retries(attempts=1, budget=0.0)


def retry_after(value: str | None) -> float | None:
    """The seconds of a `Retry-After` header, as client-go reads it: whole seconds, else None.

    The kube-apiserver sends whole seconds; an HTTP date or anything else counts as absent (the
    caller's own backoff applies).
    """
    if value is None:
        return None
    text = value.strip()
    return float(int(text)) if text.isascii() and text.isdigit() else None


def retryable(method: str, status: int) -> bool:
    """Whether an answer `status` to `method` may be asked again (NOT_SERVED, MAYBE_SERVED)."""
    return status in NOT_SERVED or (status in MAYBE_SERVED and method.upper() in READS)


def next_wait(  # noqa: PLR0917 - one pure rule over the whole retry state
    retries: Retries,
    method: str,
    status: int,
    attempt: int,
    server_wait: float | None,
    waited: float,
    rand: float,
) -> float | None:
    """Seconds to wait before asking again after `attempt` failed with `status`, or None: give up.

    `server_wait` is the parsed Retry-After, `waited` the seconds already waited for this call,
    `rand` a number in [0, 1) for the jitter.
    """
    if not retryable(method, status) or attempt >= retries.attempts:
        return None
    base = server_wait if server_wait is not None else retries.backoff * 2 ** (attempt - 1)
    wait = min(base * (1 + retries.jitter * rand), retries.cap)
    return None if waited + wait > retries.budget else wait


# The official client's keywords, as the apiserver's query parameters.
QUERY_PARAMETERS = {
    "label_selector": "labelSelector",
    "field_selector": "fieldSelector",
    "limit": "limit",
    "_continue": "continue",
    "watch": "watch",
    "resource_version": "resourceVersion",
    "allow_watch_bookmarks": "allowWatchBookmarks",
    "timeout_seconds": "timeoutSeconds",
}


def _segment(value: str) -> str:
    # Every character but unreserved ones escaped, as the official client does for path params.
    return quote(str(value), safe="")


def _query(params: dict[str, Any]) -> str:
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if key not in QUERY_PARAMETERS:
            raise TypeError(f"unexpected keyword argument {key!r}")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        pairs.append(f"{QUERY_PARAMETERS[key]}={quote(text, safe='')}")
    return "&".join(pairs)


def _headers(api: ApiClient, content_type: str | None, accept: str = ACCEPT) -> dict[str, str]:
    headers: dict[str, str] = dict(api.default_headers)
    if api.cookie:
        headers["Cookie"] = api.cookie
    headers["Accept"] = accept
    if content_type is not None:
        headers["Content-Type"] = content_type
    # Read at every request: an in-cluster token is refreshed by the configuration's
    # refresh_api_key_hook, which get_api_key_with_prefix (under auth_settings) calls.
    for setting in api.configuration.auth_settings().values():
        if setting["in"] == "header" and setting["value"]:
            headers[setting["key"]] = setting["value"]
    return headers


def request(
    api: ApiClient,
    method: str,
    path: str,
    *,
    body: Any = None,
    content_type: str | None = None,
    _request_timeout: Any = None,
    _preload_content: bool = True,
    _accept: str = ACCEPT,
    _retries: Retries | None = None,
    _sleep: Callable[[float], None] = time.sleep,
    **query: Any,
) -> Any:
    """One call: decoded JSON (None for an empty body), or the raw response when not preloaded.

    A non-2xx answer raises the official client's ApiException (or its subclass for the
    status), its body read and its connection back in the pool; a throttled one (`retryable`)
    only once `_retries` (DEFAULT_RETRIES) ran out. Without `_request_timeout` each attempt
    has REQUEST_TIMEOUT.
    """
    if content_type is None and method in ("POST", "PUT", "PATCH", "DELETE"):
        content_type = JSON
    retries = DEFAULT_RETRIES if _retries is None else _retries
    url = api.configuration.host + path
    params = _query(query)
    if params:
        url += "?" + params
    attempt, waited = 1, 0.0
    while True:
        response = api.rest_client.request(
            method,
            url,
            headers=_headers(api, content_type, _accept),
            body=body,
            post_params=None,
            _request_timeout=REQUEST_TIMEOUT if _request_timeout is None else _request_timeout,
        )
        raw = response.response
        if 200 <= response.status <= 299:
            break
        try:
            response.read()
        finally:
            raw.release_conn()
        wait = next_wait(
            retries,
            method,
            response.status,
            attempt,
            retry_after((response.headers or {}).get("Retry-After")),
            waited,
            random.random(),  # noqa: S311 - jitter, not a secret
        )
        if wait is None:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        log.debug("%s %s: %d, again in %.1f s", method, path, response.status, wait)
        _sleep(wait)
        attempt, waited = attempt + 1, waited + wait
    if not _preload_content:
        return raw  # streamed: the caller reads it and releases its connection
    try:
        data = response.read()
    finally:
        raw.release_conn()
    return json.loads(data) if data else None


def _patch_type(body: Any, built_in: bool) -> str:
    if isinstance(body, list):
        return JSON_PATCH
    return STRATEGIC_MERGE_PATCH if built_in else MERGE_PATCH


class _Api:
    def __init__(
        self, api_client: ApiClient, request_timeout: Any = None, retries: Retries | None = None
    ) -> None:
        self.api_client = api_client
        self.request_timeout = request_timeout
        self.retries = retries

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("_request_timeout", self.request_timeout)
        kwargs.setdefault("_retries", self.retries)
        return request(self.api_client, method, path, **kwargs)

    def _patch(self, path: str, body: Any, *, built_in: bool = True) -> Any:
        return self._call("PATCH", path, body=body, content_type=_patch_type(body, built_in))


def _namespaced(prefix: str, namespace: str, plural: str, name: str | None = None) -> str:
    path = f"{prefix}/namespaces/{_segment(namespace)}/{plural}"
    return path if name is None else f"{path}/{_segment(name)}"


def _cluster(prefix: str, plural: str, name: str | None = None) -> str:
    path = f"{prefix}/{plural}"
    return path if name is None else f"{path}/{_segment(name)}"


CORE = "/api/v1"
APPS = "/apis/apps/v1"
COORDINATION = "/apis/coordination.k8s.io/v1"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


class CoreApi(_Api):
    """The core/v1 calls cheiron makes (CoreV1Api's names)."""

    def read_namespaced_secret(self, name: str, namespace: str) -> dict[str, Any]:
        """GET a Secret."""
        return dict(self._call("GET", _namespaced(CORE, namespace, "secrets", name)))

    def create_namespaced_secret(self, namespace: str, body: dict[str, Any]) -> Any:
        """POST a Secret."""
        return self._call("POST", _namespaced(CORE, namespace, "secrets"), body=body)

    def patch_namespaced_secret(self, name: str, namespace: str, body: Any) -> Any:
        """PATCH a Secret."""
        return self._patch(_namespaced(CORE, namespace, "secrets", name), body)

    def delete_namespaced_secret(
        self, name: str, namespace: str, body: dict[str, Any] | None = None
    ) -> Any:
        """DELETE a Secret."""
        return self._call("DELETE", _namespaced(CORE, namespace, "secrets", name), body=body)

    def list_secret_for_all_namespaces(self, **kwargs: Any) -> Any:
        """List (or watch) Secrets in every namespace."""
        return self._call("GET", _cluster(CORE, "secrets"), **kwargs)

    def list_namespaced_secret(self, namespace: str, **kwargs: Any) -> Any:
        """List (or watch) Secrets in one namespace."""
        return self._call("GET", _namespaced(CORE, namespace, "secrets"), **kwargs)

    def list_namespace(self, **kwargs: Any) -> Any:
        """List (or watch) Namespaces."""
        return self._call("GET", _cluster(CORE, "namespaces"), **kwargs)

    def list_service_account_for_all_namespaces(self, **kwargs: Any) -> Any:
        """List (or watch) ServiceAccounts in every namespace."""
        return self._call("GET", _cluster(CORE, "serviceaccounts"), **kwargs)

    def list_namespaced_service_account(self, namespace: str, **kwargs: Any) -> Any:
        """List (or watch) ServiceAccounts in one namespace."""
        return self._call("GET", _namespaced(CORE, namespace, "serviceaccounts"), **kwargs)

    def patch_namespaced_service_account(self, name: str, namespace: str, body: Any) -> Any:
        """PATCH a ServiceAccount."""
        return self._patch(_namespaced(CORE, namespace, "serviceaccounts", name), body)

    def list_pod_for_all_namespaces(self, **kwargs: Any) -> Any:
        """List (or watch) Pods in every namespace."""
        return self._call("GET", _cluster(CORE, "pods"), **kwargs)

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> Any:
        """List (or watch) Pods in one namespace."""
        return self._call("GET", _namespaced(CORE, namespace, "pods"), **kwargs)

    def patch_namespaced_pod(self, name: str, namespace: str, body: Any) -> Any:
        """PATCH a Pod."""
        return self._patch(_namespaced(CORE, namespace, "pods", name), body)

    def delete_namespaced_pod(
        self, name: str, namespace: str, body: dict[str, Any] | None = None
    ) -> Any:
        """DELETE a Pod (`body`: DeleteOptions, e.g. preconditions)."""
        return self._call("DELETE", _namespaced(CORE, namespace, "pods", name), body=body)

    def create_namespaced_event(self, namespace: str, body: dict[str, Any]) -> Any:
        """POST a core/v1 Event."""
        return self._call("POST", _namespaced(CORE, namespace, "events"), body=body)


class AppsApi(_Api):
    """The apps/v1 calls cheiron makes (AppsV1Api's names)."""

    def list_deployment_for_all_namespaces(self, **kwargs: Any) -> Any:
        """List (or watch) Deployments in every namespace."""
        return self._call("GET", _cluster(APPS, "deployments"), **kwargs)

    def list_daemon_set_for_all_namespaces(self, **kwargs: Any) -> Any:
        """List (or watch) DaemonSets in every namespace."""
        return self._call("GET", _cluster(APPS, "daemonsets"), **kwargs)

    def list_stateful_set_for_all_namespaces(self, **kwargs: Any) -> Any:
        """List (or watch) StatefulSets in every namespace."""
        return self._call("GET", _cluster(APPS, "statefulsets"), **kwargs)

    def patch_namespaced_deployment(self, name: str, namespace: str, body: Any) -> Any:
        """PATCH a Deployment."""
        return self._patch(_namespaced(APPS, namespace, "deployments", name), body)

    def patch_namespaced_daemon_set(self, name: str, namespace: str, body: Any) -> Any:
        """PATCH a DaemonSet."""
        return self._patch(_namespaced(APPS, namespace, "daemonsets", name), body)

    def patch_namespaced_stateful_set(self, name: str, namespace: str, body: Any) -> Any:
        """PATCH a StatefulSet."""
        return self._patch(_namespaced(APPS, namespace, "statefulsets", name), body)


def _group(group: str, version: str) -> str:
    return f"/apis/{_segment(group)}/{_segment(version)}"


class CustomObjectsApi(_Api):
    """The custom object calls cheiron makes (CustomObjectsApi's names); merge patches."""

    def list_cluster_custom_object(
        self, group: str, version: str, plural: str, **kwargs: Any
    ) -> Any:
        """List (or watch) a custom kind in every namespace, or a cluster-scoped one."""
        return self._call("GET", _cluster(_group(group, version), _segment(plural)), **kwargs)

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, **kwargs: Any
    ) -> Any:
        """List (or watch) a custom kind in one namespace."""
        path = _namespaced(_group(group, version), namespace, _segment(plural))
        return self._call("GET", path, **kwargs)

    def get_cluster_custom_object(
        self, group: str, version: str, plural: str, name: str
    ) -> dict[str, Any]:
        """GET a cluster-scoped custom object."""
        return dict(self._call("GET", _cluster(_group(group, version), _segment(plural), name)))

    def create_cluster_custom_object(
        self, group: str, version: str, plural: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """POST a cluster-scoped custom object."""
        path = _cluster(_group(group, version), _segment(plural))
        return dict(self._call("POST", path, body=body))

    def patch_cluster_custom_object(
        self, group: str, version: str, plural: str, name: str, body: Any
    ) -> Any:
        """PATCH a cluster-scoped custom object."""
        path = _cluster(_group(group, version), _segment(plural), name)
        return self._patch(path, body, built_in=False)

    def patch_namespaced_custom_object(  # noqa: PLR0917 - the official signature
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any:
        """PATCH a namespaced custom object."""
        path = _namespaced(_group(group, version), namespace, _segment(plural), name)
        return self._patch(path, body, built_in=False)

    def patch_cluster_custom_object_status(
        self, group: str, version: str, plural: str, name: str, body: Any
    ) -> Any:
        """PATCH a cluster-scoped custom object's status subresource."""
        path = _cluster(_group(group, version), _segment(plural), name) + "/status"
        return self._patch(path, body, built_in=False)

    def patch_namespaced_custom_object_status(  # noqa: PLR0917 - the official signature
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any:
        """PATCH a namespaced custom object's status subresource."""
        path = _namespaced(_group(group, version), namespace, _segment(plural), name) + "/status"
        return self._patch(path, body, built_in=False)


class CoordinationApi(_Api):
    """The coordination.k8s.io/v1 calls cheiron makes (CoordinationV1Api's names)."""

    def read_namespaced_lease(self, name: str, namespace: str) -> dict[str, Any]:
        """GET a Lease."""
        return dict(self._call("GET", _namespaced(COORDINATION, namespace, "leases", name)))

    def create_namespaced_lease(self, namespace: str, body: dict[str, Any]) -> Any:
        """POST a Lease."""
        return self._call("POST", _namespaced(COORDINATION, namespace, "leases"), body=body)

    def replace_namespaced_lease(self, name: str, namespace: str, body: dict[str, Any]) -> Any:
        """PUT a Lease (its metadata.resourceVersion makes it conditional)."""
        path = _namespaced(COORDINATION, namespace, "leases", name)
        return self._call("PUT", path, body=body)


class AdmissionApi(_Api):
    """The admissionregistration.k8s.io/v1 calls cheiron makes."""

    def read_mutating_webhook_configuration(self, name: str) -> dict[str, Any]:
        """GET a MutatingWebhookConfiguration."""
        path = _cluster(ADMISSION, "mutatingwebhookconfigurations", name)
        return dict(self._call("GET", path))

    def create_mutating_webhook_configuration(self, body: dict[str, Any]) -> Any:
        """POST a MutatingWebhookConfiguration."""
        path = _cluster(ADMISSION, "mutatingwebhookconfigurations")
        return self._call("POST", path, body=body)

    def replace_mutating_webhook_configuration(self, name: str, body: dict[str, Any]) -> Any:
        """PUT a MutatingWebhookConfiguration."""
        path = _cluster(ADMISSION, "mutatingwebhookconfigurations", name)
        return self._call("PUT", path, body=body)
