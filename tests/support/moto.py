"""moto's server mode as a real HTTP endpoint for ECR, STS and IAM, with request signing on.

Authentication is enforced (`INITIAL_NO_AUTH_ACTION_COUNT`): the first calls create an IAM
user with an ECR policy, after which wrong keys get AWS's own error codes.
"""

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from cheiron.devcluster.cluster import free_port
from tests.support.poll import eventually
from tests.support.process import Background, answers

ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
# The password moto hands out for an account's GetAuthorizationToken.
TOKEN_PASSWORD = f"{ACCOUNT}-auth-token"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ecr-puller"
# create_user, create_access_key, put_user_policy, create_role, put_role_policy: the setup.
_SETUP_CALLS = 5
_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/ecr-puller"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# werkzeug's access log: one line per request answered.
_ACCESS_LINE = re.compile(r'"(?:GET|POST|PUT|DELETE|HEAD) [^"]* HTTP/[0-9.]+" [0-9]{3}')
_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ecr:*", "sts:*"], "Resource": "*"}],
}


@dataclass
class MotoServer(Background):
    """`python -m moto.server` on a free loopback port, and an IAM user allowed to use ECR."""

    log_path: Path
    url: str = ""
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    stop_timeout = 10.0

    def start(self) -> None:
        """Start the server, wait for it, and create the IAM user."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.launch(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_CALLS)},
        )
        eventually(lambda: answers(f"{self.url}/moto-api/"), timeout=60, what="moto server")
        iam = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="ecr-puller")
        key = iam.create_access_key(UserName="ecr-puller")["AccessKey"]
        iam.put_user_policy(
            UserName="ecr-puller", PolicyName="ecr", PolicyDocument=json.dumps(_POLICY)
        )
        iam.create_role(RoleName="ecr-puller", AssumeRolePolicyDocument=json.dumps(_TRUST))
        iam.put_role_policy(
            RoleName="ecr-puller", PolicyName="ecr", PolicyDocument=json.dumps(_POLICY)
        )
        self.access_key_id, self.secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]

    def requests(self) -> int:
        """How many HTTP requests the server has answered so far (its access log's lines)."""
        return len(_ACCESS_LINE.findall(self.logs()))
