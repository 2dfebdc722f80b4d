#!/usr/bin/python
# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_oidc_provider
short_description: Create, update or delete an IAM OpenID Connect identity provider
version_added: 0.1.0
description:
  - Manages an IAM OpenID Connect (OIDC) identity provider, such as GitHub Actions'
    C(https://token.actions.githubusercontent.com), so that roles can trust the tokens it issues. Neither amazon.aws
    nor community.aws manage OIDC providers.
  - The provider is found by listing the account's OIDC providers (C(iam:ListOpenIDConnectProviders)) and matching
    the ARN's C(oidc-provider/<url without https://>) suffix (the host case-insensitively), then read with
    C(iam:GetOpenIDConnectProvider); no STS call is needed.
  - An existing provider's client ids, thumbprints and tags are brought to what is asked with
    C(iam:AddClientIDToOpenIDConnectProvider), C(iam:RemoveClientIDFromOpenIDConnectProvider),
    C(iam:UpdateOpenIDConnectProviderThumbprint), C(iam:TagOpenIDConnectProvider) and
    C(iam:UntagOpenIDConnectProvider); its URL cannot change (a different URL is a different provider).
  - Every option is validated before any AWS call. In check mode only the two read calls are made, and RV(plan) says
    what a real run would do.
author:
  - Stageflow engineers (@stageflow)
options:
  url:
    description:
      - The provider's issuer URL, as in the C(iss) claim of its tokens. It must begin with C(https://), may have a
        path but no query or fragment, and is at most 255 characters long.
      - It identifies the provider; C(https://token.actions.githubusercontent.com) for GitHub Actions.
    type: str
    required: true
  client_ids:
    description:
      - The client ids (audiences) the provider accepts, each 1 to 255 characters, at most 100.
      - C(sts.amazonaws.com) is the audience of GitHub Actions' C(aws-actions/configure-aws-credentials).
    type: list
    elements: str
    default: [sts.amazonaws.com]
  purge_client_ids:
    description:
      - Remove client ids the provider has that are not in O(client_ids).
      - With V(false), O(client_ids) are added and none are removed.
    type: bool
    default: true
  thumbprints:
    description:
      - SHA-1 fingerprints of the provider's certificates, each 40 hexadecimal characters (compared case-insensitively),
        at most 5.
      - When omitted, none are sent on create and an existing provider's thumbprints are left as they are. IAM no
        longer needs them. It verifies a provider whose certificate is signed by a certificate authority in its trusted
        library (GitHub Actions' is) without them, and when none are given it retrieves and keeps the thumbprint of the
        provider's top intermediate certificate authority itself.
      - GitHub has published V(6938fd4d98bab03faadb97b34396831e3780aea1) for C(token.actions.githubusercontent.com),
        for those who want to pin it.
      - An empty list is refused; omit the option to leave the thumbprints to IAM.
    type: list
    elements: str
  state:
    description: Whether the provider exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Client ids and tag keys are case-sensitive; thumbprints are compared in lower case.
  - Tag keys beginning with C(aws:) are reserved by AWS and are neither set nor purged.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Trust GitHub Actions' OIDC tokens in this account
  stageflow.aws.iam_oidc_provider:
    url: https://token.actions.githubusercontent.com
    tags:
      Project: stageflow
  register: github_oidc

- name: Let the pipeline's workflows assume the deploy role
  amazon.aws.iam_role:
    name: stageflow-github-deploy
    assume_role_policy_document:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal:
            Federated: "{{ github_oidc.provider.arn }}"
          Action: sts:AssumeRoleWithWebIdentity
          Condition:
            StringEquals:
              token.actions.githubusercontent.com:aud: sts.amazonaws.com
            StringLike:
              token.actions.githubusercontent.com:sub: repo:example/webshop:*

- name: Pin GitHub's published thumbprint and accept one more audience, keeping the client ids it has
  stageflow.aws.iam_oidc_provider:
    url: https://token.actions.githubusercontent.com
    client_ids: [https://github.com/example]
    purge_client_ids: false
    thumbprints: [6938fd4d98bab03faadb97b34396831e3780aea1]

- name: Stop trusting the provider
  stageflow.aws.iam_oidc_provider:
    url: https://token.actions.githubusercontent.com
    state: absent
"""

RETURN = r"""
provider:
  description:
    - The provider after the run; in check mode, what it would be. Empty when O(state=absent).
    - RV(provider.arn) and RV(provider.create_date) are null for a provider check mode would create.
  returned: always
  type: dict
  contains:
    arn:
      description: The provider's ARN.
      type: str
      sample: arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com
    url:
      description: The provider's URL, with its C(https://).
      type: str
      sample: https://token.actions.githubusercontent.com
    client_ids:
      description: Its client ids, sorted.
      type: list
      elements: str
      sample: [sts.amazonaws.com]
    thumbprints:
      description: Its thumbprints, in lower case and sorted.
      type: list
      elements: str
      sample: [6938fd4d98bab03faadb97b34396831e3780aea1]
    tags:
      description: Its tags.
      type: dict
      sample: {"Project": "stageflow"}
    create_date:
      description: When it was created, in ISO 8601.
      type: str
      sample: "2025-01-31T09:30:00+00:00"
plan:
  description:
    - The changes made or, in check mode, that would be made, in order. Each has an C(action) (C(create),
      C(add_client_id), C(remove_client_id), C(update_thumbprints), C(tag), C(untag) or C(delete)), what it acts with
      (C(client_id), C(thumbprints), C(tags), C(tag_keys) ...) and a C(reason). Empty when nothing changes.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "add_client_id", "client_id": "https://github.com/example",
    "reason": "in client_ids but not on the provider"}]
"""

import re

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
    compare_aws_tags,
)
from ansible_collections.stageflow.aws.plugins.module_utils.retries import THROTTLING_CODES, aws_retry

SCHEME = "https://"
# IAM's limits: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html and
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
MAX_URL_LENGTH = 255
MAX_CLIENT_ID_LENGTH = 255
MAX_CLIENT_IDS = 100
MAX_THUMBPRINTS = 5
MAX_TAGS = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
THUMBPRINT = re.compile(r"[0-9a-fA-F]{40}")


class PlanError(Exception):
    """What was asked cannot be done to the provider as it is; nothing has been changed."""


# -- IAM calls, one small function each, retried on throttling ------------------------------------------------------


@aws_retry
def list_provider_arns(iam):
    return [entry["Arn"] for entry in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]


@aws_retry
def get_provider(iam, arn):
    try:
        return iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    except is_boto3_error_code("NoSuchEntity"):
        return None


# IAM is eventually consistent: a provider just created may not be readable for a few seconds.
@AWSRetry.jittered_backoff(retries=8, delay=1, max_delay=5, catch_extra_error_codes=[*THROTTLING_CODES, "NoSuchEntity"])
def get_new_provider(iam, arn):
    return iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)


@aws_retry
def create_provider(iam, url, client_ids, thumbprints, tags):
    kwargs = {"Url": url, "ClientIDList": client_ids}
    if thumbprints:  # optional in IAM's API: without it IAM keeps the top intermediate CA's thumbprint
        kwargs["ThumbprintList"] = thumbprints
    if tags:
        kwargs["Tags"] = ansible_dict_to_boto3_tag_list(tags)
    return iam.create_open_id_connect_provider(**kwargs)["OpenIDConnectProviderArn"]


@aws_retry
def add_client_id(iam, arn, client_id):
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID=client_id)


@aws_retry
def remove_client_id(iam, arn, client_id):
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID=client_id)


@aws_retry
def update_thumbprints(iam, arn, thumbprints):
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=thumbprints)


@aws_retry
def tag_provider(iam, arn, tags):
    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=ansible_dict_to_boto3_tag_list(tags))


@aws_retry
def untag_provider(iam, arn, tag_keys):
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=tag_keys)


@aws_retry
def delete_provider(iam, arn):
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


# -- validation and normalisation -----------------------------------------------------------------------------------


def unique(values):
    return list(dict.fromkeys(values))


def wanted_tags(tags):
    if tags is None:
        return None
    return {to_text(key): "" if value is None else to_text(value) for key, value in tags.items()}


def validate(params):
    """Every problem with the options, each naming the option and what is allowed; empty when all is well."""
    problems = []
    url = params["url"]
    host = url[len(SCHEME) :].split("/", 1)[0]
    if not url.startswith(SCHEME):
        problems.append(f"url must begin with https:// (got {url!r})")
    elif not host:
        problems.append(f"url must name a host after https:// (got {url!r})")
    elif re.search(r"[:@]", host):
        problems.append(f"url may not have a port number or user name, only a host and a path (got {url!r})")
    if "?" in url or "#" in url:
        problems.append(f"url may have a path but no query (?) or fragment (#) (got {url!r})")
    if re.search(r"\s", url):
        problems.append(f"url may not contain white space (got {url!r})")
    if len(url) > MAX_URL_LENGTH:
        problems.append(f"url is {len(url)} characters long; at most {MAX_URL_LENGTH} are allowed")

    client_ids = params["client_ids"]
    for index, client_id in enumerate(client_ids):
        if not 1 <= len(client_id) <= MAX_CLIENT_ID_LENGTH:
            problems.append(
                f"client_ids[{index}] is {len(client_id)} characters long; each client id must be 1 to "
                f"{MAX_CLIENT_ID_LENGTH} characters"
            )
    if len(unique(client_ids)) > MAX_CLIENT_IDS:
        problems.append(
            f"client_ids has {len(unique(client_ids))} distinct entries; a provider may have at most {MAX_CLIENT_IDS}"
        )

    thumbprints = params["thumbprints"]
    if thumbprints == []:
        problems.append("thumbprints may not be an empty list; omit it to leave the thumbprints to IAM")
    if thumbprints is not None:
        for index, thumbprint in enumerate(thumbprints):
            if not THUMBPRINT.fullmatch(thumbprint):
                problems.append(
                    f"thumbprints[{index}] ({thumbprint!r}) is not a SHA-1 fingerprint of 40 hexadecimal characters, "
                    "like 6938fd4d98bab03faadb97b34396831e3780aea1"
                )
        if len(unique(t.lower() for t in thumbprints)) > MAX_THUMBPRINTS:
            problems.append(
                f"thumbprints has {len(unique(t.lower() for t in thumbprints))} distinct entries; a provider may have "
                f"at most {MAX_THUMBPRINTS}"
            )

    tags = wanted_tags(params["tags"])
    if tags is not None:
        if len(tags) > MAX_TAGS:
            problems.append(f"tags has {len(tags)} entries; IAM allows at most {MAX_TAGS} per resource")
        for key, value in tags.items():
            if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
                problems.append(f"tags key {key!r} must be 1 to {MAX_TAG_KEY_LENGTH} characters long")
            elif key.lower().startswith("aws:"):
                problems.append(f"tags key {key!r} begins with aws:, which AWS reserves")
            if len(value) > MAX_TAG_VALUE_LENGTH:
                problems.append(f"tags value of {key!r} is over {MAX_TAG_VALUE_LENGTH} characters long")
    return problems


def provider_identity(url_without_scheme):
    """What IAM tells providers apart by: the URL without https://, its host case-insensitively."""
    host, slash, path = url_without_scheme.partition("/")
    return host.lower() + slash + path


def find_provider_arn(iam, url):
    wanted = provider_identity(url[len(SCHEME) :])
    for arn in list_provider_arns(iam):
        resource = arn.split(":", 5)[-1]
        if resource.startswith("oidc-provider/") and provider_identity(resource[len("oidc-provider/") :]) == wanted:
            return arn
    return None


def describe(arn, answer):
    created = answer.get("CreateDate")
    return {
        "arn": arn,
        "url": SCHEME + answer["Url"],
        "client_ids": sorted(answer.get("ClientIDList") or []),
        "thumbprints": sorted({t.lower() for t in answer.get("ThumbprintList") or []}),
        "tags": boto3_tag_list_to_ansible_dict(answer.get("Tags") or []),
        "create_date": created.isoformat() if hasattr(created, "isoformat") else created,
    }


def comparable(provider):
    if not provider:
        return {}
    return {key: provider[key] for key in ("url", "client_ids", "thumbprints", "tags")}


# -- plan and apply -------------------------------------------------------------------------------------------------


def plan_present(params, current):
    """The steps that bring `current` (None when missing) to what `params` ask, and the provider they leave."""
    client_ids = unique(params["client_ids"])
    thumbprints = None if params["thumbprints"] is None else sorted({t.lower() for t in params["thumbprints"]})
    tags = wanted_tags(params["tags"])
    if current is None:
        step = {"action": "create", "url": params["url"], "client_ids": client_ids, "thumbprints": thumbprints or []}
        step.update(tags=tags or {}, reason=f"no OIDC provider for {params['url']} exists")
        after = {"arn": None, "url": params["url"], "client_ids": sorted(client_ids), "thumbprints": thumbprints or []}
        after.update(tags=tags or {}, create_date=None)
        return [step], after

    steps = []
    after = dict(current)
    for client_id in client_ids:
        if client_id not in current["client_ids"]:
            steps.append(
                {"action": "add_client_id", "client_id": client_id, "reason": "in client_ids but not on the provider"}
            )
    if params["purge_client_ids"]:
        for client_id in current["client_ids"]:
            if client_id not in client_ids:
                reason = "on the provider but not in client_ids (purge_client_ids=true)"
                steps.append({"action": "remove_client_id", "client_id": client_id, "reason": reason})
        after["client_ids"] = sorted(client_ids)
    else:
        after["client_ids"] = sorted(set(current["client_ids"]) | set(client_ids))
    if len(after["client_ids"]) > MAX_CLIENT_IDS:
        raise PlanError(
            f"the provider has {len(current['client_ids'])} client ids; adding client_ids without purge_client_ids "
            f"would make {len(after['client_ids'])}, and a provider may have at most {MAX_CLIENT_IDS}"
        )

    if thumbprints is not None and thumbprints != current["thumbprints"]:
        steps.append(
            {
                "action": "update_thumbprints",
                "thumbprints": thumbprints,
                "reason": f"the provider has {current['thumbprints']}",
            }
        )
        after["thumbprints"] = thumbprints

    if tags is not None:
        to_set, to_unset = compare_aws_tags(current["tags"], tags, params["purge_tags"])
        if to_set:
            changed_keys = sorted(to_set)
            steps.append({"action": "tag", "tags": to_set, "reason": f"tags {changed_keys} are missing or differ"})
        if to_unset:
            steps.append({"action": "untag", "tag_keys": sorted(to_unset), "reason": "not in tags (purge_tags=true)"})
        after["tags"] = {k: v for k, v in {**current["tags"], **to_set}.items() if k not in to_unset}
    return steps, after


def apply(iam, arn, steps, done):
    """Makes each step's call in order, appending it to `done`; returns the provider's ARN."""
    for step in steps:
        action = step["action"]
        if action == "create":
            arn = create_provider(iam, step["url"], step["client_ids"], step["thumbprints"], step["tags"])
        elif action == "add_client_id":
            add_client_id(iam, arn, step["client_id"])
        elif action == "remove_client_id":
            remove_client_id(iam, arn, step["client_id"])
        elif action == "update_thumbprints":
            update_thumbprints(iam, arn, step["thumbprints"])
        elif action == "tag":
            tag_provider(iam, arn, step["tags"])
        elif action == "untag":
            untag_provider(iam, arn, step["tag_keys"])
        elif action == "delete":
            delete_provider(iam, arn)
        done.append(step)
    return arn


def run(iam, params, check_mode, done):
    """Returns (changed, before, after, plan); `before` and `after` are providers or None."""
    arn = find_provider_arn(iam, params["url"])
    answer = get_provider(iam, arn) if arn else None
    before = describe(arn, answer) if answer else None

    if params["state"] == "absent":
        if before is None:
            return False, None, None, []
        steps = [{"action": "delete", "arn": arn, "reason": "state=absent"}]
        if not check_mode:
            apply(iam, arn, steps, done)
        return True, before, None, steps

    steps, after = plan_present(params, before)
    if not steps or check_mode:
        return bool(steps), before, after, steps
    arn = apply(iam, arn, steps, done)
    reread = get_new_provider(iam, arn) if before is None else get_provider(iam, arn)
    return True, before, describe(arn, reread) if reread else after, steps


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            client_ids=dict(type="list", elements="str", default=["sts.amazonaws.com"]),
            purge_client_ids=dict(type="bool", default=True),
            thumbprints=dict(type="list", elements="str"),
            tags=dict(type="dict", aliases=["resource_tags"]),
            purge_tags=dict(type="bool", default=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    problems = validate(params)
    if problems:
        module.fail_json(msg="Invalid options: " + "; ".join(problems), problems=problems)

    iam = module.client("iam")
    done = []
    try:
        changed, before, after, steps = run(iam, params, module.check_mode, done)
    except PlanError as exc:
        module.fail_json(msg=f"OIDC provider {params['url']}: {exc}")
    except (BotoCoreError, ClientError) as exc:
        if done:
            summary = ", ".join(step["action"] for step in done)
            message = f"OIDC provider {params['url']}: a call failed after these changes were made: {summary}"
        else:
            message = f"OIDC provider {params['url']} could not be read or changed; nothing was changed"
        module.fail_json_aws(exc, msg=message, done=done)

    result = {"changed": changed, "provider": after or {}, "plan": steps}
    if module._diff:
        result["diff"] = {"before": comparable(before), "after": comparable(after)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
