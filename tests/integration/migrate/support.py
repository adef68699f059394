"""Running `cheiron migrate` on the real control plane, the commands it prints, and its output."""

import base64
import os
import subprocess
import sys
from collections.abc import Collection
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron import API_GROUP, API_VERSION
from cheiron.devcluster import ControlPlane
from tests.support import tools


class Migrate:
    """`cheiron migrate` against the session's control plane, and its output applied."""

    def __init__(self, plane: ControlPlane, custom: client.CustomObjectsApi) -> None:
        self.kubeconfig = plane.kubeconfig_path
        self.custom = custom
        self.created: list[tuple[str | None, str, str]] = []

    def run(self, *args: str) -> str:
        """The output of `cheiron migrate ARGS` (stderr must be empty)."""
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cheiron",
                "migrate",
                "--kubeconfig",
                str(self.kubeconfig),
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        return done.stdout

    def commands(self, output: str) -> list[str]:
        """The commands the output tells to run first."""
        lines = output.splitlines()
        return [line.removeprefix("#   ") for line in lines if line.startswith("#   kubectl ")]

    def run_commands(self, output: str) -> str:
        """Run each printed command in a shell, as a user would; what they printed.

        The shell finds the control plane's kubectl; what it prints must hold no secret either.
        """
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{tools.kubectl().parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        shown = ""
        for command in self.commands(output):
            done = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command],  # noqa: S607
                capture_output=True,
                text=True,
                check=False,
                env=env,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            shown += done.stdout + done.stderr
        return shown

    def apply(self, output: str, names: Collection[str] = ()) -> list[dict[str, Any]]:
        """Create the managers of the output (those named, or all) through the API.

        The apiserver checks them against cheiron's CRDs: schema and CEL rules.
        """
        created = []
        for doc in (d for d in yaml.safe_load_all(output) if d):
            if names and doc["metadata"]["name"] not in names:
                continue
            assert doc["apiVersion"] == f"{API_GROUP}/{API_VERSION}"
            namespace = doc["metadata"].get("namespace")
            plural = doc["kind"].lower() + "s"
            if namespace:
                body = self.custom.create_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, plural, doc
                )
            else:
                body = self.custom.create_cluster_custom_object(API_GROUP, API_VERSION, plural, doc)
            self.created.append((namespace, plural, doc["metadata"]["name"]))
            created.append(body)
        return created

    def delete_created(self) -> None:
        """Delete the managers `apply` created (no operator ran: no finalizer holds them)."""
        for namespace, plural, name in self.created:
            try:
                if namespace:
                    self.custom.delete_namespaced_custom_object(
                        API_GROUP, API_VERSION, namespace, plural, name
                    )
                else:
                    self.custom.delete_cluster_custom_object(API_GROUP, API_VERSION, plural, name)
            except ApiException as e:
                if e.status != 404:
                    raise


def docs(output: str) -> list[dict[str, Any]]:
    """The objects of an output, without its comments."""
    return [d for d in yaml.safe_load_all(output) if d]


def managers_named(output: str, name: str) -> dict[str, Any]:
    """The one manager of that name in an output."""
    (found,) = [d for d in docs(output) if d["metadata"]["name"] == name]
    return found


def secret_text(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, str]:
    """A Secret's data, decoded."""
    secret = core.read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
