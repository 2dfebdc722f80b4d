# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What runs where, read live (environment_status_info) and shown to people (the status_text filter).

One environment is read with a handful of calls whatever its size: one DescribeLoadBalancers, DescribeListeners and
DescribeRules; one DescribeServices per ten ECS services; one DescribeTaskDefinition per task definition in use; one
DescribeTargetHealth per target group; one DescribeAlarms by the environment's alarm prefix; one GetItem on the lock
and one Query of the records. Nothing is written. A resource that does not exist is reported as missing, not an
error: an environment that is not provisioned says so, resource by resource.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils import application as app
from ansible_collections.stageflow.aws.plugins.module_utils import release_report as report
from ansible_collections.stageflow.aws.plugins.module_utils._dynamodb import state as st
from ansible_collections.stageflow.aws.plugins.module_utils.retries import aws_retry

# How many records are read to find an open release and the last succeeded one (as state.open_release does: a
# controller whose clock runs behind can write an open record that sorts below later ones).
RECORDS_SCANNED = 50
GATE_KINDS = ("target-5xx", "p95-latency", "unhealthy-hosts")


@aws_retry
def _call(method: Callable[..., Any], **kwargs: Any) -> Any:
    """One read, retried on throttling."""
    return method(**kwargs)


@aws_retry
def _all_pages(client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
    return client.get_paginator(operation).paginate(**kwargs).build_full_result()


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _lb_info(elbv2: Any, name: str, port: int, missing: list[str]) -> dict[str, Any] | None:
    """The load balancer, its listener on port and the listener's rules, in elb_application_lb_info's shape (which
    release_units reads); None, and a line in missing, when there is none."""
    try:
        lbs = _call(elbv2.describe_load_balancers, Names=[name])["LoadBalancers"]
    except Exception as exc:
        if _error_code(exc) != "LoadBalancerNotFound":
            raise
        missing.append(f"load balancer {name}")
        return None
    lb = lbs[0]
    listeners = _all_pages(elbv2, "describe_listeners", LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    listener = next((li for li in listeners if li.get("Port") == port), None)
    if listener is None:
        missing.append(f"listener on port {port} of {name}")
        return None
    rules = _all_pages(elbv2, "describe_rules", ListenerArn=listener["ListenerArn"])["Rules"]
    snake_rules = [
        {
            "rule_arn": r["RuleArn"],
            "priority": r.get("Priority"),
            "is_default": r.get("IsDefault", False),
            "conditions": r.get("Conditions", []),
            "actions": [
                {
                    "type": a.get("Type"),
                    "forward_config": {
                        "target_groups": [
                            {"target_group_arn": g["TargetGroupArn"], "weight": g.get("Weight", 1)}
                            for g in (a.get("ForwardConfig") or {}).get("TargetGroups") or []
                        ]
                    },
                }
                for a in r.get("Actions", [])
            ],
        }
        for r in rules
    ]
    return {
        "dns_name": lb.get("DNSName", ""),
        "load_balancers": [
            {"load_balancer_name": name, "listeners": [{"port": port, "rules": snake_rules}]},
        ],
    }


def _ecs_services(ecs: Any, cluster: str, names: list[str], missing: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 10):
        try:
            answer = _call(ecs.describe_services, cluster=cluster, services=names[start : start + 10])
        except Exception as exc:
            if _error_code(exc) != "ClusterNotFoundException":
                raise
            missing.append(f"cluster {cluster}")
            return {}
        for service in answer.get("services", []):
            if service.get("status") != "INACTIVE":
                found[service["serviceName"]] = service
    missing.extend(f"ECS service {n}" for n in names if n not in found)
    return found


def _tasks(service: dict[str, Any], definitions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
    td_arn = service.get("taskDefinition", "")
    td = definitions.get(td_arn) or {}
    return {
        "task_definition": td_arn.rsplit("/", 1)[-1],
        "images": {c["name"]: c.get("image", "") for c in td.get("containerDefinitions", [])},
        "running": service.get("runningCount", 0),
        "desired": service.get("desiredCount", 0),
        "pending": service.get("pendingCount", 0),
        "rollout": primary.get("rolloutState", "") or ("COMPLETED" if len(deployments) == 1 else "IN_PROGRESS"),
        "deployments": len(deployments),
        "target_groups": [lb["targetGroupArn"] for lb in service.get("loadBalancers", []) if lb.get("targetGroupArn")],
    }


def _health(elbv2: Any, arn: str) -> dict[str, Any]:
    states: dict[str, int] = {}
    for target in _call(elbv2.describe_target_health, TargetGroupArn=arn).get("TargetHealthDescriptions", []):
        state = target["TargetHealth"]["State"]
        states[state] = states.get(state, 0) + 1
    return {
        "name": arn.rsplit("/", 2)[-2],
        "healthy": states.get("healthy", 0),
        "total": sum(states.values()),
        "states": states,
    }


def _alarms(cloudwatch: Any, prefix: str) -> dict[str, str]:
    answer = _all_pages(cloudwatch, "describe_alarms", AlarmNamePrefix=f"{prefix}-", AlarmTypes=["MetricAlarm"])
    return {a["AlarmName"]: a["StateValue"] for a in answer.get("MetricAlarms", [])}


def _lock(table: Any, environment: str, missing: list[str], name: str) -> dict[str, Any]:
    try:
        clock = st.Clock()
        seen = st.read_lock(table, environment, clock)
    except Exception as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        missing.append(f"lock table {name}")
        return {}
    if not seen:
        return {}
    held = st.is_held(seen, clock.now())
    until = datetime.datetime.fromtimestamp(int(seen.get("expires_at", 0)), datetime.timezone.utc)
    return {
        "held": held,
        "lock_id": seen.get("lock_id", ""),
        "owner": seen.get("owner", ""),
        "purpose": seen.get("purpose", ""),
        "acquired_at": seen.get("acquired_at", ""),
        "lease_until": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lease_left_seconds": max(0, int(int(seen.get("expires_at", 0)) - clock.now())),
        # alb_traffic's pause marks the lock with its percent; resume.yml answers with the same percent.
        "paused": "paused_percent" in seen and seen.get("resumed_percent") != seen.get("paused_percent"),
    }


def _records(table: Any, environment: str, limit: int, missing: list[str], name: str) -> list[dict[str, Any]]:
    try:
        return st.query_records(table, environment, limit)
    except Exception as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        missing.append(f"records table {name}")
        return []


def _drift(units: dict[str, Any], services: list[dict[str, Any]], records: list[dict[str, Any]], lock: dict[str, Any]):
    """One word for the environment and why: releasing or paused (a release that holds the lock is under way),
    interrupted (an open release nobody holds), split (traffic on both colours with no release under way), images (an
    ECS service the last succeeded release left runs other images, or no longer takes the traffic), none, or unknown
    (no succeeded release among the records read)."""
    open_ = next((r for r in records if r.get("kind") in st.RELEASE_KINDS and r.get("outcome") == "started"), None)
    if open_ is not None:
        if lock.get("held") and lock.get("lock_id") == open_.get("id"):
            if lock.get("paused"):
                return "paused", f"release {open_.get('id')} waits for playbooks/resume.yml"
            return "releasing", f"release {open_.get('id')} is under way ({lock.get('owner')})"
        return "interrupted", f"release {open_.get('id')} never closed and nobody holds the lock (abort.yml)"
    if units.get("interrupted"):
        return "split", "the traffic is split between the colours with no release under way (abort.yml)"
    last = next(
        (r for r in records if r.get("kind") in st.RELEASE_KINDS and r.get("outcome") == "succeeded"),
        None,
    )
    if last is None:
        return "unknown", f"no succeeded release among the last {RECORDS_SCANNED} records"
    ecs = {e["ecs_service"]: e for svc in services for e in svc.get("ecs_services") or [] if not e.get("missing")}
    serving = {svc["serving"]["ecs_service"] for svc in services}
    differ = []
    for summary in last.get("services") or []:
        name = summary.get("service", "")
        live = (ecs.get(name) or {}).get("images")
        if live is None:
            differ.append(f"{name} is gone")
            continue
        if name not in serving:
            differ.append(f"{name} no longer takes the traffic")
        for container, image in (summary.get("images") or {}).items():
            after = image.get("after", "")
            if after and live.get(container) != after:
                differ.append(
                    f"{name} {container} runs {report.short_image(live.get(container, '-'))} "
                    f"(release {last.get('id')} left {report.short_image(after)})"
                )
    if differ:
        return "images", "; ".join(differ)
    return "none", f"the serving services run what release {last.get('id')} left"


def read_environment(
    clients: dict[str, Any],
    environment: str,
    cluster: str,
    strategy: str,
    services: list[dict[str, Any]],
    load_balancer: str,
    listener_port: int,
    alarm_prefix: str,
    lock_table: Any,
    lock_table_name: str,
    records_table: Any,
    records_table_name: str,
    records_limit: int = 5,
) -> dict[str, Any]:
    """The live state of one environment (see the module's RETURN)."""
    missing: list[str] = []
    ecs, elbv2, cloudwatch = clients["ecs"], clients["elbv2"], clients["cloudwatch"]
    balanced = any(s.get("balanced") for s in services)
    lb = _lb_info(elbv2, load_balancer, listener_port, missing) if balanced else None
    try:
        units = (
            report.release_units(services, strategy, lb, listener_port, load_balancer=load_balancer)
            if (lb is not None or not balanced or strategy == "rolling")
            else {"live": "", "idle": "", "interrupted": False, "units": []}
        )
    except ValueError as exc:
        missing.append(str(exc).split(":", maxsplit=1)[0])
        units = {"live": "", "idle": "", "interrupted": False, "units": []}
    by_service = {u["service"]: u for u in units.get("units", [])}

    names = [name for s in services for name in app.ecs_services(s, strategy).values()]
    live_services = _ecs_services(ecs, cluster, names, missing)
    definitions: dict[str, dict[str, Any]] = {}
    for service in live_services.values():
        arn = service.get("taskDefinition", "")
        if arn and arn not in definitions:
            definitions[arn] = _call(ecs.describe_task_definition, taskDefinition=arn)["taskDefinition"]
    alarms = _alarms(cloudwatch, alarm_prefix) if alarm_prefix else {}
    health: dict[str, dict[str, Any]] = {}

    result_services = []
    for service in services:
        unit = by_service.get(service["name"], {})
        arns_weights = unit.get("weights") or {}
        colours = []
        for colour, name in app.ecs_services(service, strategy).items():
            entry: dict[str, Any] = {
                "colour": colour if len(app.ecs_services(service, strategy)) > 1 else "",
                "ecs_service": name,
            }
            live = live_services.get(name)
            if live is None:
                entry["missing"] = True
            else:
                entry.update(_tasks(live, definitions))
                for arn in entry.pop("target_groups"):
                    if arn not in health:
                        health[arn] = _health(elbv2, arn)
                    entry.setdefault("targets", []).append(health[arn])
            if service.get("balanced") and len(app.ecs_services(service, strategy)) > 1:
                tg = service["target_groups"][colour]
                entry["weight"] = next((w for arn, w in arns_weights.items() if f":targetgroup/{tg}/" in arn), None)
                key = service["target_group_keys"][colour]
                entry["alarms"] = {
                    n: s for n, s in alarms.items() if n in {f"{alarm_prefix}-{k}-{key}" for k in GATE_KINDS}
                }
            colours.append(entry)
        serving_name = unit.get("serving", service["ecs_service"])
        serving = next((c for c in colours if c["ecs_service"] == serving_name), colours[0] if colours else {})
        result_services.append(
            {
                "name": service["name"],
                "balanced": bool(service.get("balanced")),
                "default": bool((service.get("load_balancer") or {}).get("default")),
                "routes": ((service.get("load_balancer") or {}).get("paths") or [])
                + ((service.get("load_balancer") or {}).get("hosts") or []),
                "serving": {"ecs_service": serving.get("ecs_service", ""), "images": serving.get("images", {})},
                "ecs_services": colours,
            }
        )

    lock = _lock(lock_table, environment, missing, lock_table_name)
    records = _records(records_table, environment, max(records_limit, RECORDS_SCANNED), missing, records_table_name)
    drift, why = (
        ("not provisioned", "; ".join(missing))
        if missing and not live_services
        else _drift(units, result_services, records, lock)
    )
    environment_alarms = {n: s for n, s in alarms.items() if n in {f"{alarm_prefix}-{k}" for k in GATE_KINDS}}
    return {
        "environment": environment,
        "strategy": strategy,
        "live_colour": units.get("live", ""),
        "interrupted": bool(units.get("interrupted")),
        "load_balancer_dns": (lb or {}).get("dns_name", ""),
        "services": result_services,
        "alarms": {
            "environment": environment_alarms,
            "in_alarm": sorted(n for n, s in alarms.items() if s == "ALARM"),
            "count": len(alarms),
        },
        "lock": lock,
        "releases": [
            {
                **{
                    k: r.get(k) for k in ("id", "kind", "outcome", "who", "source", "note", "started_at", "finished_at")
                },
                "duration_seconds": r.get("duration_seconds"),
                "failure": r.get("failure", ""),
            }
            for r in records[:records_limit]
        ],
        "drift": drift,
        "drift_detail": why,
        "missing": missing,
    }


# --- for people ------------------------------------------------------------------------------------------------------


def _service_line(service: dict[str, Any]) -> str:
    weights = [f"{c['colour']} {c['weight']}" for c in service["ecs_services"] if c.get("weight") is not None]
    routes = ", ".join(service["routes"]) or ("default" if service["default"] else "")
    head = (
        f"  {service['name']}"
        + (f" ({routes})" if routes else "")
        + (f": {' / '.join(weights)}" if weights else (": no load balancer" if not service["balanced"] else ""))
    )
    return head


def _ecs_line(entry: dict[str, Any]) -> list[str]:
    label = f"    {entry['colour'] or '-':5} {entry['ecs_service']}"
    if entry.get("missing"):
        return [f"{label}: missing (not provisioned)"]
    targets = ", ".join(f"{t['healthy']}/{t['total']} healthy" for t in entry.get("targets", [])) or "none"
    state = f"{entry['running']}/{entry['desired']} running" + (
        f", {entry['pending']} pending" if entry["pending"] else ""
    )
    state += f", {entry['rollout']}, targets {targets}"
    alarms = entry.get("alarms")
    if alarms is not None:
        bad = [n for n, s in alarms.items() if s != "OK"]
        state += f", alarms {len(alarms) - len(bad)}/{len(alarms)} OK" + (f" ({', '.join(bad)})" if bad else "")
    lines = [f"{label} ({entry['task_definition']})", f"          {state}"]
    lines += [f"          {name}  {report.short_image(image)}" for name, image in sorted(entry["images"].items())]
    return lines


def text(statuses: list[dict[str, Any]]) -> str:
    """The environments' status, a block each, as status.yml prints it."""
    out: list[str] = []
    for s in statuses:
        lock = s.get("lock") or {}
        lock_text = (
            f"held by {lock['owner']} ({lock['purpose'] or '-'}) until {lock['lease_until']}"
            + (", paused for resume.yml" if lock.get("paused") else "")
            if lock.get("held")
            else "free"
        )
        out.append(
            f"{s['environment']}  {s['strategy']}"
            + (f"  live {s['live_colour']}" if s.get("live_colour") else "")
            + f"  drift: {s['drift']}  lock: {lock_text}"
        )
        if s.get("error"):
            out.append(f"  could not be read: {s['error']}")
        if s.get("missing"):
            out.append(f"  not provisioned: {', '.join(s['missing'])}")
        if s["drift"] not in ("none", "not provisioned") and s.get("drift_detail"):
            out.append(f"  drift: {s['drift_detail']}")
        for service in s["services"]:
            out.append(_service_line(service))
            for entry in service["ecs_services"]:
                out.extend(_ecs_line(entry))
        alarms = s.get("alarms") or {}
        if alarms.get("count"):
            out.append(
                f"  alarms: {alarms['count'] - len(alarms['in_alarm'])}/{alarms['count']} OK"
                + (f", in ALARM: {', '.join(alarms['in_alarm'])}" if alarms["in_alarm"] else "")
            )
        out.append("  last releases:" if s["releases"] else "  no release recorded")
        for r in s["releases"]:
            out.append(
                f"    {r['started_at'] or '?':27} {r['kind']:8} {r['outcome']:11} {r['note'] or ''}"
                + (f" from {r['source']}" if r["kind"] == "promote" else "")
                + f" by {r['who'] or '?'}"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"
