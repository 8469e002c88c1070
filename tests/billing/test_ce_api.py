"""Cost Explorer through boto3 against ec2d's API on the fake drivers, with an injected clock: the
study notes' billing rules to the second (a 20-second run billed 60 seconds; a stopped instance's
volumes keep accruing; terminating stops both, but a volume kept past termination accrues; an EIP
held while its instance is stopped accrues, as idle), and Cost Explorer's shapes and error codes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from billing_api import BillingApi, reaches, state_of, wait_for
from botocore.exceptions import ClientError
from clock import Clock
from ec2d_server import tiny_image
from record_samples import sample

from orchestrator.config import Config
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

DAY = {"Start": "2027-01-15", "End": "2027-01-16"}  # the clock starts 2027-01-15T08:00:00Z
GIB_MONTH_SECONDS = 730 * 3600
T3_NANO = 0.0052


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingApi]:
    # (volumes here are about money, not disk: the overcommit keeps the host's free space out of it)
    backend = bootstrap.open(Config(data_dir=tmp_path_factory.mktemp("billing"), instances=False,
                                    regions={"us-east-1": ["a", "b"]}, storage_overcommit=1000.0))
    ensure_image("ec2d-tiny", backend.config.cache_dir)  # cached on a test host: a hash check
    images.sync_published(backend)
    server = BillingApi(backend, Clock()).start()
    yield server
    server.stop()
    backend.close()

COMPUTE, EBS, VPC = "Amazon Elastic Compute Cloud - Compute", "EC2 - Other", "Amazon Virtual Private Cloud"


def by_resource(api: BillingApi, metric: str = "UsageQuantity") -> dict[str, float]:
    """Usage per resource id and service (an instance's auto-assigned public IP is billed to the
    instance under Amazon Virtual Private Cloud, its running time under Compute)."""
    ce = api.client("ce")
    out = ce.get_cost_and_usage_with_resources(
        TimePeriod=DAY, Granularity="DAILY", Metrics=[metric],
        Filter={"Dimensions": {"Key": "REGION", "Values": ["us-east-1"]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "RESOURCE_ID"}, {"Type": "DIMENSION", "Key": "SERVICE"}])
    (day,) = out["ResultsByTime"]
    return {g["Keys"][0] if g["Keys"][1] != VPC or g["Keys"][0].startswith("eipalloc-") else g["Keys"][0] + "/ip":
            float(g["Metrics"][metric]["Amount"]) for g in day["Groups"]}


def hours(api: BillingApi, rid: str) -> float:
    return by_resource(api).get(rid, 0.0)


def test_the_study_notes_to_the_second(api: BillingApi) -> None:
    ec2, clock = api.client("ec2"), api.clock
    run = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                            Placement={"AvailabilityZone": "us-east-1a"},
                            BlockDeviceMappings=[{"DeviceName": "/dev/sdf",
                                                  "Ebs": {"VolumeSize": 2, "DeleteOnTermination": False}}])
    iid = run["Instances"][0]["InstanceId"]
    reaches(api, iid, "running")
    vols = {v["Attachments"][0]["Device"]: v for v in ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"]}
    root, data = vols["/dev/xvda"], vols["/dev/sdf"]
    clock.advance(20)
    ec2.stop_instances(InstanceIds=[iid])
    reaches(api, iid, "stopped")
    assert hours(api, iid) == pytest.approx(60 / 3600, abs=1e-10)  # a 20-second run is billed 60 seconds
    assert hours(api, iid + "/ip") == pytest.approx(20 / 3600, abs=1e-10)  # its public IP: released at stop
    clock.advance(3600)  # stopped: the instance costs nothing, its volumes keep accruing
    usage = by_resource(api)
    assert usage[iid] == pytest.approx(60 / 3600, abs=1e-10)
    assert usage[root["VolumeId"]] == pytest.approx(root["Size"] * 3620 / GIB_MONTH_SECONDS, abs=1e-10)
    assert usage[data["VolumeId"]] == pytest.approx(2 * 3620 / GIB_MONTH_SECONDS, abs=1e-10)

    ec2.start_instances(InstanceIds=[iid])  # a new start: its own 60-second minimum
    reaches(api, iid, "running")
    clock.advance(30)
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=alloc, InstanceId=iid)
    clock.advance(100)
    ec2.stop_instances(InstanceIds=[iid])
    reaches(api, iid, "stopped")
    clock.advance(1000)  # the EIP is held while the instance is stopped: it accrues, as idle
    usage = by_resource(api)
    assert usage[iid] == pytest.approx((60 + 130) / 3600, abs=1e-10)
    assert usage[alloc] == pytest.approx(1100 / 3600, abs=1e-10)
    addresses = api.client("ce").get_cost_and_usage(
        TimePeriod=DAY, Granularity="DAILY", Metrics=["UsageQuantity", "UnblendedCost"],
        Filter={"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Virtual Private Cloud"]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])["ResultsByTime"][0]["Groups"]
    eip = {g["Keys"][0]: g["Metrics"]["UsageQuantity"] for g in addresses}
    assert float(eip["USE1-PublicIPv4:IdleAddress"]["Amount"]) == pytest.approx(1000 / 3600, abs=1e-10)
    assert eip["USE1-PublicIPv4:IdleAddress"]["Unit"] == "Hrs"

    ec2.terminate_instances(InstanceIds=[iid])
    reaches(api, iid, "terminated")
    wait_for(lambda: state_of(api, root["VolumeId"]) is None, "the root volume to be deleted")
    before = by_resource(api)
    clock.advance(5000)  # terminated: neither the instance nor its deleted root volume accrue
    after = by_resource(api)
    assert after[iid] == before[iid] and after[root["VolumeId"]] == before[root["VolumeId"]]
    assert after[data["VolumeId"]] == pytest.approx(before[data["VolumeId"]] + 2 * 5000 / GIB_MONTH_SECONDS,
                                                    abs=1e-10)  # DeleteOnTermination=false: still accruing
    assert after[alloc] == pytest.approx(before[alloc] + 5000 / 3600, abs=1e-10)  # still allocated
    cost = by_resource(api, "UnblendedCost")
    assert cost[iid] == pytest.approx(T3_NANO * (60 + 130) / 3600, abs=1e-10)
    ec2.release_address(AllocationId=alloc)
    ec2.delete_volume(VolumeId=data["VolumeId"])


def test_cost_and_usage_shapes(api: BillingApi) -> None:
    ce = api.client("ce")
    total = ce.get_cost_and_usage(TimePeriod=DAY, Granularity="DAILY", Metrics=["UnblendedCost", "UsageQuantity"])
    (day,) = total["ResultsByTime"]
    assert day["TimePeriod"] == DAY and day["Groups"] == [] and day["Estimated"] is True
    assert day["Total"]["UnblendedCost"]["Unit"] == "USD" and float(day["Total"]["UnblendedCost"]["Amount"]) > 0
    assert day["Total"]["UsageQuantity"]["Unit"] == "N/A"  # hours and GiB-months together
    grouped = ce.get_cost_and_usage(TimePeriod=DAY, Granularity="DAILY", Metrics=["BlendedCost"],
                                    GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"},
                                             {"Type": "DIMENSION", "Key": "INSTANCE_TYPE"}])
    assert grouped["GroupDefinitions"] == [{"Type": "DIMENSION", "Key": "SERVICE"},
                                           {"Type": "DIMENSION", "Key": "INSTANCE_TYPE"}]
    keys = {tuple(g["Keys"]) for g in grouped["ResultsByTime"][0]["Groups"]}
    assert ("Amazon Elastic Compute Cloud - Compute", "t3.nano") in keys
    assert ("EC2 - Other", "NoInstanceType") in keys and ("Amazon Virtual Private Cloud", "NoInstanceType") in keys
    assert grouped["ResultsByTime"][0]["Total"] == {}
    group_total = sum(float(g["Metrics"]["BlendedCost"]["Amount"]) for g in grouped["ResultsByTime"][0]["Groups"])
    assert group_total == pytest.approx(float(day["Total"]["UnblendedCost"]["Amount"]), abs=1e-8)
    hourly = ce.get_cost_and_usage(TimePeriod={"Start": "2027-01-15T08:00:00Z", "End": "2027-01-15T11:00:00Z"},
                                   Granularity="HOURLY", Metrics=["UnblendedCost"])["ResultsByTime"]
    assert [r["TimePeriod"]["Start"] for r in hourly] == [
        "2027-01-15T08:00:00Z", "2027-01-15T09:00:00Z", "2027-01-15T10:00:00Z"]
    assert sum(float(r["Total"]["UnblendedCost"]["Amount"]) for r in hourly) == pytest.approx(
        float(day["Total"]["UnblendedCost"]["Amount"]), abs=1e-8)  # all usage so far lies in these hours
    nothing = ce.get_cost_and_usage(TimePeriod=DAY, Granularity="HOURLY", Metrics=["UnblendedCost"],
                                    Filter={"CostCategories": {"Key": "project", "Values": ["x"]}})
    assert {r["Total"]["UnblendedCost"]["Amount"] for r in nothing["ResultsByTime"]} == {"0"}  # none defined
    monthly = ce.get_cost_and_usage(TimePeriod={"Start": "2026-12-01", "End": "2027-02-01"},
                                    Granularity="MONTHLY", Metrics=["UnblendedCost"])["ResultsByTime"]
    assert [(r["TimePeriod"]["Start"], r["TimePeriod"]["End"]) for r in monthly] == [
        ("2026-12-01", "2027-01-01"), ("2027-01-01", "2027-02-01")]
    assert monthly[0]["Total"]["UnblendedCost"]["Amount"] == "0" and monthly[0]["Estimated"] is False


def test_filters_tags_and_dimension_values(api: BillingApi) -> None:
    ec2, ce = api.client("ec2"), api.client("ce")
    vol = ec2.create_volume(AvailabilityZone="us-east-1b", Size=4, VolumeType="gp2",
                            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "team", "Value": "ops"}]}])
    reaches(api, vol["VolumeId"], "available")
    api.clock.advance(600)
    grouped = ce.get_cost_and_usage(TimePeriod=DAY, Granularity="DAILY", Metrics=["UsageQuantity"],
                                    Filter={"Tags": {"Key": "team", "Values": ["ops"]}},
                                    GroupBy=[{"Type": "TAG", "Key": "team"}, {"Type": "DIMENSION", "Key": "AZ"}])
    (group,) = grouped["ResultsByTime"][0]["Groups"]
    assert group["Keys"] == ["team$ops", "us-east-1b"]
    assert float(group["Metrics"]["UsageQuantity"]["Amount"]) == pytest.approx(4 * 600 / GIB_MONTH_SECONDS, abs=1e-10)
    assert group["Metrics"]["UsageQuantity"]["Unit"] == "GB-Mo"
    negated = ce.get_cost_and_usage(TimePeriod=DAY, Granularity="DAILY", Metrics=["UsageQuantity"], Filter={
        "And": [{"Dimensions": {"Key": "USAGE_TYPE", "Values": ["EBS:VolumeUsage.gp2"]}},
                {"Not": {"Tags": {"Key": "team", "Values": ["ops"]}}}]})
    assert negated["ResultsByTime"][0]["Total"]["UsageQuantity"]["Amount"] == "0"
    values = ce.get_dimension_values(TimePeriod=DAY, Dimension="SERVICE")
    assert [v["Value"] for v in values["DimensionValues"]] == [
        "Amazon Elastic Compute Cloud - Compute", "Amazon Virtual Private Cloud", "EC2 - Other"]
    assert (values["ReturnSize"], values["TotalSize"]) == (3, 3)
    usage_types = ce.get_dimension_values(TimePeriod=DAY, Dimension="USAGE_TYPE", SearchString="volume")
    assert {v["Value"] for v in usage_types["DimensionValues"]} == {"EBS:VolumeUsage.gp2", "EBS:VolumeUsage.gp3"}
    ec2.modify_volume(VolumeId=vol["VolumeId"], Size=6)  # the resized volume bills its new size from then
    wait_for(lambda: len(api.backend.store.usage_intervals(resource_id=vol["VolumeId"])) == 2, "the resize")
    old, new = api.backend.store.usage_intervals(resource_id=vol["VolumeId"])
    assert (old.quantity, old.end_at, new.quantity, new.start_at, new.minimum) == (4.0, api.clock.t, 6.0,
                                                                                    api.clock.t, 0.0)
    page = ce.get_dimension_values(TimePeriod=DAY, Dimension="SERVICE", MaxResults=2)
    rest = ce.get_dimension_values(TimePeriod=DAY, Dimension="SERVICE", NextPageToken=page["NextPageToken"])
    assert [v["Value"] for v in page["DimensionValues"] + rest["DimensionValues"]] == [
        v["Value"] for v in values["DimensionValues"]]


def test_forecast_is_the_run_rate(api: BillingApi) -> None:
    """The forecast is what accrues now, run on: a new 10 GiB gp2 volume adds exactly its own
    run rate (independent of what other tests left accruing in this module's ledger)."""
    ce = api.client("ce")
    ec2 = api.client("ec2")

    def forecast() -> dict[str, Any]:
        return dict(ce.get_cost_forecast(TimePeriod={"Start": "2027-01-16", "End": "2027-01-18"},
                                         Metric="UNBLENDED_COST", Granularity="DAILY"))

    before = float(forecast()["Total"]["Amount"])
    vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=10, VolumeType="gp2")["VolumeId"]
    reaches(api, vol, "available")
    out = forecast()
    assert out["Total"]["Unit"] == "USD"
    assert float(out["Total"]["Amount"]) - before == pytest.approx(10 * 0.10 / 730 * 48, abs=1e-8)
    assert [r["TimePeriod"]["Start"] for r in out["ForecastResultsByTime"]] == ["2027-01-16", "2027-01-17"]
    first = out["ForecastResultsByTime"][0]
    assert first["MeanValue"] == first["PredictionIntervalLowerBound"] == first["PredictionIntervalUpperBound"]
    ec2.delete_volume(VolumeId=vol)


