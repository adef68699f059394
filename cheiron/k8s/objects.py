"""Reads and writes of Secrets, ServiceAccounts, Pods, manager status and Events."""

import base64
import datetime
import logging
import threading
import uuid
import weakref
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

from cheiron import API_GROUP, API_VERSION
from cheiron.api.meta import ADOPT_LABEL
from cheiron.api.observed import DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE, PLURALS, ManagerKind
from cheiron.k8s.rest import AppsApi, CoreApi, CustomObjectsApi

log = logging.getLogger(__name__)

CONFLICT, NOT_FOUND, UNPROCESSABLE = 409, 404, 422


@dataclass(frozen=True)
class ObjectRef:
    """What an Event is about."""

    kind: str
    api_version: str
    name: str
    namespace: str | None
    uid: str


@dataclass(frozen=True)
class SecretData:
    """A Secret as read for resolving a reference: type and decoded data."""

    type: str
    data: dict[str, bytes]


# Answers about the apiserver, not the namespace: it is throttling (API Priority and
# Fairness, max-in-flight) or cannot serve for now. cheiron.k8s.rest asked again already.
THROTTLED = frozenset({429, 502, 503, 504})


def refusal(error: BaseException) -> str | None:
    """`403 Forbidden` when the API server refused a request with an error, else None.

    An answer refuses one write in one namespace (admission, quota, a namespace being
    deleted, an immutable Secret; 500 is what a failing admission webhook answers); no
    answer at all (a connection error) or a throttled one (THROTTLED, after its retries)
    concerns every namespace alike.
    """
    if isinstance(error, ApiException) and error.status and error.status not in THROTTLED:
        return f"{error.status} {error.reason or 'Error'}"
    return None


