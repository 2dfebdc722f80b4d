"""Whether a task's network reaches what it needs before it runs: its image registries and the services it reads secrets
from.

A task pulls from the subnet its ENI is in (awsvpc) or from its container instance's subnet (bridge and host mode).
That subnet's route table (its explicit association, else the VPC's main table) decides the way out:

* a 0.0.0.0/0 route to an internet gateway attached to the VPC, when the task (Fargate with assignPublicIp ENABLED)
  or its instance has a public IP; awsvpc tasks on EC2 never get one;
* a 0.0.0.0/0 route to an available public NAT gateway;
* for ECR images only: interface endpoints for com.amazonaws.<region>.ecr.dkr and .ecr.api in the VPC (with private
  DNS, the default) and a gateway endpoint for com.amazonaws.<region>.s3 on that route table, where the layers are;
* for Secrets Manager and Systems Manager: an interface endpoint for com.amazonaws.<region>.secretsmanager or .ssm.

Without one the pull or the call times out and ECS stops the task with the error it reports.

Sources: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html,
https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html,
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html,
https://docs.aws.amazon.com/vpc/latest/userguide/default-vpc.html
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any

from moto.ec2.models import EC2Backend

ANYWHERE = "0.0.0.0/0"
_ECR_REGISTRY = re.compile(r"^\d{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
DOCKER_HUB = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"


@dataclass(frozen=True)
class NetworkPath:
    """Where a task's traffic leaves from."""

    ec2: EC2Backend  # of the task's region
    subnet_id: str
    public_ip: bool

    @property
    def region(self) -> str:
        return str(self.ec2.region_name)


@dataclass(frozen=True)
class ImageReference:
    """An image name as the container runtime resolves it (docker.io/library/... for short Docker Hub names)."""

    registry: str
    repository: str
    reference: str

    @classmethod
    def parse(cls, image: str) -> ImageReference:
        name, _at, digest = image.partition("@")
        first, _slash, rest = name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, rest
        else:
            registry, path = DOCKER_HUB, name
            if "/" not in path:
                path = f"library/{path}"
        repository, tag = path.rsplit(":", 1) if ":" in path.rsplit("/", 1)[-1] else (path, "")
        return cls(registry, repository, digest or tag or "latest")

    @property
    def ref(self) -> str:
        separator = "@" if self.reference.startswith("sha256:") else ":"
        return f"{self.registry}/{self.repository}{separator}{self.reference}"

    @property
    def host(self) -> str:
        return DOCKER_HUB_HOST if self.registry == DOCKER_HUB else self.registry

    @property
    def ecr_region(self) -> str | None:
        match = _ECR_REGISTRY.match(self.registry)
        return match.group("region") if match else None


def awsvpc_path(
    ec2: EC2Backend, subnet_id: str | None, launch_type: str | None, awsvpc: dict[str, Any]
) -> NetworkPath | None:
    """An awsvpc task's path: its ENI's subnet, with a public IP only on Fargate with assignPublicIp ENABLED."""
    public = launch_type == "FARGATE" and awsvpc.get("assignPublicIp") == "ENABLED"
    return NetworkPath(ec2, subnet_id, public) if subnet_id else None


def instance_path(ec2: EC2Backend, instance_id: str) -> NetworkPath | None:
    """A bridge or host mode task's path: its container instance's subnet and public IP."""
    instance = ec2.get_instance(instance_id)
    return NetworkPath(ec2, instance.subnet_id, bool(instance.public_ip)) if instance.subnet_id else None


def _address(host: str) -> str:
    """A stable public-looking address for a host name: the address the timeout message names."""
    digest = zlib.crc32(host.encode())
    return f"52.{(digest >> 16) & 255}.{(digest >> 8) & 255}.{digest & 255}"


def _route_table(path: NetworkPath) -> Any | None:
    subnet = path.ec2.get_subnet(path.subnet_id)
    tables = [t for t in path.ec2.route_tables.values() if t.vpc_id == subnet.vpc_id]
    explicit = next((t for t in tables if path.subnet_id in t._associations.values()), None)
    return explicit or next((t for t in tables if t.main_association_id is not None), None)


