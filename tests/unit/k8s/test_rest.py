"""cheiron.k8s.rest: the operator's own thin calls over the official client's transport."""

import datetime
import json
import subprocess
import sys
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ConflictException, NotFoundException
from kubernetes.client.rest import ApiException

from cheiron.k8s import rest
from cheiron.k8s.lease import LeaderElection
from cheiron.k8s.objects import Kube, event_body

RUN_PATH = (
    "cheiron.cli",
    "cheiron.operator",
    "cheiron.controllers.managers",
    "cheiron.controllers.watches",
    "cheiron.controllers.backup",
    "cheiron.webhooks.pods",
    "cheiron.runtime.caches",
    "cheiron.k8s.objects",
    "cheiron.k8s.lease",
    "cheiron.k8s.webhooks",
)
# kopf imports these two models (and V1ObjectMeta's managedFields item) for its own isinstance
# checks: a few hundred KiB, nothing like an API class.
KOPF_MODELS = {
    "kubernetes.client.models.v1_object_meta",
    "kubernetes.client.models.v1_owner_reference",
    "kubernetes.client.models.v1_managed_fields_entry",
}


def test_the_run_path_imports_no_generated_api_class_nor_model() -> None:
    # Importing CoreV1Api alone costs ~78 MiB of pydantic validators.
    code = (
        "import sys\n"
        f"for name in {RUN_PATH!r}: __import__(name)\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('kubernetes.client.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(done.stdout.split())
    assert "kubernetes.client.rest" in loaded  # the probe sees the client's modules
    assert not {m for m in loaded if m.startswith("kubernetes.client.api.")}
    models = {m for m in loaded if m.startswith("kubernetes.client.models.")}
    assert models <= KOPF_MODELS


class _Response:
    """What RESTClientObject.request returns: a RESTResponse over a urllib3 response."""

    def __init__(self, status: int, payload: Any) -> None:
        self.status = status
        self.reason = {200: "OK", 201: "Created", 404: "Not Found", 409: "Conflict"}[status]
        self.data: bytes | None = None
        self.response = self
        self.headers = {"content-type": "application/json"}
        self.body = b"" if payload is None else json.dumps(payload).encode()
        self.released = 0

    def read(self) -> bytes:
        self.data = self.body
        return self.data

    def release_conn(self) -> None:
        self.released += 1


class _Transport:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.answers: list[_Response] = []

    def request(self, method: str, url: str, **kwargs: Any) -> _Response:
        self.calls.append({"method": method, "url": url, **kwargs})
        return self.answers.pop(0) if self.answers else _Response(200, {"kind": "X"})


@pytest.fixture
def api() -> client.ApiClient:
    conf = client.Configuration(host="https://apiserver:6443")
    conf.api_key = {"authorization": "first"}
    conf.api_key_prefix = {"authorization": "Bearer"}
    api = client.ApiClient(conf)
    api.rest_client = _Transport()  # type: ignore[assignment]
    return api


def _transport(api: client.ApiClient) -> _Transport:
    transport = api.rest_client
    assert isinstance(transport, _Transport)
    return transport


def test_each_request_reads_the_token_again_through_the_refresh_hook(
    api: client.ApiClient,
) -> None:
    tokens = iter(["second", "third"])

    def refresh(conf: client.Configuration) -> None:
        conf.api_key["authorization"] = next(tokens)

    api.configuration.refresh_api_key_hook = refresh
    core = rest.CoreApi(api)
    core.read_namespaced_secret("pull", "team-a")
    core.read_namespaced_secret("pull", "team-a")
    calls = _transport(api).calls
    assert [c["headers"]["authorization"] for c in calls] == ["Bearer second", "Bearer third"]
    assert calls[0]["headers"]["Accept"] == "application/json"
    assert calls[0]["headers"]["User-Agent"] == api.user_agent
    assert calls[0]["url"] == "https://apiserver:6443/api/v1/namespaces/team-a/secrets/pull"


def test_list_keywords_become_the_apiservers_query(api: client.ApiClient) -> None:
    rest.CoreApi(api).list_pod_for_all_namespaces(
        label_selector="a=b,c in (d)",
        watch=True,
        allow_watch_bookmarks=True,
        resource_version="12",
        timeout_seconds=300,
        _request_timeout=(10, 330),
        _preload_content=False,
    )
    rest.CustomObjectsApi(api).list_namespaced_custom_object(
        "cheiron.anny.co", "v1alpha1", "team-a", "imagepullsecretmanagers", limit=2, _continue="t"
    )
    first, second = _transport(api).calls
    assert first["url"] == (
        "https://apiserver:6443/api/v1/pods?labelSelector=a%3Db%2Cc%20in%20%28d%29&watch=true"
        "&allowWatchBookmarks=true&resourceVersion=12&timeoutSeconds=300"
    )
    assert first["_request_timeout"] == (10, 330)
    assert second["url"] == (
        "https://apiserver:6443/apis/cheiron.anny.co/v1alpha1/namespaces/team-a/"
        "imagepullsecretmanagers?limit=2&continue=t"
    )
    with pytest.raises(TypeError):
        rest.CoreApi(api).list_namespace(pretty=True)


def test_patches_use_the_content_types_the_official_client_chose(api: client.ApiClient) -> None:
    core, apps, custom = rest.CoreApi(api), rest.AppsApi(api), rest.CustomObjectsApi(api)
    core.patch_namespaced_service_account("default", "ns", {"imagePullSecrets": []})
    apps.patch_namespaced_deployment("web", "ns", [{"op": "test", "path": "/x", "value": 1}])
    custom.patch_cluster_custom_object_status("g", "v1", "things", "one", {"status": {}})
    custom.patch_cluster_custom_object("g", "v1", "things", "one", {"spec": {}})
    kinds = [(c["method"], c["headers"]["Content-Type"]) for c in _transport(api).calls]
    assert kinds == [
        ("PATCH", "application/strategic-merge-patch+json"),
        ("PATCH", "application/json-patch+json"),
        ("PATCH", "application/merge-patch+json"),
        ("PATCH", "application/merge-patch+json"),
    ]
    assert _transport(api).calls[2]["url"].endswith("/apis/g/v1/things/one/status")


def test_a_failure_raises_the_official_exception_and_frees_the_connection(
    api: client.ApiClient,
) -> None:
    gone = _Response(404, {"kind": "Status", "reason": "NotFound"})
    _transport(api).answers = [gone]
    with pytest.raises(ApiException) as raised:
        rest.CoreApi(api).read_namespaced_secret("pull", "team-a")
    assert isinstance(raised.value, NotFoundException)
    assert (raised.value.status, raised.value.reason) == (404, "Not Found")
    assert '"NotFound"' in str(raised.value.body)
    assert gone.released == 1
    # Kube's callers see the same statuses as with the official API classes.
    _transport(api).answers = [_Response(404, None)]
    assert Kube(api).read_secret("team-a", "pull") is None
    _transport(api).answers = [_Response(409, None)]
    with pytest.raises(ConflictException):
        rest.CoreApi(api).create_namespaced_secret("team-a", {})


def test_a_preloaded_answer_is_decoded_and_a_streamed_one_left_open(
    api: client.ApiClient,
) -> None:
    listed, streamed = _Response(200, {"items": []}), _Response(200, None)
    _transport(api).answers = [listed, streamed]
    core = rest.CoreApi(api)
    assert core.list_namespace() == {"items": []}
    assert listed.released == 1
    assert core.list_namespace(watch=True, _preload_content=False) is streamed
    assert streamed.released == 0


def _official(model: Any) -> Any:
    return client.ApiClient().sanitize_for_serialization(model)


def test_an_event_is_the_json_the_official_model_sent() -> None:
    now = datetime.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
    model = client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="team-a.0123", namespace="team-a"),
        involved_object=client.V1ObjectReference(
            kind="Namespace", api_version="v1", name="team-a", namespace="team-a"
        ),
        type="Warning",
        reason="Failed",
        message="m",
        source=client.V1EventSource(component="cheiron"),
        reporting_component="cheiron",
        reporting_instance="cheiron",
        first_timestamp=now,
        last_timestamp=now,
        count=3,
    )
    body = event_body(
        name="team-a.0123",
        namespace="team-a",
        involved={"kind": "Namespace", "apiVersion": "v1", "name": "team-a", "namespace": "team-a"},
        type_="Warning",
        reason="Failed",
        message="m",
        component="cheiron",
        count=3,
        now=now,
    )
    assert body == _official(model)