class Kube:
    """Typed, narrow operations over the official client's transport (cheiron.k8s.rest).

    Nothing here logs Secret data.
    """

    def __init__(self, api: ApiClient, *, component: str = "cheiron") -> None:
        """Wrap an ApiClient; `component` is the Events' reporting component."""
        self.api = api
        self.core = CoreApi(api)
        self.custom = CustomObjectsApi(api)
        self.apps = AppsApi(api)
        self.component = component
        # Secrets read, by (namespace, name, resourceVersion), for as long as someone holds one.
        self._shared: weakref.WeakValueDictionary[tuple[str, str, str], SecretData] = (
            weakref.WeakValueDictionary()
        )
        self._shared_lock = threading.Lock()
        # Reads in progress, whose answer readers who come meanwhile share.
        self._flights: dict[tuple[str, str], Future[SecretData | None]] = {}

    # --- Secrets -------------------------------------------------------------------

    def _secret(self, namespace: str, name: str) -> Any:
        try:
            return self.core.read_namespaced_secret(name, namespace)
        except ApiException as e:
            if e.status == NOT_FOUND:
                return None
            raise

    def read_secret(self, namespace: str, name: str) -> SecretData | None:
        """A Secret's type and decoded data, or None when it does not exist.

        Readers of one Secret share one copy: those that ask while a read of it is in flight
        take that read's answer (64 entries on one 0.9 MiB Secret make one request, not 64),
        and one version stays one copy while anyone holds it (ten managers of 64 entries on
        it hold 0.9 MiB, not 576).
        """
        key = (namespace, name)
        with self._shared_lock:
            flight = self._flights.get(key)
            leads = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
        if not leads:
            return flight.result()
        try:
            flight.set_result(self._read_secret(namespace, name))
        except BaseException as e:
            flight.set_exception(e)
            raise
        finally:
            with self._shared_lock:
                self._flights.pop(key, None)
        return flight.result()

    def _read_secret(self, namespace: str, name: str) -> SecretData | None:
        secret = self._secret(namespace, name)
        if secret is None:
            return None
        version = (namespace, name, str((secret.get("metadata") or {}).get("resourceVersion")))
        with self._shared_lock:
            if (shared := self._shared.get(version)) is not None:
                return shared
        data = {k: base64.b64decode(v) for k, v in (secret.pop("data", None) or {}).items()}
        read = SecretData(secret.get("type") or "Opaque", data)
        with self._shared_lock:
            return self._shared.setdefault(version, read)

    def create_pull_secret(
        self,
        namespace: str,
        name: str,
        payload: bytes,
        labels: dict[str, str],
        annotations: dict[str, str],
    ) -> bool:
        """Create a kubernetes.io/dockerconfigjson Secret; False if the name is taken."""
        body = {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": labels,
                "annotations": annotations,
            },
            "type": DOCKERCONFIGJSON_TYPE,
            "data": {DOCKERCONFIGJSON_KEY: base64.b64encode(payload).decode()},
        }
        try:
            self.core.create_namespaced_secret(namespace, body)
        except ApiException as e:
            if e.status == CONFLICT:
                return False
            raise
        return True

    def secret_labels(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's labels, or None when it does not exist."""
        secret = self._secret(namespace, name)
        return None if secret is None else dict(secret["metadata"].get("labels") or {})

    def update_pull_secret(
        self,
        namespace: str,
        name: str,
        payload: bytes,
        labels: dict[str, str],
        adopt_annotations: dict[str, str] | None = None,
    ) -> None:
        """Update a pull Secret's data in place (never delete and recreate: pulls would fail).

        `adopt_annotations`: the Secret is another tool's, taken over. Its adopt label and its
        owner references go (the old tool's object, once deleted, would take the Secret
        with it), cheiron's labels and these annotations come.
        """
        metadata: dict[str, Any] = {"labels": labels}
        if adopt_annotations is not None:
            metadata = {
                "labels": {**labels, ADOPT_LABEL: None},
                "annotations": adopt_annotations,
                "ownerReferences": None,
            }
        patch = {
            "metadata": metadata,
            "data": {DOCKERCONFIGJSON_KEY: base64.b64encode(payload).decode()},
        }
        self.core.patch_namespaced_secret(name, namespace, patch)

    def delete_secret(self, namespace: str, name: str) -> None:
        """Delete a Secret; one that is already gone is fine."""
        try:
            self.core.delete_namespaced_secret(name, namespace)
        except ApiException as e:
            if e.status != NOT_FOUND:
                raise

    def list_owned_secrets(
        self, label_selector: str, namespace: str | None = None
    ) -> list[tuple[str, str]]:
        """(namespace, name) of every Secret matching a label selector, in one or all namespaces.

        A namespaced install may list Secrets in its own namespace only.
        """
        if namespace is None:
            found = self.core.list_secret_for_all_namespaces(label_selector=label_selector)
        else:
            found = self.core.list_namespaced_secret(namespace, label_selector=label_selector)
        return [
            (s["metadata"]["namespace"], s["metadata"]["name"]) for s in found.get("items") or []
        ]

    # --- ServiceAccounts and Pods --------------------------------------------------

    def patch_service_account(self, namespace: str, name: str, body: dict[str, Any]) -> bool:
        """Apply a merge patch; False when the object changed meanwhile (409) or is gone."""
        return self._patch(self.core.patch_namespaced_service_account, namespace, name, body)

    def patch_pod(self, namespace: str, name: str, body: dict[str, Any]) -> bool:
        """Apply a merge patch to a Pod's metadata; False on 409 or when it is gone."""
        return self._patch(self.core.patch_namespaced_pod, namespace, name, body)

    @staticmethod
    def _patch(
        fn: Any,
        namespace: str,
        name: str,
        body: Any,
        tolerate: tuple[int, ...] = (CONFLICT, NOT_FOUND),
    ) -> bool:
        try:
            fn(name, namespace, body)
        except ApiException as e:
            if e.status in tolerate:
                return False
            raise
        return True

    def delete_pod(self, namespace: str, name: str, uid: str) -> bool:
        """Delete one Pod, only if it is still the one observed (UID precondition)."""
        try:
            self.core.delete_namespaced_pod(name, namespace, body={"preconditions": {"uid": uid}})
        except ApiException as e:
            if e.status in (CONFLICT, NOT_FOUND):
                return False
            raise
        return True

    # --- managers ------------------------------------------------------------------

    def patch_manager_status(
        self, plural: str, namespace: str | None, name: str, status: dict[str, Any]
    ) -> None:
        """Replace the status fields cheiron owns (merge patch on the status subresource)."""
        body = {"status": status}
        try:
            if namespace is None:
                self.custom.patch_cluster_custom_object_status(
                    API_GROUP, API_VERSION, plural, name, body
                )
            else:
                self.custom.patch_namespaced_custom_object_status(
                    API_GROUP, API_VERSION, namespace, plural, name, body
                )
        except ApiException as e:
            if e.status != NOT_FOUND:
                raise

    def patch_manager_metadata(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        resource_version: str,
        *,
        finalizers: list[str],
        drop_annotations: tuple[str, ...] = (),
    ) -> bool:
        """Set a manager's finalizers, drop annotations, if it is still at `resource_version`.

        False when the object changed meanwhile (409) or is gone (404): the caller decides
        again from the newer object, so that another controller's finalizer is never lost.
        """
        metadata: dict[str, Any] = {"finalizers": finalizers, "resourceVersion": resource_version}
        if drop_annotations:
            metadata["annotations"] = dict.fromkeys(drop_annotations)
        body = {"metadata": metadata}
        try:
            if namespace is None:
                self.custom.patch_cluster_custom_object(API_GROUP, API_VERSION, plural, name, body)
            else:
                self.custom.patch_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, plural, name, body
                )
        except ApiException as e:
            if e.status in (CONFLICT, NOT_FOUND):
                return False
            raise
        return True

    # --- workloads (image backup) ---------------------------------------------------

    def patch_workload(
        self, kind: str, namespace: str, name: str, operations: list[dict[str, Any]]
    ) -> bool:
        """Apply a JSON patch to a Deployment, DaemonSet or StatefulSet.

        False when a `test` operation failed (the workload changed meanwhile: 422) or it is
        gone; the caller plans again from what the watch shows next.
        """
        patch = {
            "Deployment": self.apps.patch_namespaced_deployment,
            "DaemonSet": self.apps.patch_namespaced_daemon_set,
            "StatefulSet": self.apps.patch_namespaced_stateful_set,
        }[kind]
        # A list body is sent as application/json-patch+json.
        return self._patch(patch, namespace, name, operations, (CONFLICT, NOT_FOUND, UNPROCESSABLE))

    def apply_cluster_manager(self, body: dict[str, Any], owner_uid: str) -> str | None:
        """Create a ClusterImagePullSecretManager, or set the spec of the one `owner_uid` owns.

        Returns the manager's UID; None when the name is taken by a manager somebody else
        made: it is never adopted.
        """
        plural, name = PLURALS[ManagerKind.CLUSTER], body["metadata"]["name"]
        try:
            created = self.custom.create_cluster_custom_object(API_GROUP, API_VERSION, plural, body)
        except ApiException as e:
            if e.status != CONFLICT:
                raise
        else:
            return str(created["metadata"]["uid"])
        current = self.custom.get_cluster_custom_object(API_GROUP, API_VERSION, plural, name)
        meta = current.get("metadata") or {}
        if not any(o.get("uid") == owner_uid for o in meta.get("ownerReferences") or []):
            return None
        if current.get("spec") != body["spec"]:
            self.custom.patch_cluster_custom_object(
                API_GROUP, API_VERSION, plural, name, {"spec": body["spec"]}
            )
        return str(meta["uid"])

    # --- Events --------------------------------------------------------------------

    def namespace_event(
        self, namespace: str, type_: str, reason: str, message: str, count: int
    ) -> None:
        """Record an Event about a whole namespace, in it (tenants can read it there)."""
        self.event(
            ObjectRef("Namespace", "v1", namespace, namespace, ""), type_, reason, message, count
        )

    def event(self, ref: ObjectRef, type_: str, reason: str, message: str, count: int = 1) -> None:
        """Record an Event (best effort: a lost Event must not fail a reconcile)."""
        namespace = ref.namespace or "default"
        involved = {"kind": ref.kind, "apiVersion": ref.api_version, "name": ref.name}
        if ref.namespace is not None:
            involved["namespace"] = ref.namespace
        if ref.uid:
            involved["uid"] = ref.uid
        body = event_body(
            name=f"{ref.name}.{uuid.uuid4().hex[:16]}",
            namespace=namespace,
            involved=involved,
            type_=type_,
            reason=reason,
            message=message[:1024],
            component=self.component,
            count=count,
            now=datetime.datetime.now(datetime.UTC),
        )
        try:
            self.core.create_namespaced_event(namespace, body)
        except ApiException as e:
            log.warning(
                "could not record event %s on %s/%s: %s", reason, namespace, ref.name, e.reason
            )


def event_body(
    *,
    name: str,
    namespace: str,
    involved: dict[str, str],
    type_: str,
    reason: str,
    message: str,
    component: str,
    count: int,
    now: datetime.datetime,
) -> dict[str, Any]:
    """A core/v1 Event as the official client's CoreV1Event serialised (times as isoformat)."""
    return {
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": involved,
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": component,
        "firstTimestamp": now.isoformat(),
        "lastTimestamp": now.isoformat(),
        "count": count,
    }
