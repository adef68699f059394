"""cheiron: a Kubernetes operator that delivers container-registry credentials to workloads."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cheiron")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

API_GROUP = "cheiron.anny.co"
API_VERSION = "v1alpha1"
