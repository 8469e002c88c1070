"""The Price List's products: AWS offer-file documents built from ec2d's price table, so tools that
read AWS prices (``aws pricing get-products``, boto3, Terraform cost tools) read ec2d's.

Each product is one document as AWS's ``GetProducts`` returns it (a JSON string per product):
``product`` (``productFamily``, ``attributes``, ``sku``), ``serviceCode``, ``terms.OnDemand``
with one offer term (AWS's on-demand term code ``JRTCKXETXF``) holding one price dimension
(rate code ``<sku>.JRTCKXETXF.6YS6EN2CT7``, ``unit`` Hrs or GB-Mo, ``pricePerUnit.USD``),
``version`` and ``publicationDate`` (the table's date for the region). Products: every instance
type of the catalogue (``Compute Instance``, Linux, shared tenancy, ``BoxUsage:<type>``), every
EBS volume type (``Storage``), snapshots (``Storage Snapshot``) under ``AmazonEC2``, and public
IPv4 addresses in use and idle under ``AmazonVPC``, for every region ec2d serves. SKUs are
stable: a hash of service, region and usage type.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from orchestrator.domain import billing, errors, instance_types
from orchestrator.domain.prices import PriceTable

ON_DEMAND_TERM = "JRTCKXETXF"
RATE_CODE = "6YS6EN2CT7"
EC2, VPC = billing.CODE_EC2, billing.CODE_VPC
LOCATIONS = {"us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-1": "US West (N. California)",
             "us-west-2": "US West (Oregon)", "eu-west-1": "EU (Ireland)", "eu-central-1": "EU (Frankfurt)",
             "ap-northeast-1": "Asia Pacific (Tokyo)", "ap-southeast-1": "Asia Pacific (Singapore)"}
VOLUME_NAMES = {"gp2": ("General Purpose", "SSD-backed"), "gp3": ("General Purpose", "SSD-backed"),
                "io1": ("Provisioned IOPS", "SSD-backed"), "io2": ("Provisioned IOPS", "SSD-backed"),
                "st1": ("Throughput Optimized HDD", "HDD-backed"), "sc1": ("Cold HDD", "HDD-backed"),
                "standard": ("Magnetic", "HDD-backed")}
FILTER_TYPES = ("TERM_MATCH", "EQUALS", "CONTAINS", "ANY_OF", "NONE_OF")


def _sku(service: str, region: str, usage: str) -> str:
    digest = hashlib.sha256(f"{service}/{region}/{usage}".encode()).digest()
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:16])


def _common(service: str, region: str, usage: str) -> dict[str, str]:
    return {"servicecode": service, "location": LOCATIONS.get(region, region), "locationType": "AWS Region",
            "regionCode": region, "usagetype": usage,
            "servicename": "Amazon Elastic Compute Cloud" if service == EC2 else "Amazon Virtual Private Cloud"}


def _document(service: str, family: str | None, attributes: dict[str, str], unit: str, price: float,
              description: str, as_of: str) -> dict[str, Any]:
    sku = _sku(service, attributes["regionCode"], attributes["usagetype"])
    term = f"{sku}.{ON_DEMAND_TERM}"
    effective = f"{as_of}T00:00:00Z"
    product: dict[str, Any] = {"productFamily": family} if family else {}  # AWS's public IPv4 products have none
    return {
        "product": {**product, "attributes": attributes, "sku": sku},
        "serviceCode": service,
        "terms": {"OnDemand": {term: {
            "priceDimensions": {f"{term}.{RATE_CODE}": {
                "unit": unit, "endRange": "Inf", "description": description, "appliesTo": [],
                "rateCode": f"{term}.{RATE_CODE}", "beginRange": "0", "pricePerUnit": {"USD": f"{price:.10f}"}}},
            "sku": sku, "effectiveDate": effective, "offerTermCode": ON_DEMAND_TERM, "termAttributes": {}}}},
        "version": as_of.replace("-", "") + "000000",
        "publicationDate": effective,
    }


def _memory(mib: int) -> str:
    return f"{mib / 1024:g} GiB"


def products(table: PriceTable, regions: Iterable[str]) -> list[dict[str, Any]]:
    """Every product ec2d sells in ``regions``, as offer-file documents."""
    out: list[dict[str, Any]] = []
    for region in sorted(regions):
        p = table.of(region)
        for t in sorted(instance_types.CATALOGUE.values(), key=lambda t: t.name):
            price = p.instance_hour.get(t.name)
            if price is None:
                continue
            usage = billing.usage_type(region, f"BoxUsage:{t.name}")
            attrs = {**_common(EC2, region, usage), "instanceType": t.name, "instanceFamily": "General purpose",
                     "vcpu": str(t.vcpus), "memory": _memory(t.memory_mib), "networkPerformance": t.network,
                     "operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
                     "licenseModel": "No License required", "capacitystatus": "Used", "operation": "RunInstances",
                     "marketoption": "OnDemand"}
            out.append(_document(EC2, "Compute Instance", attrs, "Hrs", price,
                                 f"${price} per On Demand Linux {t.name} Instance Hour", p.as_of))
        for vtype, price in sorted(p.volume_gib_month.items()):
            usage = billing.usage_type(region, billing.VOLUME_USAGE.get(vtype, f"EBS:VolumeUsage.{vtype}"))
            kind, media = VOLUME_NAMES.get(vtype, ("General Purpose", "SSD-backed"))
            attrs = {**_common(EC2, region, usage), "volumeApiName": vtype, "volumeType": kind,
                     "storageMedia": media, "operation": ""}
            out.append(_document(EC2, "Storage", attrs, "GB-Mo", price,
                                 f"${price} per GB-month of {vtype} provisioned storage", p.as_of))
        iops_usage = {"gp3": billing.GP3_IOPS_USAGE, "io1": billing.IO1_IOPS_USAGE,
                      **{"io2" + u.partition(".io2")[2]: u for _, u in billing.IO2_IOPS_TIERS}}
        for key, price in sorted(p.volume_iops_month.items()):
            usage = billing.usage_type(region, iops_usage.get(key, f"EBS:VolumeP-IOPS.{key}"))
            attrs = {**_common(EC2, region, usage), "volumeApiName": key.partition(".")[0], "group": "EBS IOPS",
                     "groupDescription": "IOPS", "operation": ""}
            out.append(_document(EC2, "System Operation", attrs, billing.UNIT_IOPS_MONTH, price,
                                 f"${price} per IOPS-month provisioned ({key})", p.as_of))
        for key, price in sorted(p.volume_throughput_mibps_month.items()):
            usage = billing.usage_type(region, f"EBS:VolumeP-Throughput.{key}")
            attrs = {**_common(EC2, region, usage), "volumeApiName": key, "group": "EBS Throughput",
                     "groupDescription": "Throughput", "operation": ""}
            out.append(_document(EC2, "Provisioned Throughput", attrs, billing.UNIT_GIBPS_MONTH, price * 1024,
                                 f"${price * 1024:g} per GiBps-mo provisioned throughput ({key})", p.as_of))
        usage = billing.usage_type(region, billing.SNAPSHOT_USAGE)
        attrs = {**_common(EC2, region, usage), "storageMedia": "Amazon S3", "operation": ""}
        out.append(_document(EC2, "Storage Snapshot", attrs, "GB-Mo", p.snapshot_gib_month,
                             f"${p.snapshot_gib_month} per GB-Month of snapshot data stored", p.as_of))
        for name, what in ((billing.IN_USE_ADDRESS, "In-use"), (billing.IDLE_ADDRESS, "Idle")):
            usage = billing.usage_type(region, name, True)
            attrs = {**_common(VPC, region, usage), "group": "VPCPublicIPv4Address",
                     "groupDescription": f"Hourly charge for {what} Public IPv4 Addresses", "operation": ""}
            out.append(_document(VPC, None, attrs, "Hrs", p.public_ipv4_hour,
                                 f"${p.public_ipv4_hour} per {what} public IPv4 address per hour", p.as_of))
    return out


def attributes(table: PriceTable, regions: Iterable[str], service: str) -> dict[str, list[str]]:
    """Each attribute of the service's products with its values (sorted; numbers as numbers)."""
    found: dict[str, set[str]] = {}
    for doc in products(table, regions):
        if doc["serviceCode"] == service:
            for k, v in doc["product"]["attributes"].items():
                if v:
                    found.setdefault(k, set()).add(v)
    def order(v: str) -> tuple[float, str]:
        head = v.split(" ")[0]
        return (float(head), v) if head.replace(".", "", 1).isdigit() else (float("inf"), v)
    return {k: sorted(vs, key=order) for k, vs in sorted(found.items())}


