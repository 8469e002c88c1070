"""Several services behind one endpoint, through real clients against a real (API-only) ec2d:
STS in the query protocol, the Price List in JSON 1.1, the service chosen by the credential scope,
unknown services and actions answered in their protocol's error shape, and DryRun decided after
the caller's permission is known.

The server runs in this process on loopback (``make_app`` on a fresh data dir, no runtime, so no
guest and no host network object), so a test can mint an instance's identity credentials the way
the metadata service does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from loopback_api import LoopbackApi
from record_samples import sample

from orchestrator.config import Config
from orchestrator.domain import instance_types
from orchestrator.services import sts
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

AWS = str(Path(sys.executable).parent / "aws")
INSTANCE = "i-0123456789abcdef0"


class LocalApi(LoopbackApi):
    """The API app on loopback (``loopback_api``), with an instance's identity credentials at hand."""

    def identity(self) -> dict[str, str]:
        """An instance's identity credentials, as its metadata service hands them out."""
        if self.backend.store.get(INSTANCE, "instance") is None:
            self.backend.store.insert(Record(id=INSTANCE, type="instance", region="us-east-1", state="pending",
                                             data=sample("instance")))
            self.backend.store.transition(INSTANCE, "pending", "running")
        c = self.backend.sessions.for_owner(INSTANCE)
        return {"aws_access_key_id": c.access_key_id, "aws_secret_access_key": c.secret_access_key,
                "aws_session_token": c.token}

    def client(self, service: str, creds: dict[str, str] | None = None, region: str = "us-east-1") -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.url,
                            config=BotoConfig(retries={"max_attempts": 1}), **(creds or self.root))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    backend = Backend.open(Config(data_dir=tmp_path_factory.mktemp("services"), instances=False))
    server = LocalApi(backend).start()
    yield server
    server.stop()
    backend.close()


