"""ECR authorization tokens through boto3: the request's keys or its default chain, maybe a role.

Nothing here logs or raises with a key, a session token or an ECR password in the message.
"""

import base64
import datetime
import re
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cheiron.api.sources import EcrRequest, EcrToken

# Deadlines for every AWS call: a black-holed endpoint costs its manager seconds, not minutes
# (botocore's defaults: 60 s to connect, 60 s to read, 5 attempts).
CLIENT_CONFIG = Config(
    connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}
)


class EcrError(Exception):
    """GetAuthorizationToken (or AssumeRole) failed; `code` is AWS's error code."""

    def __init__(self, code: str, message: str) -> None:
        """Keep AWS's code apart: it goes into status, the message only into the log."""
        super().__init__(f"{code}: {message}")
        self.code = code


def _session(request: EcrRequest) -> boto3.session.Session:
    keys = request.keys
    if keys is not None:
        session = boto3.session.Session(
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            aws_session_token=keys.session_token,
            region_name=request.region,
        )
    else:
        session = boto3.session.Session(region_name=request.region)
    if request.role_arn is None:
        return session
    # STS at AWS (or $AWS_ENDPOINT_URL_STS, which botocore reads), never at the entry's ECR
    # endpoint: the request signed with the operator's identity goes nowhere else.
    sts = session.client("sts", config=CLIENT_CONFIG)
    creds = sts.assume_role(RoleArn=request.role_arn, RoleSessionName=request.session_name)[
        "Credentials"
    ]
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=request.region,
    )


_XML_CODE = re.compile(r"<Code>([A-Za-z0-9.]+)</Code>")


def _code_and_message(error: dict[str, Any]) -> tuple[str, str]:
    """AWS's error code; some endpoints (and proxies) answer a JSON API with an XML body.

    botocore then reports the HTTP status as the code and the XML as the message.
    """
    code, message = str(error.get("Code") or "ClientError"), str(error.get("Message") or "")
    if code.isdigit() and (match := _XML_CODE.search(message)):
        return match[1], f"HTTP {code}"
    return code, message


def fetch(request: EcrRequest) -> EcrToken:
    """One GetAuthorizationToken call for the request's account."""
    try:
        ecr = _session(request).client(
            "ecr", endpoint_url=request.endpoint_url, config=CLIENT_CONFIG
        )
        data = ecr.get_authorization_token(registryIds=[request.account_id])["authorizationData"][0]
    except ClientError as e:
        raise EcrError(*_code_and_message(e.response.get("Error", {}))) from None
    except BotoCoreError as e:
        raise EcrError(type(e).__name__, str(e)) from None
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    registry = str(data.get("proxyEndpoint", "")).removeprefix("https://") or (
        f"{request.account_id}.dkr.ecr.{request.region}.amazonaws.com"
    )
    expires = data["expiresAt"]
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=datetime.UTC)
    return EcrToken(registry, user, password, expires)
