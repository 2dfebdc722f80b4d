# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/tasks/release.yml: what a release record keeps of ecs_promote's and alb_traffic's results."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.stageflow.aws.plugins.module_utils import release_report as report


def _refusing(function):
    """A filter whose ValueError is the user's message."""

    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except ValueError as exc:
            raise AnsibleFilterError(str(exc)) from exc

    wrapped.__name__ = function.__name__
    return wrapped


class FilterModule:
    def filters(self):
        return {
            "release_service_summary": report.service_summary,
            "release_step_summary": report.step_summary,
            "release_short_image": report.short_image,
            "release_images_after": report.images_after,
            "release_rollback_target": report.rollback_target,
            "release_units": _refusing(report.release_units),
            "release_service_images": _refusing(report.release_service_images),
            "release_sources": _refusing(report.release_sources),
            "release_step_rules": report.step_rules,
            "release_colour_rules": report.colour_rules,
            "release_restore_rules": report.restore_rules,
            "release_rules_weights": report.rules_weights,
        }
