"""Every manifest under samples/ is valid for the models the CRDs come from."""

from pathlib import Path

import pytest
import yaml

from cheiron.api.models import (
    ClusterImageBackupSpec,
    ClusterImagePullSecretManagerSpec,
    ImagePullSecretManagerSpec,
)

SAMPLES = sorted((Path(__file__).parents[3] / "samples").glob("*.yaml"))
SPECS = {
    "ImagePullSecretManager": ImagePullSecretManagerSpec,
    "ClusterImagePullSecretManager": ClusterImagePullSecretManagerSpec,
    "ClusterImageBackup": ClusterImageBackupSpec,
}


def test_there_are_samples() -> None:
    assert len(SAMPLES) >= 3


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_is_valid(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        assert document["apiVersion"] == "cheiron.anny.co/v1alpha1"
        SPECS[document["kind"]].model_validate(document["spec"])
