"""ECS service deployments, tasks and load-balancer targets, as ECS runs them.

moto's ECS keeps the deployment a service was created with forever. This module
replaces that with the rolling-update life cycle AWS documents:

* CreateService, and UpdateService with a new task definition or forceNewDeployment,
  start a PRIMARY deployment IN_PROGRESS; the previous PRIMARY becomes ACTIVE.
* After the rollout time the PRIMARY is COMPLETED with runningCount = desiredCount,
  the ACTIVE deployments' tasks are stopped and their targets deregistered.
* A release marked unhealthy fails its health checks; with the deployment circuit
  breaker on, the deployment ends FAILED and, with rollback, ECS starts a new
  deployment of the last COMPLETED task definition.
* Tasks exist as ECS tasks (ListTasks by service, DescribeTasks) and as targets of
  the service's target groups (ip for awsvpc, instance + host port otherwise).
"""

from __future__ import annotations

import math
import sys
import time
import uuid
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

from .faults import Faults

DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}
FIRST_DYNAMIC_HOST_PORT = 32768


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
    placement_reported: bool = False

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

    def _images(self, backend: EC2ContainerServiceBackend, td_arn: str) -> list[str]:
        td = backend.describe_task_definition(td_arn)
        return [c.get("image", "") for c in td.container_definitions]

    def _state(self, service: Any) -> list[Deployment]:
        if not hasattr(service, "_lc_deployments"):
            service._lc_deployments = []
            service._lc_last_completed = None
        return service._lc_deployments

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
        self._place_tasks(backend, service, dep)
        self._publish(service)

    def scale(self, backend: EC2ContainerServiceBackend, service: Any, desired: int) -> None:
        primary = self._primary(service)
        service.desired_count = desired
        if primary is None:
            return
        primary.desired = desired
        running = [t for t in primary.tasks if t.last_status in ("RUNNING", "PENDING")]
        for task in running[desired:]:
            self._stop_task(backend, service, task, f"Scaling activity initiated by (deployment {primary.id})")
        primary.tasks = [t for t in primary.tasks if t.last_status != "STOPPED"]
        self._place_tasks(backend, service, primary)
        self._publish(service)

    def stop_service(self, backend: EC2ContainerServiceBackend, service: Any) -> None:
        for dep in self._state(service):
            for task in dep.tasks:
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

    # -- tasks and targets -------------------------------------------------------------------
    def _container_instances(self, backend: EC2ContainerServiceBackend, cluster_name: str) -> list[Any]:
        """Container instances of the cluster; EC2 instances whose user data names the
        cluster (ECS_CLUSTER=...) join it, as the ECS agent makes them do."""
        known = backend.container_instances.setdefault(cluster_name, {})
        registered = {ci.ec2_instance_id for ci in known.values()}
        ec2 = ec2_backends[backend.account_id][backend.region_name]
        for instance in ec2.all_instances():
            if instance.id in registered or instance.state != "running":
                continue
            user_data = instance.user_data
            if isinstance(user_data, list):
                user_data = user_data[0] if user_data else ""
            text = _decode_user_data(user_data)
            if f"ECS_CLUSTER={cluster_name}" in text:
                backend.register_container_instance(cluster_name, instance.id)
        return [ci for ci in known.values() if ci.status == "ACTIVE"]

    def _place_tasks(self, backend: EC2ContainerServiceBackend, service: Any, dep: Deployment) -> None:
        missing = dep.desired - sum(1 for t in dep.tasks if t.last_status != "STOPPED")
        if missing <= 0 or dep.rollout_state == "FAILED":
            return
        td = backend.describe_task_definition(dep.task_definition)
        cluster = backend._get_cluster(service.cluster_name)
        instances: list[Any] = []
        if (service.launch_type or "EC2") == "EC2":
            instances = self._container_instances(backend, cluster.name)
            if not instances:
                if not dep.placement_reported:
                    self._event(
                        service,
                        f"(service {service.name}) was unable to place a task because no container instance met "
                        "all of its requirements. Reason: No Container Instances were found in your cluster.",
                    )
                    dep.placement_reported = True
                return
        hung = self.faults.release_hangs(self._images(backend, dep.task_definition))
        started = []
        for index in range(missing):
            instance = instances[(len(dep.tasks) + index) % len(instances)] if instances else None
            task = Task(
                cluster,
                td,
                instance.container_instance_arn if instance else None,
                None,
                backend,
                group=f"service:{service.name}",
                launch_type=service.launch_type or "EC2",
                started_by=dep.id,
                networking_configuration=service.network_configuration or None,
            )
            task._lc_instance = instance
            task._lc_deployment = dep
            task._lc_started = time.monotonic()
            task._lc_targets = []
            if hung:
                task.last_status = "PENDING"
            backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
            dep.tasks.append(task)
            started.append(task)
            if not hung:
                self._register_targets(backend, service, task, td)
        if started:
            ids = " ".join(f"(task {t.id})" for t in started)
            self._event(service, f"(service {service.name}) has started {len(started)} tasks: {ids}.")

    def _register_targets(self, backend: EC2ContainerServiceBackend, service: Any, task: Task, td: Any) -> None:
        elbv2 = elbv2_backends[backend.account_id][backend.region_name]
        for lb in service.load_balancers or []:
            tg = elbv2.target_groups.get(lb.get("targetGroupArn", ""))
            if tg is None:
                continue
            port = int(lb.get("containerPort") or tg.port or 80)
            if tg.target_type == "ip":
                target_id = _task_ip(task)
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

    def _stop_task(self, backend: EC2ContainerServiceBackend, service: Any, task: Task, reason: str) -> None:
        for tg, target_id, port in getattr(task, "_lc_targets", []):
            current = tg.targets.get(target_id)
            if current is not None and int(current.get("Port", 0)) == port:
                tg.targets.pop(target_id, None)
            self.targets.pop((tg.arn, target_id, port), None)
        task._lc_targets = []
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_reason = reason

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
        if primary is None or primary.rollout_state != "IN_PROGRESS":
            return
        self._place_tasks(backend, service, primary)
        images = self._images(backend, primary.task_definition)
        if self.faults.release_hangs(images) or not primary.tasks:
            self._publish(service)
            return
        elapsed = time.monotonic() - primary.started
        rollout = self.settings.rollout_seconds
        if self.faults.release_unhealthy(images):
            threshold = min(200, max(3, math.ceil(primary.desired * 0.5)))
            primary.failed_tasks = min(threshold, int(threshold * elapsed / rollout) if rollout else threshold)
            breaker = (service.deployment_configuration or {}).get("deploymentCircuitBreaker") or {}
            if elapsed >= rollout and breaker.get("enable"):
                self._fail(backend, service, primary, threshold, bool(breaker.get("rollback")))
            self._publish(service)
            return
        if elapsed < rollout:
            self._publish(service)
            return
        self._complete(backend, service, primary)

    def _complete(self, backend: EC2ContainerServiceBackend, service: Any, primary: Deployment) -> None:
        primary.rollout_state = "COMPLETED"
        primary.reason = f"ECS deployment {primary.id} completed."
        primary.updated_at = utcnow()
        for dep in self._state(service)[1:]:
            for task in dep.tasks:
                if task.last_status != "STOPPED":
                    self._stop_task(backend, service, task, f"Scaling activity initiated by (deployment {primary.id})")
        service._lc_deployments = [primary]
        service._lc_last_completed = primary.task_definition
        self._event(service, f"(service {service.name}) (deployment {primary.id}) deployment completed.")
        self._event(service, f"(service {service.name}) has reached a steady state.")
        self._publish(service)

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
        for task in primary.tasks:
            self._stop_task(
                backend,
                service,
                task,
                "Task failed ELB health checks" if service.load_balancers else "Essential container in task exited",
            )
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


def _decode_user_data(user_data: Any) -> str:
    import base64
    import binascii

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


def _task_ip(task: Task) -> str | None:
    for attachment in task.attachments:
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address":
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
