# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter of playbooks/preflight.yml: what real AWS would refuse, from the settings and what was read."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.stageflow.aws.plugins.module_utils import preflight


def checked(name, values, live):
    if not isinstance(values, Mapping) or not isinstance(live, Mapping):
        raise AnsibleFilterError(f"{name}: the settings and what was read must both be mappings")
    env = values.get("environment_name")
    if not isinstance(env, str) or not env:
        raise AnsibleFilterError(f"{name}: the settings have no environment_name")
    return env


def preflight_blockers(values, live):
    env = checked("preflight_blockers", values, live)
    return preflight.blockers(env, values, dict(live))


def preflight_reads(values, live):
    checked("preflight_reads", values, live)
    return preflight.reads(values, dict(live))


class FilterModule:
    def filters(self):
        return {"preflight_blockers": preflight_blockers, "preflight_reads": preflight_reads}