def refused(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def send(api: LocalApi, scope: str, body: bytes, headers: dict[str, str] | None = None,
         rewrite: tuple[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` signed by botocore for the credential scope ``scope`` (then ``rewrite`` applied
    to the Authorization header, to forge a signature made for another scope)."""
    import http.client

    c = api.backend.credentials
    request = AWSRequest(method="POST", url=api.url + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
    SigV4Auth(Credentials(c.access_key_id, c.secret_access_key), scope, "us-east-1").add_auth(request)
    prepared = dict(request.prepare().headers.items())
    if rewrite is not None:
        prepared["Authorization"] = prepared["Authorization"].replace(*rewrite)
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    conn.request("POST", "/", body=body, headers=prepared)
    response = conn.getresponse()
    out = (response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    conn.close()
    return out


def parse_error(protocol: str, status: int, headers: dict[str, str], body: bytes) -> tuple[str, str]:
    """The (code, message) botocore's parser for ``protocol`` reads from an error response."""
    parsed = create_parser(protocol).parse({"body": body, "headers": headers, "status_code": status}, None)
    return parsed["Error"]["Code"], parsed["Error"]["Message"]


# ------------------------------------------------------------------------------------------ STS


def test_get_caller_identity_for_root(api: LocalApi) -> None:
    got = api.client("sts").get_caller_identity()
    account = api.backend.account_id
    assert (got["Account"], got["Arn"], got["UserId"]) == (account, f"arn:aws:iam::{account}:root", account)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200 and got["ResponseMetadata"]["RequestId"]


def test_get_caller_identity_for_an_instance_identity(api: LocalApi) -> None:
    got = api.client("sts", api.identity()).get_caller_identity()
    account = api.backend.account_id
    assert got["Account"] == account
    assert got["Arn"] == f"arn:aws:sts::{account}:assumed-role/aws:ec2-instance/{INSTANCE}"
    role = sts.role_id(account, "aws:ec2-instance")
    assert got["UserId"] == f"{role}:{INSTANCE}" and role.startswith("AROA") and len(role) == 21


def test_aws_cli_sts_get_caller_identity(api: LocalApi, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
                "AWS_ACCESS_KEY_ID": api.root["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": api.root["aws_secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1"})
    out = subprocess.run([AWS, "--endpoint-url", api.url, "--output", "json", "sts", "get-caller-identity"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    account = api.backend.account_id
    assert json.loads(out.stdout) == {"UserId": account, "Account": account, "Arn": f"arn:aws:iam::{account}:root"}


def test_sts_errors_are_query_errors(api: LocalApi) -> None:
    bad_key = {"aws_access_key_id": "AKIAUNKNOWNUNKNOWN00", "aws_secret_access_key": "x" * 40}
    assert refused(api.client("sts", bad_key).get_caller_identity)[:2] == (403, "InvalidClientTokenId")
    wrong_secret = {**api.root, "aws_secret_access_key": "y" * 40}
    assert refused(api.client("sts", wrong_secret).get_caller_identity)[:2] == (403, "SignatureDoesNotMatch")
    # an STS action ec2d does not implement yet, and one STS does not have
    status, code, message = refused(lambda: api.client("sts").get_session_token())
    assert (status, code, message) == (400, "InvalidAction", "The action GetSessionToken is not supported by ec2d yet.")
    status, headers, body = send(api, "sts", b"Action=FlyToTheMoon&Version=2011-06-15")
    assert status == 400 and body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse')
    assert parse_error("query", status, headers, body) == (
        "InvalidAction", "Could not find operation FlyToTheMoon for version 2011-06-15")


# ------------------------------------------------------------------------------------- Price List


def test_price_list_describes_what_ec2d_sells(api: LocalApi) -> None:
    pricing = api.client("pricing")
    got = pricing.describe_services()
    assert got["FormatVersion"] == "aws_v1"
    assert [s["ServiceCode"] for s in got["Services"]] == ["AmazonEC2", "AmazonVPC"]
    assert {"instanceType", "vcpu", "memory", "regionCode", "volumeApiName"} <= set(got["Services"][0]["AttributeNames"])
    assert pricing.describe_services(ServiceCode="AmazonS3")["Services"] == []
    pages = pricing.get_paginator("get_attribute_values").paginate(
        ServiceCode="AmazonEC2", AttributeName="instanceType", PaginationConfig={"PageSize": 5})
    values = [v["Value"] for page in pages for v in page["AttributeValues"]]
    assert values == sorted(instance_types.CATALOGUE)
    regions = pricing.get_attribute_values(ServiceCode="AmazonEC2", AttributeName="regionCode")["AttributeValues"]
    assert [v["Value"] for v in regions] == sorted(api.backend.regions.regions)
    memory = pricing.get_attribute_values(ServiceCode="AmazonEC2", AttributeName="memory")["AttributeValues"]
    assert {"0.5 GiB", "1 GiB", "64 GiB"} <= {v["Value"] for v in memory}


def test_price_list_errors_are_json_errors(api: LocalApi) -> None:
    pricing = api.client("pricing")
    assert refused(lambda: pricing.get_attribute_values(ServiceCode="AmazonEC2", AttributeName="colour"))[:2] == (
        400, "NotFoundException")
    assert refused(lambda: pricing.get_attribute_values(ServiceCode="AmazonEC2", AttributeName="vcpu",
                                                        NextToken="bogus"))[:2] == (400, "InvalidNextTokenException")
    assert refused(lambda: pricing.describe_services(FormatVersion="aws_v9"))[:2] == (400, "InvalidParameterException")
    assert refused(lambda: pricing.get_products(ServiceCode="AmazonS3"))[:2] == (400, "NotFoundException")
    assert refused(api.client("pricing", api.identity()).describe_services)[:2] == (400, "AccessDeniedException")
    bad_key = {"aws_access_key_id": "AKIAUNKNOWNUNKNOWN00", "aws_secret_access_key": "x" * 40}
    assert refused(api.client("pricing", bad_key).describe_services)[:2] == (400, "UnrecognizedClientException")
    target = {"X-Amz-Target": "AWSPriceListService.FlyToTheMoon", "Content-Type": "application/x-amz-json-1.1"}
    status, headers, body = send(api, "pricing", b"{}", target)
    assert status == 400 and headers["content-type"].startswith("application/x-amz-json-1.1")
    assert parse_error("json", status, headers, body)[0] == "UnknownOperationException"
    missing = {"X-Amz-Target": "AWSPriceListService.GetAttributeValues", "Content-Type": "application/x-amz-json-1.1"}
    status, headers, body = send(api, "pricing", b'{"ServiceCode": "AmazonEC2"}', missing)
    assert (status, parse_error("json", status, headers, body)[0]) == (400, "ValidationException")
    status, headers, body = send(api, "pricing", b'{"ServiceCode": 7, "AttributeName": "vcpu"}', missing)
    assert (status, parse_error("json", status, headers, body)[0]) == (400, "SerializationException")
    status, headers, body = send(api, "pricing", b"[not json", missing)
    assert (status, parse_error("json", status, headers, body)[0]) == (400, "SerializationException")


# --------------------------------------------------------------------- choosing the service


def test_a_signature_for_one_service_is_not_accepted_as_another(api: LocalApi) -> None:
    body = b"Action=DescribeRegions&Version=2016-11-15"
    assert send(api, "ec2", body)[0] == 200
    # signed for sts, scope rewritten to ec2: the scope is in the string to sign and the signing key
    status, headers, raw = send(api, "sts", body, rewrite=("/us-east-1/sts/", "/us-east-1/ec2/"))
    assert (status, parse_error("ec2", status, headers, raw)[0]) == (403, "SignatureDoesNotMatch")
    # signed for sts as it is: served as STS, which has no DescribeRegions
    status, headers, raw = send(api, "sts", body)
    assert (status, parse_error("query", status, headers, raw)[0]) == (400, "InvalidAction")
    # a JSON action of another service under the Price List's scope
    target = {"X-Amz-Target": "AWSInsightsIndexService.GetCostAndUsage", "Content-Type": "application/x-amz-json-1.1"}
    status, headers, raw = send(api, "pricing", b"{}", target)
    assert (status, parse_error("json", status, headers, raw)[0]) == (400, "UnknownOperationException")


def test_x_amz_target_must_be_signed(api: LocalApi) -> None:
    import http.client

    c = api.backend.credentials
    body = b"{}"
    request = AWSRequest(method="POST", url=api.url + "/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(c.access_key_id, c.secret_access_key), "pricing", "us-east-1").add_auth(request)
    headers = {**dict(request.prepare().headers.items()), "X-Amz-Target": "AWSPriceListService.DescribeServices"}
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    conn.request("POST", "/", body=body, headers=headers)
    response = conn.getresponse()
    status, raw = response.status, response.read()
    conn.close()
    assert (status, json.loads(raw)["__type"]) == (400, "InvalidSignatureException")


@pytest.mark.parametrize("service,call,status,code", [
    ("sns", lambda c: c.list_topics(), 400, "InvalidAction"),
    ("cloudformation", lambda c: c.list_stacks(), 400, "InvalidAction"),  # query protocol, not served
    ("logs", lambda c: c.describe_log_groups(), 400, "UnknownOperationException"),  # JSON 1.1, not served
])
def test_unknown_services_get_their_protocols_error(api: LocalApi, service: str, call: Any, status: int,
                                                    code: str) -> None:
    got_status, got_code, message = refused(lambda: call(api.client(service)))
    assert (got_status, got_code) == (status, code)
    scope = botocore.session.get_session().get_service_model(service).signing_name
    assert f"The service {scope} is not served by this endpoint" in message


def test_ec2_unknown_action_is_unchanged(api: LocalApi) -> None:
    status, headers, raw = send(api, "ec2", b"Action=FlyToTheMoon&Version=2016-11-15")
    assert (status, parse_error("ec2", status, headers, raw)) == (
        400, ("InvalidAction", "The action FlyToTheMoon is not valid for this web service."))


# ------------------------------------------------------------------------------------- DryRun


def test_dry_run_is_decided_after_the_callers_permission(api: LocalApi) -> None:
    root, own = api.client("ec2"), api.client("ec2", api.identity())
    calls = [
        lambda c: c.terminate_instances(InstanceIds=[INSTANCE], DryRun=True),
        lambda c: c.create_volume(AvailabilityZone="us-east-1a", Size=1, DryRun=True),
        lambda c: c.describe_regions(DryRun=True),
    ]
    for call in calls:
        assert refused(lambda c=call: c(own)) == (403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
        assert refused(lambda c=call: c(root)) == (412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
    assert root.describe_volumes()["Volumes"] == []  # nothing ran
    assert api.backend.store.get(INSTANCE, "instance").state == "running"


# ------------------------------------------------------------------------------- hostile input


def _junk(rng: Any) -> str:
    return "".join(rng.choice("aZ09.-_:#%&=+ \t\x01é😀") for _ in range(rng.randint(0, 12)))


def _json_value(rng: Any, depth: int = 0) -> Any:
    kinds = ["str", "int", "float", "bool", "null", "big"] + (["list", "dict"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "list":
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        keys = ["ServiceCode", "AttributeName", "MaxResults", "NextToken", "FormatVersion", "Filters"]
        return {rng.choice(keys + [_junk(rng)]): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return {"str": _junk(rng), "int": rng.randint(-5, 200), "float": rng.random() * 1e300, "bool": rng.random() < 0.5,
            "null": None, "big": 10**40}[kind]


def test_hostile_requests_to_the_query_and_json_services_are_never_a_500(api: LocalApi) -> None:
    import random
    from urllib.parse import urlencode

    rng = random.Random(10)
    actions = ["GetCallerIdentity", "AssumeRole", "ListUsers", "", _junk(rng)]
    keys = ["RoleArn", "RoleSessionName", "Tags.member.1.Key", "Tags.1", "PolicyArns.member.x.arn", "DryRun", "Bogus"]
    seen: set[tuple[str, int, str]] = set()
    for _ in range(300):
        scope = rng.choice(["sts", "pricing", "iam", "ce", "ec2"])
        if scope in ("pricing", "ce"):
            target = rng.choice(["AWSPriceListService.DescribeServices", "AWSPriceListService.GetAttributeValues",
                                 f"AWSPriceListService.{_junk(rng).strip()}", "AWSPriceListService", "."])
            body = rng.choice([json.dumps(_json_value(rng)).encode(), rng.randbytes(rng.randint(0, 40)),
                               json.dumps({"ServiceCode": "AmazonEC2", "AttributeName": _json_value(rng)}).encode()])
            # printable ASCII only: aiohttp's HTTP parser itself refuses control characters in a header
            headers = {"X-Amz-Target": "".join(ch for ch in target if " " <= ch <= "~"),
                       "Content-Type": "application/x-amz-json-1.1"}
            protocol = "json"
        else:
            pairs = [("Action", rng.choice(actions)), ("Version", "2011-06-15")]
            pairs += [(rng.choice(keys), _junk(rng)) for _ in range(rng.randint(0, 4))]
            body, headers = urlencode(pairs).encode(), {}
            protocol = {"ec2": "ec2"}.get(scope, "query")
        status, got_headers, raw = send(api, scope, body, headers)
        assert status < 500, (scope, body, raw)
        if status != 200:
            code, _ = parse_error(protocol, status, got_headers, raw)
            assert code and code != str(status), (scope, body, raw)  # the protocol's envelope, parsed
            seen.add((scope, status, code))
    codes = {code for _, _, code in seen}
    assert {"InvalidAction", "UnknownOperationException", "SerializationException"} <= codes, seen


def test_dry_run_is_answered_only_by_the_dispatcher() -> None:
    """Services never see DryRun (api/dispatch.py answers it after the permission check): a DryRun
    check in a service could never run, and one that did would skip the permission check."""
    root = Path(__file__).resolve().parents[2] / "orchestrator"
    mentions = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                      if "DryRunOperation" in p.read_text() and p.name not in ("errors.py", "dispatch.py"))
    assert mentions == []
