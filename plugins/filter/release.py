# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/tasks/release.yml: what a release record keeps of ecs_promote's and alb_traffic's results."""

from __future__ import annotations

from ansible_collections.stageflow.aws.plugins.module_utils import release_report as report


class FilterModule:
    def filters(self):
        return {
            "release_service_summary": report.service_summary,
            "release_step_summary": report.step_summary,
            "release_short_image": report.short_image,
            "release_live_colour": report.live_colour,
            "release_images_after": report.images_after,
            "release_rollback_target": report.rollback_target,
        }
