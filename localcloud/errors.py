"""The error answer of each AWS protocol, shaped so botocore raises a ClientError with its code and message.

JSON protocols (ECS, ECR, DynamoDB, CloudWatch Logs, the rest-json services) answer `{"__type", "message"}`; EC2 a
`<Response><Errors>`; S3 an `<Error>` that may name the bucket; the other query protocols (ELBv2, RDS, IAM ...) an
`<ErrorResponse>`. Throttling (server.py) and strictness (strict.py) both answer through here.
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any
from xml.sax.saxutils import escape

import botocore.exceptions
import botocore.session

Answer = tuple[str, list[tuple[str, str]], bytes]


@functools.cache
def _protocol(signing_name: str) -> str:
    """The protocol of the service signed as `signing_name`, when botocore's model has that name."""
    try:
        return botocore.session.get_session().get_service_model(signing_name).metadata.get("protocol", "")
    except botocore.exceptions.UnknownServiceError:
        return ""


def speaks_json(service: str, environ: dict[str, Any]) -> bool:
    return "json" in environ.get("CONTENT_TYPE", "") or _protocol(service) == "rest-json"


def _elements(values: dict[str, str]) -> str:
    return "".join(f"<{name}>{escape(value)}</{name}>" for name, value in values.items())


def error_response(
    service: str,
    environ: dict[str, Any],
    status: str,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
) -> Answer:
    """`status` is the HTTP status line ("400 Bad Request"); `fields` are extra elements of an S3 error."""
    request_id = str(uuid.uuid4())
    if speaks_json(service, environ):
        body = json.dumps({"__type": code, "message": message}).encode()
        content_type = environ.get("CONTENT_TYPE", "")
        headers = [
            ("Content-Type", content_type if "json" in content_type else "application/x-amz-json-1.1"),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", request_id),
        ]
        return status, headers, body
    error = _elements({"Code": code, "Message": message})
    if service == "ec2":
        body = f"<Response><Errors><Error>{error}</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        return status, [("Content-Type", "text/xml")], body.encode()
    if service == "s3":
        body = f"<Error>{error}{_elements(fields or {})}<RequestId>{request_id}</RequestId></Error>"
        return status, [("Content-Type", "application/xml")], body.encode()
    body = f"<ErrorResponse><Error><Type>Sender</Type>{error}</Error><RequestId>{request_id}</RequestId>"
    body += "</ErrorResponse>"
    return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()
