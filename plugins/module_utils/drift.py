# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift between an environment's settings and what is live: pure comparisons, no AWS call."""

from __future__ import annotations

from typing import Any


def _same(expected: Any, live: Any) -> bool:
    if isinstance(expected, (int, float)) and isinstance(live, (int, float)) and not isinstance(expected, bool):
        return float(expected) == float(live)
    return str(expected) == str(live) if not isinstance(expected, bool) else expected == live


def items(checks: list[dict[str, Any]], environment: str) -> list[dict[str, Any]]:
    """The checks whose live value differs from the expected one, labelled with the environment."""
    return [{"environment": environment, **check} for check in checks if not _same(check["expected"], check["live"])]


def service_checks(service: dict[str, Any], desired: int) -> list[dict[str, Any]]:
    name = f"service {service.get('serviceName')}"
    breaker = (service.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    return [
        {
            "resource": name,
            "setting": "env_config.desired_capacity",
            "expected": desired,
            "live": service.get("desiredCount"),
        },
        {
            "resource": name,
            "setting": "circuit breaker with rollback",
            "expected": True,
            "live": bool(breaker.get("enable") and breaker.get("rollback")),
        },
    ]


def target_group_checks(
    group: dict[str, Any], health_check: dict[str, Any], paths: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """A target group's health check against the settings; `paths` gives a service's own health path by group name."""
    path = (paths or {}).get(group.get("target_group_name"))
    if path:
        health_check = {**health_check, "path": path}
    name = f"target group {group.get('target_group_name')}"
    fields = {
        "path": "health_check_path",
        "interval": "health_check_interval_seconds",
        "timeout": "health_check_timeout_seconds",
        "healthy_threshold": "healthy_threshold_count",
        "unhealthy_threshold": "unhealthy_threshold_count",
        "port": "health_check_port",
    }
    checks = [
        {
            "resource": name,
            "setting": f"target_group_health_check.{key}",
            "expected": health_check[key],
            "live": group.get(live_key),
        }
        for key, live_key in fields.items()
    ]
    checks.append(
        {
            "resource": name,
            "setting": "target_group_health_check.matcher",
            "expected": health_check["matcher"],
            "live": (group.get("matcher") or {}).get("http_code"),
        }
    )
    return checks


def line(item: dict[str, Any]) -> str:
    return (
        f"{item['environment']}: {item['resource']}: {item['setting']} is {item['live']!r} live, "
        f"{item['expected']!r} in the inventory"
    )
