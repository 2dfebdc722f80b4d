#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: environment_check
short_description: Validate Stageflow environments before any AWS call
version_added: 0.1.0
description:
  - Checks environments' settings against a schema (the C(stageflow.aws.validate) role's C(environment) argument spec),
    with ranges, CIDR rules, overlaps across all environments, policies and the direction of a promotion.
  - Checks what AWS would refuse, known from the settings alone - every AWS name derived for the environment against
    its service's rules (length and characters), and whether a task, and a release's busiest moment, fit the
    environment's instances as ECS registers them.
  - Reports every problem at once; each message names the environment, the setting, the value and what is allowed.
  - Makes no AWS call. Normally used through the C(stageflow.aws.validate) role.
author:
  - Stageflow engineers (@stageflow)
options:
  environments:
    description: Names of the environments to check.
    type: list
    elements: raw
    required: true
  hosts_vars:
    description:
      - Every known environment's settings, by environment name - the keys of I(spec) its inventory host has (the
        C(stageflow.aws.environment_vars) filter with those keys), and C(group_names).
      - Give only those, never all the host's variables - they hold every extra and vaulted variable, and a module's
        arguments are shown at C(-vvv) and in AWX's job events. Settings I(spec) marks C(no_log) go in
        I(secret_settings).
    type: dict
    required: true
  secret_settings:
    description:
      - The settings I(spec) marks C(no_log) (secrets such as C(notification_webhook_url)), by environment name. Checked
        like the others; never logged, and no message shows their values.
    type: dict
    default: {}
  spec:
    description: The settings schema, in argument-spec form (options with type, required, choices, elements, options).
    type: dict
    required: true
  policies:
    description: Rules, each with C(environments), C(setting) (a dotted path), C(equals) and an optional C(why).
    type: list
    elements: raw
    default: []
  declared:
    description:
      - The inventory's group_vars and host_vars files, each with C(file), C(scope) (the group or host) and C(keys)
        (its top-level keys); a key that is not a setting is reported as a typo.
      - Comes from the C(stageflow.aws.environment_settings_files) filter.
    type: list
    elements: dict
    default: []
  promotion:
    description: A promotion to check, with C(source), C(target) (null for the next environment) and
      C(allow_non_adjacent).
    type: dict
  checks:
    description:
      - What to check. C(settings) is the schema, ranges, CIDR rules, overlaps, policies and the promotion; C(names)
        the AWS names derived from the settings (C(resource_names) and the names the roles derive); C(capacity)
        whether the tasks fit the instance type.
      - Without C(settings), I(hosts_vars) needs only what the other checks read (a would-be environment's names).
    type: list
    elements: str
    choices: [settings, names, capacity]
    default: [settings, names, capacity]
notes:
  - Supports check mode; it changes nothing in either mode.
attributes:
  check_mode:
    description: Can run in check mode and return the same result.
    support: full
  diff_mode:
    description: Returns no diff; it changes nothing.
    support: none
"""

EXAMPLES = r"""
- name: Check prod before provisioning it
  stageflow.aws.environment_check:
    environments: [prod]
    hosts_vars: "{{ groups['environments'] | stageflow.aws.environment_vars(hostvars, (spec.keys() | difference(secrets)) + ['group_names']) }}"
    secret_settings: "{{ groups['environments'] | stageflow.aws.environment_vars(hostvars, secrets) }}"
    spec: "{{ spec }}"
    policies: "{{ environment_policies }}"
    promotion:
      source: staging
  vars:
    spec: "{{ (lookup('ansible.builtin.file', 'roles/validate/meta/argument_specs.yml') | from_yaml).argument_specs.environment.options }}"
    secrets: "{{ spec | dict2items | selectattr('value.no_log', 'defined') | selectattr('value.no_log') | map(attribute='key') | list }}"

- name: Check the AWS names a feature environment would get, before it exists
  stageflow.aws.environment_check:
    environments: [feature-login]
    hosts_vars: {feature-login: {environment_name: feature-login, app_name: webshop, resource_names: "{{ resource_names }}"}}
    spec: {}
    checks: [names]
  vars:
    environment_name: feature-login
"""

RETURN = r"""
environments:
  description: The environments checked.
  returned: success
  type: list
  elements: str
  sample: [prod]
promotion:
  description: The promotion checked, with its target resolved from the promotion order.
  returned: when I(promotion.source) is set
  type: dict
  sample: {"source": "staging", "target": "prod"}
errors:
  description: Every problem found.
  returned: failure
  type: list
  elements: str
  sample:
    - "environment 'prod': setting 'database.multi_az' is False; the policy requires True"
    - "environment 'feature-averyveryverylongname': load balancer name 'feature-averyveryverylongname-webshop-alb'
      (resource_names.alb) is 43 characters; AWS allows at most 32 (Elastic Load Balancing); shorten the
      environment's name (at most 18 characters with app_name 'webshop') or app_name"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stageflow.aws.plugins.module_utils.environments import CHECKS, validate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            environments=dict(type="list", elements="raw", required=True),
            hosts_vars=dict(type="dict", required=True),
            secret_settings=dict(type="dict", default={}, no_log=True),
            spec=dict(type="dict", required=True),
            policies=dict(type="list", elements="raw", default=[]),
            promotion=dict(type="dict"),
            declared=dict(type="list", elements="dict", default=[]),
            checks=dict(type="list", elements="str", choices=list(CHECKS), default=list(CHECKS)),
        ),
        supports_check_mode=True,
    )
    errors, facts = validate(
        module.params["environments"],
        module.params["hosts_vars"],
        module.params["spec"],
        module.params["policies"],
        module.params["promotion"],
        module.params["declared"],
        module.params["checks"],
        module.params["secret_settings"],
    )
    if errors:
        module.fail_json(
            msg=f"{len(errors)} problem(s) in the environments' settings:\n- " + "\n- ".join(errors),
            errors=errors,
        )
    module.exit_json(changed=False, **facts)


if __name__ == "__main__":
    main()
