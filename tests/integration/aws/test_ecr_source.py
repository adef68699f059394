"""cheiron.sources.ecr against moto's server over HTTP: keys, the default chain, roles, errors."""

import datetime

import pytest

from cheiron.api.sources import AwsKeys, EcrRequest
from cheiron.devcluster.cluster import free_port
from cheiron.sources.ecr import EcrError, fetch
from tests.support.moto import ACCOUNT, REGION, REGISTRY, ROLE_ARN, TOKEN_PASSWORD, MotoServer


def test_static_keys_get_a_token_for_the_registry(moto: MotoServer) -> None:
    token = fetch(
        EcrRequest(
            ACCOUNT, REGION, AwsKeys(moto.access_key_id, moto.secret_access_key), None, moto.url
        )
    )
    assert token.registry == REGISTRY
    assert token.username == "AWS"
    assert token.password == TOKEN_PASSWORD
    assert token.expires_at.tzinfo is not None
    assert TOKEN_PASSWORD not in repr(token)


def test_default_chain_and_endpoint_from_the_environment(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_access_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", moto.url)
    token = fetch(EcrRequest(ACCOUNT, REGION))
    assert token.password == TOKEN_PASSWORD


def test_assumed_role(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto.url)
    token = fetch(
        EcrRequest(
            ACCOUNT,
            REGION,
            AwsKeys(moto.access_key_id, moto.secret_access_key),
            ROLE_ARN,
            moto.url,
        )
    )
    assert token.registry == REGISTRY


def test_wrong_keys_give_aws_error_code_without_the_secret(moto: MotoServer) -> None:
    with pytest.raises(EcrError) as caught:
        fetch(
            EcrRequest(
                ACCOUNT, REGION, AwsKeys("AKIAWRONGWRONGWRONG0", "not-the-secret"), None, moto.url
            )
        )
    assert caught.value.code == "InvalidClientTokenId"
    assert "not-the-secret" not in str(caught.value)


def test_unreachable_endpoint_is_an_ecr_error() -> None:
    with pytest.raises(EcrError) as caught:
        fetch(
            EcrRequest(
                ACCOUNT,
                REGION,
                AwsKeys("AKIAEXAMPLE", "s"),
                None,
                f"http://127.0.0.1:{free_port()}",
            )
        )
    assert caught.value.code == "EndpointConnectionError"


def test_expiry_is_timezone_aware(moto: MotoServer) -> None:
    token = fetch(
        EcrRequest(
            ACCOUNT, REGION, AwsKeys(moto.access_key_id, moto.secret_access_key), None, moto.url
        )
    )
    assert token.expires_at.utcoffset() == datetime.timedelta(0)
