"""What an ECS container instance offers and what a task reserves on it, as ECS counts them.

A container instance registers 1,024 CPU units per vCPU and the memory its operating system reports, which is less than
the instance type's memory: AWS's example is an m4.large with 8 GiB (8,192 MiB) that registers 7,985 MiB. Every type is
modelled with that share (7985/8192, about 97.5 %), less `ECS_RESERVED_MEMORY` when the agent's configuration sets it.
A task reserves its task-level cpu and memory when set, else the sum over its containers of `cpu` and of
`memoryReservation` (or `memory` when it has no reservation), as the ContainerDefinition reference says.

An awsvpc task on a container instance takes one elastic network interface of the instance's; the instance's primary
ENI is not available to tasks, so an instance holds at most its type's maximum network interfaces less one awsvpc tasks
(DescribeInstanceTypes' NetworkInfo.MaximumNetworkInterfaces, from moto's copy). ENI trunking, which raises that limit
on some types (not t2, t3 or t3a), is not modelled. Bridge and host mode tasks take no ENI.

Sources: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/memory-management.html,
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html,
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-networking-awsvpc.html,
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/AvailableIpPerENI.html
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from moto.ec2.models.instance_types import INSTANCE_TYPES as MOTO_INSTANCE_TYPES

CPU_UNITS_PER_VCPU = 1024
REGISTERED_MEMORY_SHARE = 7985 / 8192

# vCPUs and MiB of the instance types Stageflow's environments use; other types fall back to moto's copy of
# DescribeInstanceTypes.
INSTANCE_TYPES: dict[str, tuple[int, int]] = {
    "t2.micro": (1, 1024),
    "t2.small": (1, 2048),
    "t2.medium": (2, 4096),
    "t2.large": (2, 8192),
    "t3.nano": (2, 512),
    "t3.micro": (2, 1024),
    "t3.small": (2, 2048),
    "t3.medium": (2, 4096),
    "t3.large": (2, 8192),
    "t3.xlarge": (4, 16384),
    "t3.2xlarge": (8, 32768),
    "t3a.nano": (2, 512),
    "t3a.micro": (2, 1024),
    "t3a.small": (2, 2048),
    "t3a.medium": (2, 4096),
    "t3a.large": (2, 8192),
    "t3a.xlarge": (4, 16384),
    "t3a.2xlarge": (8, 32768),
    "m4.large": (2, 8192),
    "m5.large": (2, 8192),
    "m5.xlarge": (4, 16384),
    "m5.2xlarge": (8, 32768),
    "m5.4xlarge": (16, 65536),
    "c5.large": (2, 4096),
    "c5.xlarge": (4, 8192),
    "c5.2xlarge": (8, 16384),
}

_RESERVED_MEMORY = re.compile(r"ECS_RESERVED_MEMORY=(\d+)")
_VCPU = re.compile(r"^\s*([\d.]+)\s*vcpu\s*$", re.IGNORECASE)
_GB = re.compile(r"^\s*([\d.]+)\s*gb\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Resources:
    cpu: int
    memory: int

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.memory + other.memory)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpu - other.cpu, self.memory - other.memory)

    def covers(self, need: Resources) -> bool:
        return need.cpu <= self.cpu and need.memory <= self.memory


NOTHING = Resources(0, 0)


def instance_type_size(instance_type: str) -> tuple[int, int] | None:
    """vCPUs and MiB of an instance type; None for a type AWS does not have."""
    if instance_type in INSTANCE_TYPES:
        return INSTANCE_TYPES[instance_type]
    info = MOTO_INSTANCE_TYPES.get(instance_type)
    if info is None:
        return None
    return int(info["VCpuInfo"]["DefaultVCpus"]), int(info["MemoryInfo"]["SizeInMiB"])


def max_network_interfaces(instance_type: str) -> int | None:
    """The most network interfaces an instance of this type takes (moto's copy of DescribeInstanceTypes'
    NetworkInfo.MaximumNetworkInterfaces); None when it is not known."""
    info = MOTO_INSTANCE_TYPES.get(instance_type) or {}
    value = (info.get("NetworkInfo") or {}).get("MaximumNetworkInterfaces")
    return int(value) if value else None


def awsvpc_task_limit(instance_type: str) -> int | None:
    """How many awsvpc tasks an instance of this type holds: one ENI each, less the instance's primary ENI (no ENI
    trunking); None when the type's ENI limit is not known."""
    maximum = max_network_interfaces(instance_type)
    return None if maximum is None else max(0, maximum - 1)


