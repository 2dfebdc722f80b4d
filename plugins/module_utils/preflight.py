# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/preflight.yml's judgement: what real AWS would refuse or break, from an environment's settings and, where
it exists, what its read-only calls found. Pure functions, no AWS call.

`live` holds what the playbook read (each key optional; an environment not built yet has none of the VPC's):
``vpc`` (the environment's VPC, {} when there is none), ``subnets``, ``route_tables``, ``endpoints``,
``nat_gateways`` (amazon.aws's info modules' entries), ``account`` and ``partition``, ``task_definition``
(community.aws.ecs_taskdefinition_info's answer), ``execution_role`` (stageflow.aws.iam_role_access_info's),
``zones`` (Route 53's hosted zones), ``quotas`` (stageflow.aws.service_quota_info's), ``usage`` (what the account
already has, per quota) and ``load_balancer_exists``.

The answer is ``{"blockers": [...], "notes": [...]}``; each blocker has ``environment``, ``check``, ``what``, ``why``,
``fix`` and ``text`` (the three on three lines); notes say what could not be checked.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils import environment_limits
from ansible_collections.stageflow.aws.plugins.module_utils.aws_limits import SERVICE_QUOTAS

# What the ECS container instances and their tasks reach without the internet, by interface endpoint (and S3 by a
# gateway endpoint on the private route tables, for ECR's image layers).
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/vpc-endpoints.html
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch-logs-and-interface-VPC.html
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/vpc-endpoint-overview.html
ENDPOINT_NEEDS = {
    "ecr.api": "ECS cannot authenticate to ECR and the images are not pulled (CannotPullContainerError)",
    "ecr.dkr": "the images are not pulled (CannotPullContainerError)",
    "ecs": "the container instances cannot register with the cluster, so no task is placed",
    "ecs-agent": "the ECS agent cannot reach ECS, so no task is placed",
    "logs": "the awslogs driver cannot write the containers' logs, and the tasks fail to start",
    "secretsmanager": "the tasks cannot read their database secret (ResourceInitializationError)",
}
NETWORK_EGRESS = {
    "nat_gateway": "nat",
    "nat_gateway_per_az": "nat",
    "public_subnets": "internet",
    "endpoints": "endpoints",
}
# ecs-telemetry (the agent's metrics) is useful but blocks nothing.
ENDPOINT_SERVICES_REQUIRED = ("s3", *ENDPOINT_NEEDS)
SECRET_SUFFIX_EXAMPLE = "AbCdEf"  # Secrets Manager ends every secret's ARN with - and 6 random characters


def _blocker(env: str, check: str, what: str, why: str, fix: str) -> dict[str, Any]:
    text = f"[{env}, {check}] {what}\n    why: {why}\n    fix: {fix}"
    return {"environment": env, "check": check, "what": what, "why": why, "fix": fix, "text": text}


def _tags(entry: dict[str, Any]) -> dict[str, Any]:
    tags = entry.get("tags") or {}
    if isinstance(tags, list):  # boto3's list form
        return {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in tags}
    return tags


def _id(entry: dict[str, Any], *keys: str) -> str:
    return next((entry[k] for k in keys if entry.get(k)), "")


def _state(entry: dict[str, Any]) -> str:
    return str(entry.get("state") or "").lower()


# Route out ------------------------------------------------------------------------------------------------------


def private_subnets(subnets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The subnets the network role made private (Tier=private); without Tier tags, those with no public IPs."""
    tagged = [s for s in subnets if _tags(s).get("Tier") == "private"]
    return tagged or [s for s in subnets if not s.get("map_public_ip_on_launch") and not _tags(s).get("Tier")]


def _table_of(subnet_id: str, tables: list[dict[str, Any]]) -> dict[str, Any]:
    main = {}
    for table in tables:
        for association in table.get("associations") or []:
            if association.get("subnet_id") == subnet_id:
                return table
            if association.get("main"):
                main = table
    return main


def _default_route(table: dict[str, Any]) -> dict[str, Any]:
    return next(
        (
            r
            for r in table.get("routes") or []
            if r.get("destination_cidr_block") == "0.0.0.0/0" and _state(r) in ("active", "")
        ),
        {},
    )


def _endpoints(live: dict[str, Any], region: str) -> dict[str, dict[str, Any]]:
    found = {}
    for endpoint in live.get("endpoints") or []:
        name = str(endpoint.get("service_name") or "")
        prefix = f"com.amazonaws.{region}."
        if name.startswith(prefix) and _state(endpoint) in ("available", "pending", "pendingacceptance"):
            found[name[len(prefix) :]] = endpoint
    return found


def live_route_out(env: str, values: dict[str, Any], live: dict[str, Any]) -> list[dict[str, Any]]:
    """Each private subnet's way to ECR, ECS, CloudWatch Logs and Secrets Manager, as the VPC has it now."""
    subnets = private_subnets(live.get("subnets") or [])
    tables = live.get("route_tables") or []
    nats = {_id(n, "nat_gateway_id", "id"): n for n in live.get("nat_gateways") or []}
    endpoints = _endpoints(live, str(values.get("aws_region") or ""))
    setting = values.get("network_egress")
    blockers = []
    for subnet in subnets:
        subnet_id = _id(subnet, "subnet_id", "id")
        label = f"private subnet {subnet_id} ({subnet.get('availability_zone', '?')})"
        table = _table_of(subnet_id, tables)
        route = _default_route(table)
        nat_id = route.get("nat_gateway_id") or ""
        gateway_id = route.get("gateway_id") or ""
        if nat_id and _state(nats.get(nat_id, {"state": "available"})) in ("available", "pending"):
            continue
        if gateway_id.startswith("igw-") and subnet.get("map_public_ip_on_launch"):
            continue
        table_id = _id(table, "route_table_id", "id")
        gateway = endpoints.get("s3", {})
        s3_ok = gateway.get("vpc_endpoint_type", "Gateway") == "Gateway" and table_id in (
            gateway.get("route_table_ids") or []
        )
        missing = [name for name in ENDPOINT_NEEDS if name not in endpoints] + ([] if s3_ok else ["s3 (gateway)"])
        if not missing:
            continue
        if nat_id:
            how = f"its default route goes to NAT gateway {nat_id}, which is {_state(nats[nat_id]) or 'gone'}"
        elif gateway_id.startswith("igw-"):
            how = f"its default route goes to {gateway_id} but the subnet gives no public IPs"
        else:
            how = f"its route table {table_id or '(none)'} has no route to 0.0.0.0/0"
        needs = "; ".join(f"{name}: {ENDPOINT_NEEDS[name]}" for name in missing if name in ENDPOINT_NEEDS)
        blockers.append(
            _blocker(
                env,
                "route out",
                f"{label} has no route out: {how}, and it lacks the VPC endpoints {', '.join(missing)}",
                "the container instances and tasks there reach neither the internet nor AWS's APIs"
                + (f" ({needs})" if needs else " (ECR's image layers come from S3: CannotPullContainerError)"),
                _route_out_fix(setting, live=True),
            )
        )
    return blockers


def _route_out_fix(setting: Any, live: bool) -> str:
    if live and setting in NETWORK_EGRESS:
        return f"run playbooks/provision.yml, which builds the route out network_egress={setting} asks for"
    return (
        "set network_egress for the environment: nat_gateway (one NAT gateway, about $33/month), nat_gateway_per_az "
        "(one per zone) or endpoints (ECR api and dkr, S3 gateway, ECS, CloudWatch Logs and Secrets Manager "
        "endpoints, no internet), then run playbooks/provision.yml"
    )


def planned_route_out(env: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The route out network_egress will build, for an environment whose VPC does not exist yet."""
    setting = values.get("network_egress")
    way = NETWORK_EGRESS.get(setting) if isinstance(setting, str) else None
    if way is None:
        return [
            _blocker(
                env,
                "route out",
                f"network_egress is {setting if setting is not None else 'not set'}, so the private subnets "
                "(container instances, tasks, database) get no route out",
                "without a NAT gateway, public IPs or VPC endpoints they cannot pull images from ECR, register with "
                "ECS, write logs or read their secret: the tasks never start (CannotPullContainerError)",
                _route_out_fix(None, live=False),
            )
        ]
    services = values.get("network_endpoint_services")
    if way == "endpoints" and isinstance(services, list):
        missing = [name for name in ENDPOINT_SERVICES_REQUIRED if name not in services]
        if missing:
            return [
                _blocker(
                    env,
                    "route out",
                    f"network_egress is endpoints but network_endpoint_services lacks {', '.join(missing)}",
                    "; ".join(ENDPOINT_NEEDS.get(name, "ECR's image layers come from S3") for name in missing),
                    f"add {', '.join(missing)} to network_endpoint_services",
                )
            ]
    return []


# Task execution role ----------------------------------------------------------------------------------------------


def secret_arn(values: dict[str, Any], live: dict[str, Any]) -> str:
    """The database secret's ARN: from the task definition when one reads it, else its shape from the name."""
    for container in (live.get("task_definition") or {}).get("container_definitions") or []:
        for secret in container.get("secrets") or []:
            if secret.get("value_from"):
                return secret["value_from"]
    env, app = values.get("environment_name"), values.get("app_name")
    return (
        f"arn:{live.get('partition') or 'aws'}:secretsmanager:{values.get('aws_region')}:{live.get('account') or '*'}:"
        f"secret:stageflow/{env}/{app}/database-{SECRET_SUFFIX_EXAMPLE}"
    )


def execution_role_name(values: dict[str, Any], live: dict[str, Any]) -> str:
    arn = (live.get("task_definition") or {}).get("execution_role_arn") or ""
    if arn:
        return arn.rsplit("/", maxsplit=1)[-1]
    return f"{(values.get('resource_names') or {}).get('cluster')}-task-execution"


def execution_role(env: str, values: dict[str, Any], live: dict[str, Any]) -> tuple[list, list]:
    role = live.get("execution_role") or {}
    name = execution_role_name(values, live)
    if not role.get("exists"):
        return [], [f"{env}: the task execution role {name} does not exist yet; run preflight again after provisioning"]
    blockers = []
    for answer in role.get("access") or []:
        if answer.get("allowed"):
            continue
        denied = f" (denied by {', '.join(answer['denied_by'])})" if answer.get("denied_by") else ""
        blockers.append(
            _blocker(
                env,
                "execution role",
                f"the task execution role {name} may not {answer.get('action')} on {answer.get('resource')}{denied}",
                "ECS reads a task's secrets with its execution role before it starts the containers; AWS stops the "
                "task with ResourceInitializationError (AccessDeniedException)",
                f"allow {answer.get('action')} on the environment's database secret in a policy of {name} "
                "(the container_platform role does so: run playbooks/provision.yml)",
            )
        )
    return blockers, []


def reads(values: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """What the playbook reads next, from the settings and what it read so far (account, task definition)."""
    return {
        "execution_role": execution_role_name(values, live),
        "secret_arn": secret_arn(values, live),
        "quotas": [{"service_code": q.service_code, "quota_code": q.quota_code} for q in SERVICE_QUOTAS.values()],
    }


# Health check -----------------------------------------------------------------------------------------------------


def _private_zone(domain: str, zones: list[dict[str, Any]]) -> str | None:
    """The private hosted zone that answers for `domain`, unless a public zone of the same name does too."""
    names = {}
    for zone in zones:
        name = str(zone.get("Name") or zone.get("name") or "").rstrip(".")
        private = bool((zone.get("Config") or zone.get("config") or {}).get("PrivateZone"))
        if domain == name or domain.endswith("." + name):
            names.setdefault(name, set()).add(private)
    private = [n for n, kinds in names.items() if kinds == {True}]
    return max(private, key=len) if private else None


def health_check(env: str, values: dict[str, Any], live: dict[str, Any]) -> list[dict[str, Any]]:
    domain = str(values.get("domain_name") or "").rstrip(".")
    if not domain:
        return []
    zone = _private_zone(domain, live.get("zones") or [])
    private = (
        f"{domain} is under .internal, which no public resolver answers"
        if domain.endswith(".internal")
        else f"{domain} is in the private hosted zone {zone}, which only the VPC resolves"
        if zone
        else ""
    )
    if not private:
        return []
    blockers = []
    if values.get("health_check_via", "domain") == "domain":
        blockers.append(
            _blocker(
                env,
                "health check",
                f"the release's health check asks {domain} by its domain (health_check_via: domain)",
                f"{private}; the check runs outside the VPC (CI, AWX, a laptop), so every release fails its "
                "health check and is rolled back",
                "set health_check_via: load_balancer for the environment (the load balancer's DNS name, with the "
                "domain as the Host header), or give it a public domain",
            )
        )
    if values.get("ssl_enabled") is True:
        blockers.append(
            _blocker(
                env,
                "certificate",
                f"ssl_enabled is true for {domain}",
                f"{private}; ACM validates a certificate through public DNS, so it stays PENDING_VALIDATION and the "
                "HTTPS listener cannot use it",
                "give the environment a domain in a public hosted zone, or set ssl_enabled: false",
            )
        )
    return blockers


# Quotas -----------------------------------------------------------------------------------------------------------


def needs(values: dict[str, Any], live: dict[str, Any]) -> dict[str, int]:
    """What the environment adds to the account, per quota, when it is provisioned (its own existing ones count)."""
    zones = [z for z in values.get("availability_zones") or [] if isinstance(z, str)]
    nats = {"nat_gateway": 1, "nat_gateway_per_az": len(zones)}.get(values.get("network_egress"), 0)
    existing = [n for n in live.get("nat_gateways") or [] if _state(n) in ("available", "pending")]
    return {
        "vpcs": 0 if live.get("vpc") else 1,
        "elastic_ips": max(nats - len(existing), 0),  # one per NAT gateway
        "application_load_balancers": 0 if live.get("load_balancer_exists") else 1,
    }


def quotas(env: str, values: dict[str, Any], live: dict[str, Any]) -> tuple[list, list]:
    read = {(q.get("service_code"), q.get("quota_code")): q for q in live.get("quotas") or []}
    usage = live.get("usage") or {}
    blockers, notes = [], []
    for key, more in needs(values, live).items():
        quota = SERVICE_QUOTAS[key]
        if more <= 0:
            continue
        answer = read.get((quota.service_code, quota.quota_code), {})
        label = f"{quota.name} ({quota.service_code} {quota.quota_code})"
        if not answer.get("readable"):
            reason = answer.get("reason") or "not read"
            notes.append(f"{env}: {label} not readable ({reason}); AWS's default is {quota.default}")
            continue
        limit, used = int(answer.get("value") or 0), int(usage.get(key) or 0)
        if used + more > limit:
            blockers.append(
                _blocker(
                    env,
                    "quota",
                    f"the environment needs {more} more of {label}; the account has {used} of {limit}",
                    "AWS refuses to create what would exceed the quota, and provisioning stops half-way",
                    f"request an increase in Service Quotas ({quota.service_code} {quota.quota_code}: {quota.url}) "
                    "or remove unused ones",
                )
            )
    return blockers, notes


# All of it --------------------------------------------------------------------------------------------------------


def _from_limits(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_blocker(p["environment"], p["check"], p["what"], p["why"], p["fix"]) for p in problems]


def blockers(env: str, values: dict[str, Any], live: dict[str, Any]) -> dict[str, list]:
    found = _from_limits(environment_limits.check_limits(env, values, ("names", "capacity")))
    notes: list[str] = []
    found += live_route_out(env, values, live) if live.get("vpc") else planned_route_out(env, values)
    role_blockers, role_notes = execution_role(env, values, live)
    found += role_blockers
    notes += role_notes
    found += health_check(env, values, live)
    quota_blockers, quota_notes = quotas(env, values, live)
    found += quota_blockers
    notes += quota_notes
    return {"blockers": found, "notes": notes}
