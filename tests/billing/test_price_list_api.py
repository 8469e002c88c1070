"""The Price List's GetProducts (AWS offer-file documents from ec2d's price table) through boto3
and the AWS CLI, and ``aws ce get-cost-and-usage`` from the AWS CLI, against ec2d's API on the
fake drivers with an injected clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from billing_api import BillingApi, reaches
from clock import Clock

from orchestrator.config import Config
from orchestrator.domain import instance_types
from orchestrator.services import bootstrap

AWS = str(Path(sys.executable).parent / "aws")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingApi]:
    backend = bootstrap.open(Config(data_dir=tmp_path_factory.mktemp("price-list"), instances=False,
                                    regions={"us-east-1": ["a"], "us-west-2": ["a"]}))
    server = BillingApi(backend, Clock()).start()
    yield server
    server.stop()
    backend.close()


def products(api: BillingApi, **kwargs: Any) -> list[dict[str, Any]]:
    pages = api.client("pricing").get_paginator("get_products").paginate(**kwargs)
    return [json.loads(item) for page in pages for item in page["PriceList"]]


def price(doc: dict[str, Any]) -> tuple[str, str]:
    (term,) = doc["terms"]["OnDemand"].values()
    (dim,) = term["priceDimensions"].values()
    return dim["unit"], dim["pricePerUnit"]["USD"]


def test_get_products_returns_offer_documents(api: BillingApi) -> None:
    (t3,) = products(api, ServiceCode="AmazonEC2", Filters=[
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "t3.micro"},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-west-2"}])
    assert t3["serviceCode"] == "AmazonEC2" and t3["product"]["productFamily"] == "Compute Instance"
    attrs = t3["product"]["attributes"]
    assert (attrs["usagetype"], attrs["operatingSystem"], attrs["tenancy"], attrs["vcpu"], attrs["memory"]) == (
        "USW2-BoxUsage:t3.micro", "Linux", "Shared", "2", "1 GiB")
    assert price(t3) == ("Hrs", "0.0104000000")
    (term,) = t3["terms"]["OnDemand"].values()
    assert term["offerTermCode"] == "JRTCKXETXF" and term["sku"] == t3["product"]["sku"]
    every_type = products(api, ServiceCode="AmazonEC2", Filters=[
        {"Type": "TERM_MATCH", "Field": "productFamily", "Value": "Compute Instance"},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}])
    assert sorted(d["product"]["attributes"]["instanceType"] for d in every_type) == sorted(instance_types.CATALOGUE)
    gp3 = products(api, ServiceCode="AmazonEC2", Filters=[
        {"Type": "EQUALS", "Field": "volumeApiName", "Value": "gp3"},
        {"Type": "EQUALS", "Field": "regionCode", "Value": "us-east-1"}])
    assert {(d["product"]["productFamily"], d["product"]["attributes"]["usagetype"], price(d)) for d in gp3} == {
        ("Storage", "EBS:VolumeUsage.gp3", ("GB-Mo", "0.0800000000")),
        ("System Operation", "EBS:VolumeP-IOPS.gp3", ("IOPS-Mo", "0.0050000000")),
        ("Provisioned Throughput", "EBS:VolumeP-Throughput.gp3", ("GiBps-mo", "40.9600000000"))}
    io2 = products(api, ServiceCode="AmazonEC2", Filters=[
        {"Type": "TERM_MATCH", "Field": "productFamily", "Value": "system operation"},
        {"Type": "EQUALS", "Field": "volumeApiName", "Value": "io2"},
        {"Type": "EQUALS", "Field": "regionCode", "Value": "us-east-1"}])
    assert sorted(d["product"]["attributes"]["usagetype"] for d in io2) == [
        "EBS:VolumeP-IOPS.io2", "EBS:VolumeP-IOPS.io2.tier2", "EBS:VolumeP-IOPS.io2.tier3"]
    ips = products(api, ServiceCode="AmazonVPC", Filters=[
        {"Type": "ANY_OF", "Field": "regionCode", "Value": "us-east-1, eu-west-1"}])
    assert {d["product"]["attributes"]["usagetype"]: price(d) for d in ips} == {
        "USE1-PublicIPv4:InUseAddress": ("Hrs", "0.0050000000"), "USE1-PublicIPv4:IdleAddress": ("Hrs", "0.0050000000")}
    assert products(api, ServiceCode="AmazonEC2", Filters=[
        {"Type": "CONTAINS", "Field": "usagetype", "Value": "snapshot"}]) != []
    none_of = products(api, ServiceCode="AmazonVPC", Filters=[
        {"Type": "NONE_OF", "Field": "regionCode", "Value": "us-east-1"}])
    assert {d["product"]["attributes"]["regionCode"] for d in none_of} == {"us-west-2"}
    values = api.client("pricing").get_attribute_values(ServiceCode="AmazonVPC", AttributeName="usagetype")
    assert "USW2-PublicIPv4:IdleAddress" in [v["Value"] for v in values["AttributeValues"]]


def cli(api: BillingApi, tmp_path: Path, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    c = api.backend.credentials
    env.update({"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
                "AWS_ACCESS_KEY_ID": c.access_key_id, "AWS_SECRET_ACCESS_KEY": c.secret_access_key,
                "AWS_DEFAULT_REGION": "us-east-1"})
    out = subprocess.run([AWS, "--endpoint-url", api.url, "--output", "json", *args],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_aws_cli_reads_prices_and_the_bill(api: BillingApi, tmp_path: Path) -> None:
    got = cli(api, tmp_path, "pricing", "get-products", "--service-code", "AmazonEC2", "--filters",
              "Type=TERM_MATCH,Field=instanceType,Value=t3.nano", "Type=TERM_MATCH,Field=regionCode,Value=us-east-1")
    (doc,) = [json.loads(item) for item in got["PriceList"]]
    assert price(doc) == ("Hrs", "0.0052000000")
    ec2 = api.client("ec2")
    vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=10, VolumeType="gp3")["VolumeId"]
    reaches(api, vol, "available")
    api.clock.advance(730 * 3600 / 10)  # a tenth of a month: 1 GiB-month of a 10-GiB volume
    bill = cli(api, tmp_path, "ce", "get-cost-and-usage", "--time-period", "Start=2027-01-01,End=2027-02-01",
               "--granularity", "MONTHLY", "--metrics", "UnblendedCost", "UsageQuantity",
               "--filter", json.dumps({"Dimensions": {"Key": "USAGE_TYPE", "Values": ["EBS:VolumeUsage.gp3"]}}))
    (month,) = bill["ResultsByTime"]
    assert month["Total"]["UsageQuantity"] == {"Amount": "1", "Unit": "GB-Mo"}
    assert month["Total"]["UnblendedCost"] == {"Amount": "0.08", "Unit": "USD"}
