"""An HTTP health endpoint per load balancer, answering like the release it routes to.

A request to /_localcloud/lb/<host>/<path> reaches a load balancer as DNS and HTTP would
reach it: <host> is the load balancer's name, its DNS name, or a name in a Route 53 hosted
zone (private or public) whose A/AAAA alias or CNAME record points at its DNS name. It is
then routed the way the ALB routes it: the listener (port 80 unless ?port= says otherwise)
evaluates its rules by priority (path-pattern and host-header conditions; the host is the
request's Host header, else the DNS name asked for), follows redirects to another listener,
and a weighted forward picks a target group by its weights. The answer then comes from the
targets of that group: 200 from a healthy release, 500 from a release marked unhealthy,
503 when the group has no registered targets (as an ALB answers).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from moto.elbv2.models import elbv2_backends
from moto.route53.models import route53_backends

from .ecs import EcsEmulator

MAX_REDIRECTS = 3
ALIAS_RECORD_TYPES = ("A", "AAAA")


@dataclass(frozen=True)
class Resolved:
    backend: Any
    load_balancer: Any
    dns_name: str | None  # the DNS name the request asked for (the Host a client would send), None for a name


def _dns(name: str) -> str:
    """A DNS name as DNS compares it: case-insensitive, without the root's trailing dot."""
    return name.lower().rstrip(".")


def _load_balancers() -> Iterator[tuple[Any, Any]]:
    for _account, regions in list(elbv2_backends.items()):
        for _region, backend in list(regions.items()):
            for lb in list(backend.load_balancers.values()):
                yield backend, lb


def _record_target(record: Any) -> str | None:
    """The DNS name an A/AAAA alias or a CNAME record points at; an alias to a load balancer may say dualstack."""
    if record.type in ALIAS_RECORD_TYPES and record.alias_target:
        return _dns(record.alias_target.get("DNSName", "")).removeprefix("dualstack.")
    if record.type == "CNAME" and record.records:
        return _dns(record.records[0])
    return None


def _route53_targets(name: str, private: bool = False) -> list[str]:
    """Where the records named `name` point, in the public hosted zones (or, with `private`, the private ones)."""
    targets = []
    for _account, partitions in list(route53_backends.items()):
        for _partition, backend in list(partitions.items()):
            for zone in list(backend.zones.values()):
                if bool(zone.private_zone) != private:
                    continue
                records = (r for r in list(zone.rrsets) if _dns(r.name) == name)
                targets.extend(t for t in map(_record_target, records) if t)
    return targets


def resolve(host: str) -> Resolved | str:
    """The load balancer `host` names, or why none: tried as its name or ARN, its DNS name, then the records of public
    Route 53 zones (a private zone does not resolve outside its VPCs, where the health URL is asked from)."""
    for backend, lb in _load_balancers():
        if host in (lb.name, lb.arn):
            return Resolved(backend, lb, None)
    name = _dns(host)
    by_dns = {_dns(lb.dns_name): (backend, lb) for backend, lb in _load_balancers()}
    if name in by_dns:
        return Resolved(*by_dns[name], name)
    targets = _route53_targets(name)
    for target in targets:
        if target in by_dns:
            return Resolved(*by_dns[target], name)
    if targets:
        return f"the Route 53 record '{name}' points at {', '.join(targets)}: no load balancer has that DNS name"
    if _route53_targets(name, private=True):
        # The health URL is asked from outside every VPC, as the controller asks it; a private zone answers only
        # inside the VPCs it is associated with.
        return (
            f"'{host}' is only in a private hosted zone, which resolves inside its VPCs, not where this request "
            "comes from: ask the load balancer's DNS name with the domain as the Host header"
        )
    return (
        f"no load balancer for '{host}': tried load balancer names, load balancer DNS names, "
        "and Route 53 A/AAAA alias and CNAME records"
    )


def requested_host(http_host: str) -> str | None:
    """The host a request's Host header names, None when it names the local cloud itself (loopback)."""
    hostname = http_host[1:].partition("]")[0] if http_host.startswith("[") else http_host.partition(":")[0]
    if not hostname or hostname.lower() == "localhost":
        return None
    try:
        return None if ipaddress.ip_address(hostname).is_loopback else hostname
    except ValueError:
        return _dns(hostname)


