# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/status.yml and the release role: the live status and a release for people (text, HTML)."""

from __future__ import annotations

from ansible_collections.stageflow.aws.plugins.module_utils import html_report, status


class FilterModule:
    def filters(self):
        return {
            "status_text": status.text,
            "status_html": html_report.status_html,
            "release_html": html_report.release_html,
        }