def test_a_pull_secret_and_a_pod_deletion_send_the_official_json(api: client.ApiClient) -> None:
    kube = Kube(api)
    kube.create_pull_secret("team-a", "pull", b"{}", {"l": "1"}, {"a": "2"})
    kube.delete_pod("team-a", "web-0", "uid-1")
    create, delete = _transport(api).calls
    assert create["body"] == _official(
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="pull", namespace="team-a", labels={"l": "1"}, annotations={"a": "2"}
            ),
            type="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": "e30="},
        )
    )
    assert delete["body"] == _official(client.V1DeleteOptions(preconditions={"uid": "uid-1"}))
    assert (delete["method"], delete["headers"]["Content-Type"]) == ("DELETE", "application/json")


def test_the_lease_is_taken_over_and_released_as_plain_json(api: client.ApiClient) -> None:
    held = {
        "metadata": {"name": "cheiron", "namespace": "ops", "resourceVersion": "7"},
        "spec": {
            "holderIdentity": "other",
            "leaseDurationSeconds": 15,
            "acquireTime": "2025-01-01T00:00:00.000000Z",
            "renewTime": "2025-01-01T00:00:01.000000Z",
            "leaseTransitions": 2,
        },
    }
    now = [0.0]
    election = LeaderElection(api, "ops", "cheiron", "me", 15, clock=lambda: now[0])
    transport = _transport(api)
    transport.answers = [_Response(200, held)]
    assert not election.try_acquire_or_renew()  # just seen: the holder may still renew
    now[0] = 16.0
    transport.answers = [_Response(200, held), _Response(200, held)]
    assert election.try_acquire_or_renew()
    put = transport.calls[-1]
    assert put["method"] == "PUT"
    assert put["url"].endswith("/apis/coordination.k8s.io/v1/namespaces/ops/leases/cheiron")
    assert put["body"]["metadata"]["resourceVersion"] == "7"
    spec = put["body"]["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("me", 3)
    assert datetime.datetime.fromisoformat(spec["renewTime"]).tzinfo is not None
    mine = {**held, "spec": dict(spec)}
    transport.answers = [_Response(200, mine), _Response(200, mine)]
    election.release()
    released = transport.calls[-1]["body"]["spec"]
    assert "holderIdentity" not in released
    assert released["leaseTransitions"] == 3