def error(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_bad_input_gets_cost_explorers_codes(api: BillingApi) -> None:
    ce = api.client("ce")
    assert error(lambda: ce.get_cost_and_usage(TimePeriod={"Start": "2027-01-15", "End": "2027-01-15"},
                                               Granularity="DAILY", Metrics=["UnblendedCost"])) == (
        "ValidationException", "Start date (and hour) should be before end date (and hour)")
    assert error(lambda: ce.get_cost_and_usage(TimePeriod={"Start": "2027-01-01", "End": "2027-03-01"},
                                               Granularity="MONTHLY", Metrics=["UnblendedCost"])) == (
        "ValidationException", "end date past the beginning of next month")
    assert error(lambda: ce.get_cost_and_usage(TimePeriod=DAY, Granularity="DAILY", Metrics=["Dollars"]))[0] == (
        "ValidationException")
    assert error(lambda: ce.get_cost_and_usage(TimePeriod={"Start": "15/01/2027", "End": "2027-01-16"},
                                               Granularity="DAILY", Metrics=["UnblendedCost"]))[0] == "ValidationException"
    assert error(lambda: ce.get_cost_and_usage(TimePeriod=DAY, Granularity="WEEKLY", Metrics=["UnblendedCost"]))[0] == (
        "ValidationException")
    three = [{"Type": "DIMENSION", "Key": k} for k in ("SERVICE", "AZ", "REGION")]
    assert error(lambda: ce.get_cost_and_usage(TimePeriod=DAY, Granularity="DAILY", Metrics=["UnblendedCost"],
                                               GroupBy=three))[0] == "ValidationException"
    assert error(lambda: ce.get_cost_and_usage(TimePeriod=DAY, Granularity="DAILY", Metrics=["UnblendedCost"],
                                               GroupBy=[{"Type": "DIMENSION", "Key": "RESOURCE_ID"}]))[0] == (
        "ValidationException")  # per resource only WithResources
    both = {"Dimensions": {"Key": "REGION", "Values": ["us-east-1"]}, "Tags": {"Key": "a", "Values": ["b"]}}
    assert error(lambda: ce.get_cost_and_usage(TimePeriod=DAY, Granularity="DAILY", Metrics=["UnblendedCost"],
                                               Filter=both))[0] == "ValidationException"
    assert error(lambda: ce.get_cost_and_usage(TimePeriod=DAY, Granularity="DAILY", Metrics=["UnblendedCost"],
                                               NextPageToken="bm9wZQ=="))[0] == "InvalidNextTokenException"
    assert error(lambda: ce.get_cost_forecast(TimePeriod={"Start": "2027-01-01", "End": "2027-01-20"},
                                              Metric="UNBLENDED_COST", Granularity="DAILY"))[0] == "ValidationException"
    assert error(lambda: ce.get_dimension_values(TimePeriod=DAY, Dimension="SERVICE",
                                                 NextPageToken="x"))[0] == "InvalidNextTokenException"


def test_dimension_values_sorted_by_cost(api: BillingApi) -> None:
    ce = api.client("ce")
    got = ce.get_dimension_values(TimePeriod=DAY, Dimension="USAGE_TYPE",
                                  SortBy=[{"Key": "UnblendedCost", "SortOrder": "DESCENDING"}])
    values = [v["Value"] for v in got["DimensionValues"]]
    costs = ce.get_cost_and_usage(TimePeriod=DAY, Granularity="DAILY", Metrics=["UnblendedCost"],
                                  GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])["ResultsByTime"][0]["Groups"]
    by_cost = {g["Keys"][0]: float(g["Metrics"]["UnblendedCost"]["Amount"]) for g in costs}
    assert sorted(values) == sorted(by_cost) and [by_cost[v] for v in values] == sorted(by_cost.values(), reverse=True)
    assert error(lambda: ce.get_dimension_values(TimePeriod=DAY, Dimension="USAGE_TYPE", SearchString="EBS",
                                                 SortBy=[{"Key": "UnblendedCost"}]))[0] == "ValidationException"


