"""ECS service deployments, tasks and load-balancer targets, as ECS runs them.

moto's ECS keeps the deployment a service was created with forever and starts no tasks for it. This module replaces
that with the rolling-update life cycle AWS documents:

* CreateService, and UpdateService with a new task definition or forceNewDeployment, start a PRIMARY deployment
  IN_PROGRESS; the previous PRIMARY becomes ACTIVE.
* Tasks roll as minimumHealthyPercent and maximumPercent allow: new tasks start while the service is under
  maximumPercent and, on EC2, a container instance has the CPU and memory free and, for an awsvpc task, an ENI
  (capacity.py); a task is healthy once it has run for the rollout time; old tasks stop down to what
  minimumHealthyPercent keeps (with 0 all at once), which makes room for more new ones. The PRIMARY is COMPLETED
  when all its tasks are healthy; the ACTIVE deployments are then gone.
* A task starts only if it can fetch its secrets with its execution role (task_secrets.py) and pull its images from its
  network (reach.py); otherwise it stops with ECS's error and stopCode TaskFailedToStart, and counts as a failed task.
* A release marked unhealthy fails its health checks. With the deployment circuit breaker on, failed tasks up to the
  threshold end the deployment FAILED and, with rollback, ECS starts a new deployment of the last COMPLETED task
  definition; without it ECS keeps trying.
* Tasks exist as ECS tasks (ListTasks by service, DescribeTasks) and as targets of the service's target groups (ip for
  awsvpc, instance + host port otherwise).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ecs import models as ecs_models
from moto.ecs.models import EC2ContainerServiceBackend, Task, ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup, elbv2_backends
from moto.moto_api import state_manager

from . import capacity, reach, task_secrets
from .capacity import NOTHING, Resources, Slot
from .faults import Faults

DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}
FIRST_DYNAMIC_HOST_PORT = 32768
TROUBLESHOOTING = "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
SCHEDULER_STOP = "ServiceSchedulerInitiated"
FAILED_TO_START = "TaskFailedToStart"


@dataclass
class Settings:
    rollout_seconds: float = 3.0


@dataclass
class Deployment:
    id: str
    task_definition: str
    desired: int
    started: float
    created_at: Any
    launch_type: str | None
    network_configuration: dict[str, Any] | None
    status: str = "PRIMARY"
    rollout_state: str = "IN_PROGRESS"
    reason: str = ""
    failed_tasks: int = 0
    tasks: list[Task] = field(default_factory=list)
    updated_at: Any = None
    # The last stall (a task it could not place) written to the service's events: each is written once, not on every
    # look, until a task is placed again.
    stall_reported: str = ""
    impaired_reported: bool = False

    def as_api(self) -> dict[str, Any]:
        running = sum(1 for t in self.tasks if t.last_status == "RUNNING")
        pending = sum(1 for t in self.tasks if t.last_status == "PENDING")
        if self.rollout_state == "IN_PROGRESS" and not self.tasks:
            pending = self.desired
        return {
            "id": self.id,
            "status": self.status,
            "taskDefinition": self.task_definition,
            "desiredCount": self.desired,
            "pendingCount": pending,
            "runningCount": running,
            "failedTasks": self.failed_tasks,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at or self.created_at,
            "launchType": self.launch_type,
            "networkConfiguration": self.network_configuration,
            "rolloutState": self.rollout_state,
            "rolloutStateReason": self.reason,
        }

    def prune(self) -> None:
        """Forget stopped tasks (DescribeTasks still finds them)."""
        self.tasks = live(self.tasks)


@dataclass
class InstanceUse:
    """What the live tasks on one container instance take, and how many of them belong to the service being placed."""

    reserved: Resources = NOTHING
    enis: int = 0
    running: int = 0
    pending: int = 0
    service_tasks: int = 0


def live(tasks: list[Task]) -> list[Task]:
    return [t for t in tasks if t.last_status != "STOPPED"]


def failure_threshold(desired: int) -> int:
    """The deployment circuit breaker's failed-task threshold: half the desired count, at least 3, at most 200."""
    return min(200, max(3, math.ceil(desired * 0.5)))


def _configuration(service: Any, key: str) -> Any:
    return (service.deployment_configuration or {}).get(key, DEFAULT_DEPLOYMENT_CONFIGURATION[key])


def _takes_eni(task: Task) -> bool:
    """Whether a task holds an ENI of its own (awsvpc, moto's RunTask tasks too)."""
    return any(attachment.get("type") == "ElasticNetworkInterface" for attachment in task.attachments)


