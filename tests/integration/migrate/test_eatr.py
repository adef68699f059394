"""eatr → cheiron on the real control plane: labelled namespaces and eatr's key Secrets."""

import base64

import yaml
from kubernetes import client

from tests.integration.migrate.support import Migrate, managers_named, secret_text
from tests.support.namespaces import fresh_namespace

HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
ACCESS_KEY = "AKIAEATRNEVERSHOWN00"
SECRET_KEY = "eatr-secret-access-key-never-shown"


def test_labelled_namespaces_and_keys_become_a_manager(
    migrate: Migrate, core: client.CoreV1Api, namespace: str
) -> None:
    # `namespace` plays eatr's host namespace (ci-cd); its Secret as eatr's script writes it.
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=f"eatr-aws-credentials-{HOST}"),
            string_data={
                "aws_access_key_id": ACCESS_KEY,
                "aws_region": "eu-west-1",
                "aws_secret_access_key": SECRET_KEY,
            },
        ),
    )
    with fresh_namespace(core, "eatr-labelled") as labelled:
        core.patch_namespace(labelled, {"metadata": {"labels": {HOST: "true"}}})
        output = migrate.run("--from", "eatr", "--eatr-namespace", namespace)
        explicit = migrate.run(
            "--from", "eatr", "--eatr-namespace", namespace, "--eatr-targeting", "explicit"
        )
        shown = migrate.run_commands(output)
    for value in (ACCESS_KEY, SECRET_KEY):
        for text in (output, explicit, shown):
            assert value not in text
            assert base64.b64encode(value.encode()).decode() not in text
    assert secret_text(core, namespace, f"cheiron-ecr-{HOST}") == {
        "accessKeyID": ACCESS_KEY,
        "secretKey": SECRET_KEY,
        "region": "eu-west-1",
    }
    assert "--eatr-namespace-labels" in output
    (stored,) = migrate.apply(output, ["eatr"])
    (entry,) = stored["spec"]["secrets"]
    assert entry == {
        "name": HOST,
        "ecr": {
            "registry": HOST,
            "credentialsSecretRef": {"name": f"cheiron-ecr-{HOST}", "namespace": namespace},
        },
    }
    assert stored["spec"]["target"]["namespaces"]["names"] == []
    per_registry = managers_named(explicit, f"eatr-{HOST}")
    assert per_registry["spec"]["target"]["namespaces"]["labels"] == [
        {"matchLabels": {HOST: "true"}, "matchExpressions": []}
    ]
    migrate.apply(explicit, [f"eatr-{HOST}"])
    assert yaml.safe_load_all(explicit)
