"""The keys the caches keep: exactly those some selector reads."""

from cheiron.api.models import ClusterImagePullSecretManagerSpec, ImagePullSecretManagerSpec
from cheiron.api.observed import ManagerInfo, ManagerKind, account_info
from cheiron.targeting import Interest, interest


def _cluster(spec: dict[str, object]) -> ManagerInfo:
    model = ClusterImagePullSecretManagerSpec.model_validate(spec)
    return ManagerInfo(ManagerKind.CLUSTER, "c", None, "uid-c", 1, model)


def _namespaced(spec: dict[str, object]) -> ManagerInfo:
    model = ImagePullSecretManagerSpec.model_validate(spec)
    return ManagerInfo(ManagerKind.NAMESPACED, "n", "team", "uid-n", 1, model)


def test_keys_come_from_every_selector_that_reads_labels_or_annotations() -> None:
    cluster = _cluster(
        {
            "serviceAccountSelector": {
                "labelSelector": {
                    "matchLabels": {"pulls": "yes"},
                    "matchExpressions": [{"key": "tier", "operator": "Exists"}],
                }
            },
            "target": {
                "namespacesWithPods": {
                    "labels": [{"matchLabels": {"app": "api"}}],
                    "annotations": [{"matchAnnotations": {"example.com/pull": "true"}}],
                },
                # Namespace labels come from the Namespace informer, kept whole: not here.
                "namespaces": {"labels": [{"matchLabels": {"env": "prod"}}]},
            },
        }
    )
    plain = _namespaced({"secrets": []})
    found = interest([cluster, plain], [{"app.kubernetes.io/name": "legacy"}])
    assert found == Interest(
        account_labels=frozenset({"pulls", "tier"}),
        pod_labels=frozenset({"app", "app.kubernetes.io/name"}),
        pod_annotations=frozenset({"example.com/pull"}),
    )
    assert found.covers(Interest(account_labels=frozenset({"tier"})))
    assert not found.covers(Interest(pod_labels=frozenset({"other"})))


def test_no_selector_means_no_label_is_kept() -> None:
    assert interest([_namespaced({"secrets": []})]) == Interest()


def test_a_snapshot_keeps_only_the_keys_asked_for() -> None:
    labels = {f"tenant-{i}": "x" for i in range(5000)} | {"pulls": "yes"}
    annotations = {"cheiron.anny.co/reconciled": "true", "example.com/pull": "true", "big": "y"}
    body = {
        "metadata": {"namespace": "t", "name": "p", "labels": labels, "annotations": annotations}
    }
    pod = account_info(
        body,
        pod=True,
        label_keys=frozenset({"pulls"}),
        annotation_keys=frozenset({"example.com/pull"}),
    )
    assert pod.labels == {"pulls": "yes"}
    assert pod.object_annotations == {"example.com/pull": "true"}
    # cheiron's own annotations are the protocol: always kept.
    assert pod.annotations == {"cheiron.anny.co/reconciled": "true"}
    assert len(account_info(body).labels) == 5001  # no filter: a one-off read keeps all
