# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The alarm gate that follows a traffic shift."""

from __future__ import annotations

from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils._cloudwatch import api


def alarm_gate(cloudwatch: Any, names: list[str]) -> tuple[bool, str]:
    """Every named alarm exists and is OK."""
    if not names:
        return True, "no alarms to check"
    answer = api.describe_alarms(cloudwatch, names)
    alarms = answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", [])
    states = {a["AlarmName"]: a["StateValue"] for a in alarms}
    missing = [n for n in names if n not in states]
    if missing:
        return False, f"alarm(s) {', '.join(missing)} do not exist: the gate cannot pass on an alarm it cannot read"
    bad = {n: s for n, s in states.items() if s != "OK"}
    if bad:
        return False, "alarm(s) not OK: " + ", ".join(f"{n} is {s}" for n, s in sorted(bad.items()))
    return True, f"{len(names)} alarm(s) OK"