def _condition_values(condition: dict[str, Any], config_key: str) -> list[str]:
    return condition.get("Values") or (condition.get(config_key) or {}).get("Values") or []


def _rule_matches(rule: Any, path: str, host: str | None) -> bool:
    for condition in rule.conditions or []:
        field = condition.get("Field")
        if field == "path-pattern":
            subject, patterns = path, _condition_values(condition, "PathPatternConfig")
        elif field == "host-header" and host is not None:
            subject, patterns = host, [_dns(v) for v in _condition_values(condition, "HostHeaderConfig")]
        else:
            return False
        if not any(fnmatch.fnmatchcase(subject, pattern) for pattern in patterns):
            return False
    return True


def _actions_for(listener: Any, path: str, host: str | None) -> list[dict[str, Any]]:
    rules = sorted(
        (r for r in listener.rules.values() if not r.is_default),
        key=lambda r: int(r.priority),
    )
    for rule in rules:
        if _rule_matches(rule, path, host):
            return [a.data if hasattr(a, "data") else a for a in rule.actions]
    return [a.data if hasattr(a, "data") else a for a in listener.default_actions]


def _pick_target_group(action: dict[str, Any], rng: random.Random) -> str | None:
    forward = action.get("ForwardConfig") or {}
    groups = forward.get("TargetGroups") or []
    if groups:
        weights = [int(g.get("Weight", 1)) for g in groups]
        if sum(weights) == 0:
            return None
        return rng.choices([g["TargetGroupArn"] for g in groups], weights=weights)[0]
    return action.get("TargetGroupArn")


def answer(
    emulator: EcsEmulator,
    rng: random.Random,
    target: str,
    path: str,
    port: int,
    host_header: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Return (HTTP status, JSON body) for one request through the load balancer `target` names (see resolve).

    Host-header rules see `host_header` when the caller sent one, else the DNS name `target` is."""
    found = resolve(target)
    if isinstance(found, str):
        return 404, {"error": found}
    backend, lb = found.backend, found.load_balancer
    host = host_header or found.dns_name
    for _hop in range(MAX_REDIRECTS + 1):
        listener = next((li for li in lb.listeners.values() if int(li.port) == port), None)
        if listener is None:
            return 503, {"error": f"load balancer '{lb.name}' has no listener on port {port}"}
        actions = _actions_for(listener, path, host)
        action = next((a for a in actions if a.get("Type") in ("forward", "redirect", "fixed-response")), None)
        if action is None:
            return 503, {"error": "no routable action"}
        if action["Type"] == "redirect":
            port = int((action.get("RedirectConfig") or {}).get("Port") or 443)
            continue
        if action["Type"] == "fixed-response":
            config = action.get("FixedResponseConfig") or {}
            return int(config.get("StatusCode", 503)), {"fixed_response": config.get("MessageBody", "")}
        tg_arn = _pick_target_group(action, rng)
        tg = backend.target_groups.get(tg_arn) if tg_arn else None
        if tg is None:
            return 503, {"error": "503 Service Temporarily Unavailable", "reason": "no target group with weight"}
        return _answer_from_group(emulator, backend, tg, rng)
    return 503, {"error": "too many redirects"}


def _answer_from_group(emulator: EcsEmulator, backend: Any, tg: Any, rng: random.Random) -> tuple[int, dict[str, Any]]:
    if not tg.targets:
        return 503, {"error": "503 Service Temporarily Unavailable", "target_group": tg.name, "reason": "no targets"}
    health = {tid: tg.health_for(t, backend.ec2_backend).status for tid, t in tg.targets.items()}
    healthy = [tid for tid, state in health.items() if state == "healthy"]
    # An ALB fails open: with no healthy target it routes to all of them.
    chosen = rng.choice(sorted(healthy or health))
    release = emulator.release_of_target(tg, chosen)
    body: dict[str, Any] = {"target_group": tg.name, "target": chosen, "target_health": health[chosen]}
    if release is not None:
        task, images = release
        body.update({"task_definition": task.task_definition_arn, "images": images})
    if health[chosen] == "unhealthy":
        return 500, {**body, "status": "failing"}
    return 200, {**body, "status": "ok"}


def to_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True).encode()
