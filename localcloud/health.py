"""An HTTP health endpoint per load balancer, answering like the release it routes to.

A request to /_localcloud/lb/<load-balancer-name>/<path> is routed the way the ALB
routes it: the listener (port 80 unless ?port= says otherwise) evaluates its rules by
priority (path-pattern conditions), follows redirects to another listener, and a
weighted forward picks a target group by its weights. The answer then comes from the
targets of that group: 200 from a healthy release, 500 from a release marked
unhealthy, 503 when the group has no registered targets (as an ALB answers).
"""

from __future__ import annotations

import fnmatch
import json
import random
from typing import Any

from moto.elbv2.models import elbv2_backends

from .ecs import EcsEmulator

MAX_REDIRECTS = 3


def _find_load_balancer(name: str) -> tuple[Any, Any] | None:
    for _account, regions in list(elbv2_backends.items()):
        for _region, backend in list(regions.items()):
            for lb in backend.load_balancers.values():
                if lb.name == name or lb.arn == name:
                    return backend, lb
    return None


def _rule_matches(rule: Any, path: str) -> bool:
    for condition in rule.conditions or []:
        field = condition.get("Field")
        if field != "path-pattern":
            return False
        values = condition.get("Values") or (condition.get("PathPatternConfig") or {}).get("Values") or []
        if not any(fnmatch.fnmatchcase(path, v) for v in values):
            return False
    return True


def _actions_for(listener: Any, path: str) -> list[dict[str, Any]]:
    rules = sorted(
        (r for r in listener.rules.values() if not r.is_default),
        key=lambda r: int(r.priority),
    )
    for rule in rules:
        if _rule_matches(rule, path):
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


def answer(emulator: EcsEmulator, rng: random.Random, lb_name: str, path: str, port: int) -> tuple[int, dict[str, Any]]:
    """Return (HTTP status, JSON body) for one request through the named load balancer."""
    found = _find_load_balancer(lb_name)
    if found is None:
        return 404, {"error": f"no load balancer named '{lb_name}'"}
    backend, lb = found
    for _hop in range(MAX_REDIRECTS + 1):
        listener = next((li for li in lb.listeners.values() if int(li.port) == port), None)
        if listener is None:
            return 503, {"error": f"load balancer '{lb.name}' has no listener on port {port}"}
        actions = _actions_for(listener, path)
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