def test_instance_identities_may_not_read_the_bill(api: BillingApi) -> None:
    """IAM applies to Cost Explorer as to any API: an instance's identity credentials may call
    nothing but GetCallerIdentity. (Last in the module: the instance record it adds runs.)"""
    owner = "i-0123456789abcdef0"
    api.backend.store.insert(Record(id=owner, type="instance", region="us-east-1", state="pending",
                                    data=sample("instance")))
    api.backend.store.transition(owner, "pending", "running")
    c = api.backend.sessions.for_owner(owner)
    creds = {"aws_access_key_id": c.access_key_id, "aws_secret_access_key": c.secret_access_key,
             "aws_session_token": c.token}
    code, message = error(lambda: api.client("ce", creds).get_cost_and_usage(
        TimePeriod=DAY, Granularity="DAILY", Metrics=["UnblendedCost"]))
    assert code == "AccessDeniedException" and "ce:GetCostAndUsage" in message


def test_a_backend_reads_the_price_override(tmp_path: Path) -> None:
    (tmp_path / "prices.json").write_text(
        '{"regions": {"us-west-2": {"as_of": "2027-01-01", "source": "test", "instance_hour": {"t3.nano": 1.0},'
        ' "volume_gib_month": {"gp3": 0.5}, "snapshot_gib_month": 0.1, "public_ipv4_hour": 0.01,'
        ' "load_balancer_hour": {}}}}')
    backend = Backend.open(Config(data_dir=tmp_path, instances=False))
    try:
        assert backend.prices.unit_price("us-west-2", "USW2-BoxUsage:t3.nano") == 1.0
        assert backend.prices.unit_price("us-east-1", "BoxUsage:t3.nano") == T3_NANO  # shipped, untouched
    finally:
        backend.close()



