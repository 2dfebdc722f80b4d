# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/drift.yml: build the checks of live resources and keep those that drifted."""

from __future__ import annotations

from ansible_collections.stageflow.aws.plugins.module_utils import drift


class FilterModule:
    def filters(self):
        return {
            "drift_items": drift.items,
            "drift_service": drift.service_checks,
            "drift_target_group": drift.target_group_checks,
            "drift_line": drift.line,
        }
