"""AWS error codes for status: the code as AWS gives it, also when the body came back as XML."""

import pytest

from cheiron.sources.ecr import _code_and_message


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"Code": "AccessDeniedException", "Message": "not allowed"}, "AccessDeniedException"),
        (
            {"Code": "403", "Message": "<Error><Code>InvalidClientTokenId</Code></Error>"},
            "InvalidClientTokenId",
        ),
        ({"Code": "500", "Message": "<html>oops</html>"}, "500"),
        ({}, "ClientError"),
    ],
)
def test_code(error: dict[str, str], code: str) -> None:
    assert _code_and_message(error)[0] == code