def registered_resources(instance_type: str, agent_config: str) -> Resources:
    """What the ECS agent registers for an instance of this type with this user data."""
    size = instance_type_size(instance_type)
    if size is None:
        return NOTHING
    vcpus, mib = size
    reserved = _RESERVED_MEMORY.search(agent_config)
    memory = math.floor(mib * REGISTERED_MEMORY_SHARE) - (int(reserved.group(1)) if reserved else 0)
    return Resources(vcpus * CPU_UNITS_PER_VCPU, max(0, memory))


def _cpu_units(value: Any) -> int:
    vcpus = _VCPU.match(str(value))
    return int(float(vcpus.group(1)) * CPU_UNITS_PER_VCPU) if vcpus else int(value)


def _memory_mib(value: Any) -> int:
    gigabytes = _GB.match(str(value))
    return int(float(gigabytes.group(1)) * 1024) if gigabytes else int(value)


def task_reservation(task_definition: Any) -> Resources:
    """The CPU units and MiB a task of this definition reserves on its container instance."""
    containers = task_definition.container_definitions
    cpu = task_definition.cpu
    memory = task_definition.memory
    return Resources(
        _cpu_units(cpu) if cpu else sum(int(c.get("cpu") or 0) for c in containers),
        _memory_mib(memory)
        if memory
        else sum(int(c.get("memoryReservation") or c.get("memory") or 0) for c in containers),
    )


def _resource_list_value(resources: list[dict[str, Any]], name: str) -> int:
    return next(int(r.get("integerValue") or 0) for r in resources if r.get("name") == name)


def _set_resource_list_value(resources: list[dict[str, Any]], name: str, value: int) -> None:
    next(r for r in resources if r.get("name") == name)["integerValue"] = value


def registered(container_instance: Any) -> Resources:
    listed = container_instance.registered_resources
    return Resources(_resource_list_value(listed, "CPU"), _resource_list_value(listed, "MEMORY"))


def register(container_instance: Any, resources: Resources) -> None:
    """Set what DescribeContainerInstances shows as registered (and, with nothing running yet, remaining)."""
    for listed in (container_instance.registered_resources, container_instance.remaining_resources):
        _set_resource_list_value(listed, "CPU", resources.cpu)
        _set_resource_list_value(listed, "MEMORY", resources.memory)


def show_remaining(container_instance: Any, remaining: Resources) -> None:
    _set_resource_list_value(container_instance.remaining_resources, "CPU", remaining.cpu)
    _set_resource_list_value(container_instance.remaining_resources, "MEMORY", remaining.memory)


def moto_requirements(need: Resources) -> dict[str, Any]:
    """The form moto's StopTask gives back to the container instance."""
    return {"CPU": need.cpu, "MEMORY": need.memory, "PORTS": [], "PORTS_UDP": []}


@dataclass
class Slot:
    """One container instance as the scheduler sees it while placing a service's tasks."""

    instance: Any
    free: Resources
    zone: str
    service_tasks: int
    # ENIs left for awsvpc tasks; None when the instance type's limit is not known (no limit is applied)
    free_enis: int | None = None

    def lacks_eni(self, eni: bool) -> bool:
        return eni and self.free_enis is not None and self.free_enis < 1

    def fits(self, need: Resources, eni: bool) -> bool:
        return self.free.covers(need) and not self.lacks_eni(eni)

    def take(self, need: Resources, eni: bool = False) -> None:
        self.free = self.free - need
        if eni and self.free_enis is not None:
            self.free_enis -= 1
        self.service_tasks += 1


def place(slots: list[Slot], need: Resources, eni: bool = False) -> Slot | None:
    """The slot a service's default spread (by Availability Zone, then by instance) puts the task on; None when the
    task fits on no instance. `eni`: the task is an awsvpc task and needs a free ENI."""
    fitting = [slot for slot in slots if slot.fits(need, eni)]
    if not fitting:
        return None
    per_zone: Counter[str] = Counter()
    for slot in slots:
        per_zone[slot.zone] += slot.service_tasks
    return min(fitting, key=lambda slot: (per_zone[slot.zone], slot.service_tasks))


def closest(slots: list[Slot], need: Resources, eni: bool = False) -> tuple[Slot, str]:
    """For a task that fits on none of the slots: the instance that comes nearest (the least memory missing, then the
    least CPU, then a free ENI), and what ECS's event says of it: "has insufficient memory available", "has
    insufficient CPU units available" or 'encountered error "RESOURCE:ENI"'."""
    nearest = min(
        slots,
        key=lambda slot: (
            max(0, need.memory - slot.free.memory),
            max(0, need.cpu - slot.free.cpu),
            slot.lacks_eni(eni),
        ),
    )
    if need.memory > nearest.free.memory:
        return nearest, "has insufficient memory available"
    if need.cpu > nearest.free.cpu:
        return nearest, "has insufficient CPU units available"
    return nearest, 'encountered error "RESOURCE:ENI"'