def _default_routes(path: NetworkPath) -> list[Any]:
    table = _route_table(path)
    return [r for r in table.routes if r.destination_cidr_block == ANYWHERE] if table else []


def _internet_gateway_route(route: Any, vpc_id: str) -> bool:
    gateway = route.gateway
    return bool(gateway is not None and gateway.id.startswith("igw-") and gateway.vpc and gateway.vpc.id == vpc_id)


def _nat_gateway_route(route: Any) -> bool:
    nat = route.nat_gateway
    return bool(nat is not None and nat.state == "available" and nat.connectivity_type != "private")


def reaches_internet(path: NetworkPath) -> bool:
    vpc_id = path.ec2.get_subnet(path.subnet_id).vpc_id
    for route in _default_routes(path):
        if _nat_gateway_route(route) or (path.public_ip and _internet_gateway_route(route, vpc_id)):
            return True
    return False


def _endpoints(path: NetworkPath, service: str, endpoint_type: str) -> list[Any]:
    vpc_id = path.ec2.get_subnet(path.subnet_id).vpc_id
    name = f"com.amazonaws.{path.region}.{service}"
    return [
        e
        for e in path.ec2.vpc_end_points.values()
        if e.vpc_id == vpc_id
        and e.service_name == name
        and e.state == "available"
        and (e.vpc_endpoint_type or "Gateway").lower() == endpoint_type
    ]


def has_interface_endpoint(path: NetworkPath, service: str) -> bool:
    """An interface endpoint for the service in the VPC, whose private DNS name (on unless turned off) the task
    resolves instead of the public one."""
    return any(e.private_dns_enabled is not False for e in _endpoints(path, service, "interface"))


def has_gateway_endpoint(path: NetworkPath, service: str) -> bool:
    table = _route_table(path)
    return table is not None and any(table.id in e.route_table_ids for e in _endpoints(path, service, "gateway"))


def reaches_service(path: NetworkPath, service: str) -> bool:
    """Whether an AWS service's regional API (secretsmanager, ssm ...) answers the task."""
    return reaches_internet(path) or has_interface_endpoint(path, service)


def timeout(method: str, url: str, host: str) -> str:
    return f'{method} "{url}": dial tcp {_address(host)}:443: i/o timeout'


def can_pull(path: NetworkPath, image: ImageReference) -> bool:
    if reaches_internet(path):
        return True
    return (
        image.ecr_region == path.region
        and has_interface_endpoint(path, "ecr.dkr")
        and has_interface_endpoint(path, "ecr.api")
        and has_gateway_endpoint(path, "s3")
    )


def pull_failure(path: NetworkPath, images: list[str]) -> str | None:
    """The stopped reason of a task that cannot pull one of its images; None when it can pull them all."""
    for image in images:
        ref = ImageReference.parse(image)
        if not can_pull(path, ref):
            url = f"https://{ref.host}/v2/{ref.repository}/manifests/{ref.reference}"
            return (
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
                f'failed to resolve ref "{ref.ref}": failed to do request: {timeout("Head", url, ref.host)}'
            )
    return None


def install_default_vpc_internet() -> None:
    """AWS's default VPC comes with an internet gateway and a 0.0.0.0/0 route to it in its main route table; moto's
    has neither, so instances launched into it could not pull images as they do on AWS."""
    original = EC2Backend.create_default_vpc
    if getattr(original, "_lc_routed", False):
        return

    def create_default_vpc(backend: EC2Backend) -> Any:
        vpc = original(backend)
        gateway = backend.create_internet_gateway()
        backend.attach_internet_gateway(gateway.id, vpc.id)
        main = next(t for t in backend.route_tables.values() if t.vpc_id == vpc.id and t.main_association_id)
        backend.create_route(main.id, ANYWHERE, gateway_id=gateway.id)
        return vpc

    create_default_vpc._lc_routed = True  # type: ignore[attr-defined]
    EC2Backend.create_default_vpc = create_default_vpc