def _reservation(task: Task) -> Resources:
    """What a task holds on its container instance (moto's own RunTask tasks carry moto's reckoning)."""
    requirements = task.resource_requirements or {}
    return Resources(int(requirements.get("CPU") or 0), int(requirements.get("MEMORY") or 0))


class EcsEmulator:
    """Owns the patched moto behaviour; one per process (moto's backends are global)."""

    def __init__(self, faults: Faults, settings: Settings) -> None:
        self.faults = faults
        self.settings = settings
        # (target group ARN, target id, port) -> task; used to answer DescribeTargetHealth
        self.targets: dict[tuple[str, str, int], Task] = {}

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _new_deployment_id() -> str:
        return "ecs-svc/" + str(uuid.uuid4().int)[:19]

    @staticmethod
    def _event(service: Any, message: str) -> None:
        service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": utcnow(), "message": message})
        del service.events[100:]

    def _stalled(self, service: Any, dep: Deployment, message: str) -> None:
        if dep.stall_reported != message:
            self._event(service, message)
            dep.stall_reported = message

    def _images(self, backend: EC2ContainerServiceBackend, td_arn: str) -> list[str]:
        td = backend.describe_task_definition(td_arn)
        return [c.get("image", "") for c in td.container_definitions]

    def _state(self, service: Any) -> list[Deployment]:
        if not hasattr(service, "_lc_deployments"):
            service._lc_deployments = []
            service._lc_last_completed = None
        return service._lc_deployments

    def _healthy(self, task: Task, now: float) -> bool:
        """Running for the rollout time, and not a release marked unhealthy."""
        return (
            task.last_status == "RUNNING"
            and now - task._lc_started >= self.settings.rollout_seconds
            and not self.faults.release_unhealthy(self._images(task._backend, task.task_definition_arn))
        )

    # -- service operations --------------------------------------------------------------------
    def start_deployment(self, backend: EC2ContainerServiceBackend, service: Any, td_arn: str) -> None:
        deployments = self._state(service)
        for d in deployments:
            if d.status == "PRIMARY":
                d.status = "ACTIVE"
                d.updated_at = utcnow()
        dep = Deployment(
            id=self._new_deployment_id(),
            task_definition=td_arn,
            desired=service.desired_count,
            started=time.monotonic(),
            created_at=utcnow(),
            launch_type=service.launch_type,
            network_configuration=service.network_configuration or None,
        )
        dep.reason = f"ECS deployment {dep.id} in progress."
        deployments.insert(0, dep)
        service.task_definition = td_arn
        self._roll(backend, service, dep)
        self._publish(service)

    def scale(self, backend: EC2ContainerServiceBackend, service: Any, desired: int) -> None:
        primary = self._primary(service)
        service.desired_count = desired
        if primary is None:
            return
        primary.desired = desired
        for task in live(primary.tasks)[desired:]:
            self._stop_task(backend, service, task, f"Scaling activity initiated by (deployment {primary.id})")
        primary.prune()
        self._roll(backend, service, primary)
        self._publish(service)

    def stop_service(self, backend: EC2ContainerServiceBackend, service: Any) -> None:
        for dep in self._state(service):
            for task in live(dep.tasks):
                self._stop_task(backend, service, task, "Service deleted")
            dep.tasks = []
        service._lc_deployments = []
        self._publish(service)

    def _primary(self, service: Any) -> Deployment | None:
        return next((d for d in self._state(service) if d.status == "PRIMARY"), None)

    def _publish(self, service: Any) -> None:
        deployments = self._state(service)
        service.deployments = [d.as_api() for d in deployments]
        service.running_count = sum(d.as_api()["runningCount"] for d in deployments)
        service.pending_count = sum(d.as_api()["pendingCount"] for d in deployments)

    # -- container instances ---------------------------------------------------------------------
    def _container_instances(self, backend: EC2ContainerServiceBackend, cluster_name: str) -> list[Any]:
        """Container instances of the cluster; EC2 instances whose user data names the
        cluster (ECS_CLUSTER=...) join it, as the ECS agent makes them do."""
        registered = {ci.ec2_instance_id for ci in backend.container_instances.get(cluster_name, {}).values()}
        ec2 = ec2_backends[backend.account_id][backend.region_name]
        for instance in ec2.all_instances():
            if instance.id in registered or instance.state != "running":
                continue
            if re.search(rf"\bECS_CLUSTER={re.escape(cluster_name)}(?![\w-])", _user_data_text(instance)):
                backend.register_container_instance(cluster_name, instance.id)
        # read after registering: moto replaces an empty cluster's dict of container instances
        return [ci for ci in backend.container_instances.get(cluster_name, {}).values() if ci.status == "ACTIVE"]

    @staticmethod
    def _usage(backend: EC2ContainerServiceBackend, cluster_name: str, group: str) -> dict[str, InstanceUse]:
        """Per container instance ARN, what the cluster's live tasks hold on it."""
        usage: dict[str, InstanceUse] = defaultdict(InstanceUse)
        for task in backend.tasks.get(cluster_name, {}).values():
            if task.last_status == "STOPPED" or not task.container_instance_arn:
                continue
            use = usage[task.container_instance_arn]
            use.reserved = use.reserved + _reservation(task)
            use.enis += _takes_eni(task)
            use.running += task.last_status == "RUNNING"
            use.pending += task.last_status == "PENDING"
            use.service_tasks += task.group == group
        return usage

    def refresh_container_instances(self, backend: EC2ContainerServiceBackend, cluster_name: str) -> None:
        """Show each container instance's remaining CPU and memory and its task counts, as DescribeContainerInstances
        reports them."""
        self._container_instances(backend, cluster_name)
        usage = self._usage(backend, cluster_name, "")
        for instance in backend.container_instances.get(cluster_name, {}).values():
            use = usage[instance.container_instance_arn]
            capacity.show_remaining(instance, capacity.registered(instance) - use.reserved)
            instance.running_tasks_count = use.running
            instance.pending_tasks_count = use.pending

    def _slots(self, backend: EC2ContainerServiceBackend, cluster_name: str, service: Any) -> list[Slot]:
        ec2 = ec2_backends[backend.account_id][backend.region_name]
        usage = self._usage(backend, cluster_name, f"service:{service.name}")
        slots = []
        for instance in self._container_instances(backend, cluster_name):
            ec2_instance = ec2.get_instance(instance.ec2_instance_id)
            if ec2_instance.state != "running":
                continue
            use = usage[instance.container_instance_arn]
            limit = capacity.awsvpc_task_limit(ec2_instance.instance_type)
            slots.append(
                Slot(
                    instance,
                    capacity.registered(instance) - use.reserved,
                    instance.attributes.get("ecs.availability-zone", ""),
                    use.service_tasks,
                    None if limit is None else max(0, limit - use.enis),
                )
            )
        return slots

    def _choose_instances(
        self,
        backend: EC2ContainerServiceBackend,
        service: Any,
        dep: Deployment,
        need: Resources,
        count: int,
        eni: bool,
    ) -> list[Slot]:
        """Up to `count` container instances for new tasks, spread as a service's default placement spreads them;
        `eni`: each task (awsvpc) takes one of the instance's ENIs."""
        slots = self._slots(backend, service.cluster_name, service)
        if not slots:
            self._stalled(
                service,
                dep,
                f"(service {service.name}) was unable to place a task because no container instance met all of its "
                "requirements. Reason: No Container Instances were found in your cluster.",
            )
            return []
        chosen: list[Slot] = []
        for _task in range(count):
            slot = capacity.place(slots, need, eni)
            if slot is None:
                nearest, problem = capacity.closest(slots, need, eni)
                self._stalled(
                    service,
                    dep,
                    f"(service {service.name}) was unable to place a task because no container instance met all of "
                    f"its requirements. The closest matching (container-instance {nearest.instance.id}) {problem}. "
                    f"{TROUBLESHOOTING}",
                )
                break
            slot.take(need, eni)
            chosen.append(slot)
        return chosen

    # -- the rolling update ---------------------------------------------------------------------
    def _roll(self, backend: EC2ContainerServiceBackend, service: Any, primary: Deployment) -> None:
        """Stop replaced tasks and start new ones until neither is possible now. Each round stops or starts at least
        one task, and both are bounded, so it ends."""
        while True:
            stopped = self._stop_replaced(backend, service, primary)
            started = self._place_tasks(backend, service, primary)
            if not stopped and not started:
                return

    def _stop_replaced(self, backend: EC2ContainerServiceBackend, service: Any, primary: Deployment) -> int:
        """Stop old deployments' tasks: those not healthy at once, healthy ones down to minimumHealthyPercent."""
        deployments = self._state(service)
        old = [t for d in reversed(deployments) if d is not primary for t in live(d.tasks)]
        if not old:
            return 0
        now = time.monotonic()
        healthy = sum(1 for d in deployments for t in live(d.tasks) if self._healthy(t, now))
        keep = math.ceil(primary.desired * _configuration(service, "minimumHealthyPercent") / 100)
        victims = [t for t in old if not self._healthy(t, now)]
        victims += [t for t in old if self._healthy(t, now)][: max(0, healthy - keep)]
        for task in victims:
            self._stop_task(backend, service, task, f"Scaling activity initiated by (deployment {primary.id})")
        for dep in deployments:
            if dep is not primary:
                dep.prune()
        return len(victims)

    def _place_tasks(self, backend: EC2ContainerServiceBackend, service: Any, dep: Deployment) -> int:
        missing = dep.desired - len(live(dep.tasks))
        if missing <= 0 or dep.rollout_state == "FAILED":
            return 0
        in_service = sum(len(live(d.tasks)) for d in self._state(service))
        room = math.floor(dep.desired * _configuration(service, "maximumPercent") / 100) - in_service
        if room <= 0:
            if not self._in_flight(service):
                self._stalled(
                    service,
                    dep,
                    f"(service {service.name}) was unable to stop or start tasks during a deployment because of the "
                    "service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and "
                    "try again.",
                )
            return 0
        td = backend.describe_task_definition(dep.task_definition)
        need = capacity.task_reservation(td)
        count = min(missing, room)
        hosts: list[Slot | None] = (
            [*self._choose_instances(backend, service, dep, need, count, td.network_mode == "awsvpc")]
            if (service.launch_type or "EC2") == "EC2"
            else [None] * count
        )
        started = [self._launch(backend, service, dep, td, need, slot) for slot in hosts]
        if len(started) == count:
            dep.stall_reported = ""  # placed all it asked for: a later stall is a new one
        if started:
            ids = " ".join(f"(task {t.id})" for t in started)
            self._event(service, f"(service {service.name}) has started {len(started)} tasks: {ids}.")
        return len(started)

    def _in_flight(self, service: Any) -> bool:
        """Whether a live task of the service is not healthy yet: it may still become healthy or stop."""
        now = time.monotonic()
        return any(not self._healthy(t, now) for d in self._state(service) for t in live(d.tasks))

    def _launch(
        self,
        backend: EC2ContainerServiceBackend,
        service: Any,
        dep: Deployment,
        td: Any,
        need: Resources,
        slot: Slot | None,
    ) -> Task:
        instance = slot.instance if slot else None
        cluster = backend._get_cluster(service.cluster_name)
        task = Task(
            cluster,
            td,
            instance.container_instance_arn if instance else None,
            capacity.moto_requirements(need) if instance else None,
            backend,
            group=f"service:{service.name}",
            launch_type=service.launch_type or "EC2",
            started_by=dep.id,
            networking_configuration=self._task_network(backend, service, instance),
        )
        task._lc_instance = instance
        task._lc_deployment = dep
        task._lc_started = time.monotonic()
        task._lc_targets = []
        task._lc_start_failure = self._start_failure(backend, service, task, td, instance)
        if task._lc_start_failure or self.faults.release_hangs(self._images(backend, td.arn)):
            task.last_status = "PENDING"
        else:
            self._register_targets(backend, service, task, td)
        backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
        dep.tasks.append(task)
        return task

    @staticmethod
    def _task_network(backend: EC2ContainerServiceBackend, service: Any, instance: Any) -> dict[str, Any] | None:
        """The service's network configuration, with a subnet in the container instance's Availability Zone first:
        an awsvpc task's ENI is in the instance's zone."""
        config = service.network_configuration or None
        awsvpc = (config or {}).get("awsvpcConfiguration") or {}
        if instance is None or not awsvpc.get("subnets"):
            return config
        ec2 = ec2_backends[backend.account_id][backend.region_name]
        zone = instance.attributes.get("ecs.availability-zone")
        subnets = sorted(awsvpc["subnets"], key=lambda s: ec2.get_subnet(s).availability_zone != zone)
        return {**config, "awsvpcConfiguration": {**awsvpc, "subnets": subnets}}

    # -- what a task needs to start ---------------------------------------------------------------
    def _start_failure(
        self, backend: EC2ContainerServiceBackend, service: Any, task: Task, td: Any, instance: Any
    ) -> str | None:
        """ECS's stopped reason when the task cannot fetch its secrets or pull its images; None when it can start."""
        path = self._network_path(backend, service, task, td, instance)
        if path is None:
            return None
        return task_secrets.secrets_failure(td, task.id, path, backend.account_id) or reach.pull_failure(
            path, self._images(backend, td.arn)
        )

    @staticmethod
    def _network_path(
        backend: EC2ContainerServiceBackend, service: Any, task: Task, td: Any, instance: Any
    ) -> reach.NetworkPath | None:
        """The subnet a task reaches out from: its ENI's (awsvpc), else its container instance's."""
        ec2 = ec2_backends[backend.account_id][backend.region_name]
        if td.network_mode == "awsvpc":
            awsvpc = (service.network_configuration or {}).get("awsvpcConfiguration") or {}
            return reach.awsvpc_path(ec2, _task_detail(task, "subnetId"), service.launch_type, awsvpc)
        return reach.instance_path(ec2, instance.ec2_instance_id) if instance else None

    def _settle_start_failures(self, backend: EC2ContainerServiceBackend, service: Any) -> None:
        """Stop the tasks that failed to start once their start has been tried for half the rollout time (the pull's
        retries), and count them as failed tasks of their deployment."""
        now = time.monotonic()
        for dep in self._state(service):
            for task in live(dep.tasks):
                reason = task._lc_start_failure
                if not reason or now - task._lc_started < self.settings.rollout_seconds / 2:
                    continue
                self._stop_task(backend, service, task, reason, FAILED_TO_START)
                dep.failed_tasks += 1
                if dep.failed_tasks == 1:
                    self._event(service, f"(service {service.name}) (task {task.id}) failed to start: {reason}")
            dep.prune()

    def _check_failures(self, backend: EC2ContainerServiceBackend, service: Any, primary: Deployment) -> None:
        """Tasks that failed to start trip the circuit breaker at its threshold; without it ECS says it cannot start
        tasks consistently and keeps trying."""
        if primary.rollout_state != "IN_PROGRESS" or primary.failed_tasks < failure_threshold(primary.desired):
            return
        breaker = _configuration(service, "deploymentCircuitBreaker") or {}
        if breaker.get("enable"):
            self._fail(backend, service, primary, primary.failed_tasks, bool(breaker.get("rollback")))
        elif not primary.impaired_reported:
            message = f"(service {service.name}) is unable to consistently start tasks successfully. {TROUBLESHOOTING}"
            self._event(service, message)
            primary.impaired_reported = True

    # -- targets ---------------------------------------------------------------------------------
    def _register_targets(self, backend: EC2ContainerServiceBackend, service: Any, task: Task, td: Any) -> None:
        elbv2 = elbv2_backends[backend.account_id][backend.region_name]
        for lb in service.load_balancers or []:
            tg = elbv2.target_groups.get(lb.get("targetGroupArn", ""))
            if tg is None:
                continue
            port = int(lb.get("containerPort") or tg.port or 80)
            if tg.target_type == "ip":
                target_id = _task_detail(task, "privateIPv4Address")
                if target_id is None:
                    continue
            elif task._lc_instance is not None:
                target_id = task._lc_instance.ec2_instance_id
                port = _host_port(td, lb.get("containerName"), port, len(self.targets))
            else:
                continue
            tg.targets[target_id] = {"Id": target_id, "Port": port}
            tg.deregistered_targets.pop(target_id, None)
            self.targets[(tg.arn, target_id, port)] = task
            task._lc_targets.append((tg, target_id, port))

    def _stop_task(
        self,
        backend: EC2ContainerServiceBackend,
        service: Any,
        task: Task,
        reason: str,
        stop_code: str = SCHEDULER_STOP,
    ) -> None:
        """Stop a task: its targets are deregistered, its ENI released and its reservation freed."""
        for tg, target_id, port in getattr(task, "_lc_targets", []):
            current = tg.targets.get(target_id)
            if current is not None and int(current.get("Port", 0)) == port:
                tg.targets.pop(target_id, None)
            self.targets.pop((tg.arn, target_id, port), None)
        task._lc_targets = []
        eni = _task_detail(task, "networkInterfaceId")
        if eni:
            ec2_backends[backend.account_id][backend.region_name].enis.pop(eni, None)
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_reason = reason
        task.stop_code = stop_code

    # -- the clock -------------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Advance every service's deployments to where the clock says they are."""
        for _account, regions in list(ecs_backends.items()):
            for _region, backend in list(regions.items()):
                for service in list(backend.services.values()):
                    if service.status == "ACTIVE" and hasattr(service, "_lc_deployments"):
                        self._advance(backend, service)

    def _advance(self, backend: EC2ContainerServiceBackend, service: Any) -> None:
        primary = self._primary(service)
        if primary is None or self._steady(service, primary):
            return
        self._settle_start_failures(backend, service)
        self._check_failures(backend, service, primary)
        primary = self._primary(service)  # a rollback starts a new one
        if primary is not None and primary.rollout_state != "FAILED":
            self._roll(backend, service, primary)
            if primary.rollout_state == "IN_PROGRESS":
                self._judge(backend, service, primary)
        self._publish(service)

    def _steady(self, service: Any, primary: Deployment) -> bool:
        """Nothing for the clock to move: one COMPLETED deployment whose desired tasks all run (every request
        reconciles every service, so a steady one should cost nothing)."""
        if primary.rollout_state != "COMPLETED" or len(self._state(service)) != 1:
            return False
        tasks = live(primary.tasks)
        return len(tasks) == primary.desired and all(
            t.last_status == "RUNNING" and not t._lc_start_failure for t in tasks
        )

    def _judge(self, backend: EC2ContainerServiceBackend, service: Any, primary: Deployment) -> None:
        """Complete the deployment when all its tasks are healthy; fail it when its release fails health checks."""
        images = self._images(backend, primary.task_definition)
        if self.faults.release_hangs(images):
            return
        if self.faults.release_unhealthy(images):
            if live(primary.tasks):
                self._fail_health_checks(backend, service, primary)
            return
        now = time.monotonic()
        if sum(1 for t in live(primary.tasks) if self._healthy(t, now)) >= primary.desired:
            self._complete(backend, service, primary)

    def _fail_health_checks(self, backend: EC2ContainerServiceBackend, service: Any, primary: Deployment) -> None:
        """Tasks of an unhealthy release fail their health checks: failedTasks rises to the threshold over the
        rollout time, and the circuit breaker, when on, then fails the deployment."""
        elapsed = time.monotonic() - primary.started
        rollout = self.settings.rollout_seconds
        threshold = failure_threshold(primary.desired)
        failed = min(threshold, int(threshold * elapsed / rollout) if rollout else threshold)
        primary.failed_tasks = max(primary.failed_tasks, failed)
        breaker = _configuration(service, "deploymentCircuitBreaker") or {}
        if elapsed >= rollout and breaker.get("enable"):
            self._fail(backend, service, primary, threshold, bool(breaker.get("rollback")))

    def _complete(self, backend: EC2ContainerServiceBackend, service: Any, primary: Deployment) -> None:
        primary.rollout_state = "COMPLETED"
        primary.reason = f"ECS deployment {primary.id} completed."
        primary.updated_at = utcnow()
        for dep in self._state(service)[1:]:
            for task in live(dep.tasks):
                self._stop_task(backend, service, task, f"Scaling activity initiated by (deployment {primary.id})")
        service._lc_deployments = [primary]
        service._lc_last_completed = primary.task_definition
        self._event(service, f"(service {service.name}) (deployment {primary.id}) deployment completed.")
        self._event(service, f"(service {service.name}) has reached a steady state.")

    def _fail(
        self, backend: EC2ContainerServiceBackend, service: Any, primary: Deployment, failed: int, rollback: bool
    ) -> None:
        primary.rollout_state = "FAILED"
        primary.failed_tasks = failed
        primary.reason = "ECS deployment circuit breaker: tasks failed to start."
        primary.updated_at = utcnow()
        self._event(
            service, f"(service {service.name}) (deployment {primary.id}) deployment failed: tasks failed to start."
        )
        previous = service._lc_last_completed
        if not rollback or previous is None:
            return
        for task in live(primary.tasks):
            if task._lc_start_failure:
                self._stop_task(backend, service, task, task._lc_start_failure, FAILED_TO_START)
            elif service.load_balancers:
                self._stop_task(backend, service, task, "Task failed ELB health checks")
            else:
                exited = "Essential container in task exited"
                self._stop_task(backend, service, task, exited, "EssentialContainerExited")
        primary.tasks = []
        self.start_deployment(backend, service, previous)
        self._event(service, f"(service {service.name}) rolling back to deployment with task definition {previous}.")

    # -- target health ------------------------------------------------------------------------
    def target_health(self, tg: FakeTargetGroup, target: dict[str, Any]) -> FakeHealthStatus | None:
        registered = tg.targets.get(target["Id"])
        if registered is None:
            return None
        port = int(registered.get("Port") or 0)
        task = self.targets.get((tg.arn, target["Id"], port))
        if task is None:
            return None
        dep: Deployment = task._lc_deployment
        backend = task._backend
        if self.faults.release_unhealthy(self._images(backend, dep.task_definition)):
            return FakeHealthStatus(
                target["Id"],
                port,
                tg.health_check_port,
                "unhealthy",
                "Target.FailedHealthChecks",
                "Health checks failed",
            )
        warmup = self.settings.rollout_seconds / 2
        if dep.rollout_state == "IN_PROGRESS" and time.monotonic() - task._lc_started < warmup:
            return FakeHealthStatus(
                target["Id"],
                port,
                tg.health_check_port,
                "initial",
                "Elb.RegistrationInProgress",
                "Target registration is in progress",
            )
        return FakeHealthStatus(target["Id"], port, tg.health_check_port, "healthy")

    def release_of_target(self, tg: FakeTargetGroup, target_id: str) -> tuple[Task, list[str]] | None:
        registered = tg.targets.get(target_id)
        if registered is None:
            return None
        task = self.targets.get((tg.arn, target_id, int(registered.get("Port") or 0)))
        if task is None:
            return None
        return task, self._images(task._backend, task._lc_deployment.task_definition)

    # -- installation into moto -----------------------------------------------------------------
    def install(self) -> None:
        self._install_deployments()
        self._install_container_instances()
        reach.install_default_vpc_internet()
        if not isinstance(getattr(NetworkInterface, "private_dns_name", None), property):
            # moto's awsvpc tasks read it, but its ENIs set it only in VPCs with DNS hostnames on
            NetworkInterface.private_dns_name = property(
                lambda eni: (
                    eni.__dict__.get("_lc_dns")
                    or "ip-{}.ec2.internal".format((eni.private_ip_address or "").replace(".", "-"))
                ),
                lambda eni, value: eni.__dict__.__setitem__("_lc_dns", value),
            )
        self.pin_task_states()

    def _install_deployments(self) -> None:
        emulator = self
        original_create = EC2ContainerServiceBackend.create_service
        original_delete = EC2ContainerServiceBackend.delete_service
        original_list_tasks = EC2ContainerServiceBackend.list_tasks
        original_create_response = EC2ContainerServiceResponse.create_service
        original_health_for = FakeTargetGroup.health_for

        def create_service(backend: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Any:
            service = original_create(backend, *args, **kwargs)
            service.deployments = []
            service.running_count = service.pending_count = 0
            service.deployment_configuration = dict(DEFAULT_DEPLOYMENT_CONFIGURATION)
            if service.task_definition and service.deployment_controller.get("type", "ECS") == "ECS":
                emulator.start_deployment(backend, service, service.task_definition)
            return service

        def create_service_response(response: EC2ContainerServiceResponse) -> Any:
            result = original_create_response(response)
            config = response._get_param("deploymentConfiguration")
            service = response.ecs_backend._get_service(
                response._get_param("cluster", "default"), response._get_param("serviceName")
            )
            if config:
                service.deployment_configuration = {**DEFAULT_DEPLOYMENT_CONFIGURATION, **config}
            return result

        def update_service(backend: EC2ContainerServiceBackend, props: dict[str, Any]) -> Any:
            service = backend._get_service(props.pop("cluster", "default"), props.pop("service").split("/")[-1])
            td_str = props.pop("task_definition", None)
            force = bool(props.pop("force_new_deployment", False))
            desired = props.pop("desired_count", None)
            for name, value in props.items():
                if value is not None:
                    setattr(service, name, value)
            new_td = backend.describe_task_definition(td_str).arn if td_str else service.task_definition
            if desired is not None:
                service.desired_count = int(desired)
            if service.deployment_controller.get("type", "ECS") != "ECS":
                service.task_definition = new_td
                return service
            if new_td != service.task_definition or force:
                emulator.start_deployment(backend, service, new_td)
            elif desired is not None:
                emulator.scale(backend, service, int(desired))
            return service

        def delete_service(
            backend: EC2ContainerServiceBackend, cluster_name: str, service_name: str, force: bool
        ) -> Any:
            service = original_delete(backend, cluster_name, service_name, force)
            emulator.stop_service(backend, service)
            return service

        def list_tasks(
            backend: EC2ContainerServiceBackend,
            cluster_str: str | None = None,
            container_instance: str | None = None,
            family: str | None = None,
            started_by: str | None = None,
            service_name: str | None = None,
            desired_status: str | None = None,
        ) -> list[Task]:
            tasks = original_list_tasks(
                backend,
                cluster_str,
                container_instance,
                family,
                started_by,
                None,
                desired_status or "RUNNING",  # ListTasks' documented default
            )
            if service_name:
                tasks = [t for t in tasks if t.group == f"service:{service_name.split('/')[-1]}"]
            return tasks

        def health_for(tg: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
            return emulator.target_health(tg, target) or original_health_for(tg, target, ec2_backend)

        EC2ContainerServiceBackend.create_service = create_service
        EC2ContainerServiceBackend.update_service = update_service
        EC2ContainerServiceBackend.delete_service = delete_service
        EC2ContainerServiceBackend.list_tasks = list_tasks
        EC2ContainerServiceResponse.create_service = create_service_response
        FakeTargetGroup.health_for = health_for
        ecs_models.Service.deployment_configuration = None

    def _install_container_instances(self) -> None:
        """Container instances register their instance type's CPU and memory, and report what their tasks leave."""
        emulator = self
        original_register = EC2ContainerServiceBackend.register_container_instance
        original_list = EC2ContainerServiceBackend.list_container_instances
        original_describe = EC2ContainerServiceBackend.describe_container_instances

        def register_container_instance(backend: EC2ContainerServiceBackend, cluster_str: str, instance_id: str) -> Any:
            container_instance = original_register(backend, cluster_str, instance_id)
            instance = ec2_backends[backend.account_id][backend.region_name].get_instance(instance_id)
            resources = capacity.registered_resources(instance.instance_type, _user_data_text(instance))
            capacity.register(container_instance, resources)
            return container_instance

        def list_container_instances(
            backend: EC2ContainerServiceBackend, cluster_str: str, status: str | None = None
        ) -> Any:
            cluster_name = cluster_str.split("/")[-1]
            if cluster_name in backend.clusters:
                emulator._container_instances(backend, cluster_name)
            return original_list(backend, cluster_str, status)

        def describe_container_instances(backend: EC2ContainerServiceBackend, cluster_str: str, ids: list[str]) -> Any:
            emulator.refresh_container_instances(backend, backend._get_cluster(cluster_str).name)
            return original_describe(backend, cluster_str, ids)

        EC2ContainerServiceBackend.register_container_instance = register_container_instance
        EC2ContainerServiceBackend.list_container_instances = list_container_instances
        EC2ContainerServiceBackend.describe_container_instances = describe_container_instances

    @staticmethod
    def pin_task_states() -> None:
        """moto advances a task towards STOPPED each time it is described; ECS does not."""
        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": sys.maxsize})

    def reset(self) -> None:
        self.targets.clear()

    def snapshot_state(self) -> dict[tuple[str, str, int], Task]:
        """What a snapshot keeps besides moto's backends (localcloud/snapshots.py)."""
        return self.targets

    def restore_state(self, targets: dict[tuple[str, str, int], Task]) -> None:
        self.targets = targets


def _user_data_text(instance: Any) -> str:
    """An EC2 instance's user data as text (moto keeps it base64-encoded, sometimes in a list)."""
    user_data = instance.user_data
    if isinstance(user_data, list):
        user_data = user_data[0] if user_data else ""
    if not user_data:
        return ""
    if hasattr(user_data, "as_bytes"):  # moto's Base64EncodedString
        user_data = user_data.as_bytes()
    if isinstance(user_data, bytes):
        user_data = user_data.decode("utf-8", "replace")
    try:
        return base64.b64decode(user_data, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return str(user_data)


def _task_detail(task: Task, name: str) -> str | None:
    """A detail of an awsvpc task's ENI attachment (subnetId, privateIPv4Address, networkInterfaceId)."""
    for attachment in task.attachments:
        for detail in attachment.get("details", []):
            if detail.get("name") == name:
                return detail.get("value")
    return None


def _host_port(td: Any, container_name: str | None, container_port: int, serial: int) -> int:
    """The host port a bridge-mode container is mapped to; 0 or unset means a dynamic port."""
    for container in td.container_definitions:
        if container_name and container.get("name") != container_name:
            continue
        for mapping in container.get("portMappings", []):
            if int(mapping.get("containerPort", 0)) == container_port:
                host = int(mapping.get("hostPort") or 0)
                if host:
                    return host
    return FIRST_DYNAMIC_HOST_PORT + serial
