# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/status.yml: the environments' live status for people."""

from __future__ import annotations

from ansible_collections.stageflow.aws.plugins.module_utils import status


class FilterModule:
    def filters(self):
        return {"status_text": status.text}