def test_provisioned_iops_and_throughput_bill_beyond_what_the_type_includes(api: BillingApi) -> None:
    """gp3 beyond its free 3,000 IOPS and 125 MiB/s, io2 in its IOPS tiers; a ModifyVolume
    back to the free figures stops that part and leaves the storage accruing."""
    ec2, ce = api.client("ec2"), api.client("ce")
    api.clock.t = (api.clock.t // 86400 + 1) * 86400 + 3600  # 01:00 on a day of its own
    day = {"Start": time.strftime("%Y-%m-%d", time.gmtime(api.clock.t)),
           "End": time.strftime("%Y-%m-%d", time.gmtime(api.clock.t + 86400))}
    gp3 = ec2.create_volume(AvailabilityZone="us-east-1a", Size=10, VolumeType="gp3", Iops=4000, Throughput=250)
    io2 = ec2.create_volume(AvailabilityZone="us-east-1a", Size=40, VolumeType="io2", Iops=40000)
    for v in (gp3, io2):
        reaches(api, v["VolumeId"], "available")

    def costs(rid: str) -> dict[str, tuple[float, float, str]]:
        out = ce.get_cost_and_usage_with_resources(
            TimePeriod=day, Granularity="DAILY", Metrics=["UsageQuantity", "UnblendedCost"],
            Filter={"Dimensions": {"Key": "RESOURCE_ID", "Values": [rid]}},
            GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
        return {g["Keys"][0]: (float(g["Metrics"]["UsageQuantity"]["Amount"]),
                               float(g["Metrics"]["UnblendedCost"]["Amount"]), g["Metrics"]["UsageQuantity"]["Unit"])
                for r in out["ResultsByTime"] for g in r["Groups"]}

    start = api.clock.t
    api.clock.advance(3600)
    month = 3600 / GIB_MONTH_SECONDS  # an hour, in months
    assert {k: (round(q / month, 6), round(c, 9), u) for k, (q, c, u) in costs(gp3["VolumeId"]).items()} == {
        "EBS:VolumeUsage.gp3": (10.0, round(10 * 0.08 * month, 9), "GB-Mo"),
        "EBS:VolumeP-IOPS.gp3": (1000.0, round(1000 * 0.005 * month, 9), "IOPS-Mo"),
        "EBS:VolumeP-Throughput.gp3": (round(125 / 1024, 6), round(125 * 0.04 * month, 9), "GiBps-mo")}
    assert {k: round(q / month, 6) for k, (q, _, _) in costs(io2["VolumeId"]).items()} == {
        "EBS:VolumeUsage.io2": 40.0, "EBS:VolumeP-IOPS.io2": 32000.0, "EBS:VolumeP-IOPS.io2.tier2": 8000.0}
    ec2.modify_volume(VolumeId=gp3["VolumeId"], Iops=3000, Throughput=125)
    wait_for(lambda: len(api.backend.store.usage_intervals(resource_id=gp3["VolumeId"])) == 3
             and all(i.end_at is not None for i in api.backend.store.usage_intervals(resource_id=gp3["VolumeId"])
                     if i.kind != "volume"), "the modification")
    api.clock.advance(3600)
    after = costs(gp3["VolumeId"])
    assert round(after["EBS:VolumeUsage.gp3"][0] / month, 6) == 20.0  # storage kept accruing: two hours
    assert round(after["EBS:VolumeP-IOPS.gp3"][0] / month, 6) == 1000.0  # IOPS stopped at the modification
    assert api.clock.t - start == 7200
    for v in (gp3, io2):
        ec2.delete_volume(VolumeId=v["VolumeId"])