def _matches(doc: dict[str, Any], f: dict[str, str]) -> bool:
    field, value = f["Field"], f["Value"]
    have = doc["serviceCode"] if field == "ServiceCode" else doc["product"]["attributes"].get(field)
    if field == "productFamily":
        have = doc["product"].get("productFamily")
    kind = f["Type"]
    if kind in ("TERM_MATCH", "EQUALS"):
        return have is not None and (have.lower() == value.lower() if kind == "TERM_MATCH" else have == value)
    if kind == "CONTAINS":
        return have is not None and value.lower() in have.lower()
    options = [v.strip() for v in value.split(",")]
    return (have in options) if kind == "ANY_OF" else (have not in options)


def get_products(table: PriceTable, regions: Iterable[str], service: str, filters: Sequence[dict[str, str]],
                 known_services: Iterable[str]) -> list[str]:
    """The service's products matching every filter, as the JSON strings GetProducts returns."""
    if service not in known_services:
        raise errors.NotFoundException(f"Requested service {service[:64]} is not found.")
    for f in filters:
        if f["Type"] not in FILTER_TYPES:
            raise errors.InvalidParameterException(f"Filter Type {f['Type'][:32]} is not supported.")
    docs = [d for d in products(table, regions)
            if d["serviceCode"] == service and all(_matches(d, f) for f in filters)]
    return [json.dumps(d, separators=(",", ":")) for d in docs]
