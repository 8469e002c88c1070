"""The price table ec2d bills with: shipped in ``prices.json`` next to this module (AWS's public
On-Demand list prices for the instance types, EBS volume types, snapshots, public IPv4 and load
balancers, per region ec2d serves by default, each region with the date and source of its
figures), overridable by ``DATA_DIR/prices.json`` of the same shape, whose regions replace the
shipped ones whole. A region without prices is billed at us-east-1's (``fallback``).

Prices are per unit as AWS states them: instance and address hours (``Hrs``), storage GiB-months
(``GB-Mo``, 730 hours). A usage amount is ``quantity x seconds / 3600`` hours, divided by 730 for
GiB-months.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from orchestrator.domain import billing

SHIPPED = "prices.json"
FALLBACK_REGION = "us-east-1"


class PriceTableError(ValueError):
    """A price document that is not in the table's shape (names the file and the key)."""


@dataclass(frozen=True)
class RegionPrices:
    region: str
    as_of: str
    source: str
    instance_hour: Mapping[str, float]
    volume_gib_month: Mapping[str, float]
    snapshot_gib_month: float
    public_ipv4_hour: float
    load_balancer_hour: Mapping[str, float]
    # provisioned performance: $ per IOPS-month by "gp3", "io1", "io2", "io2.tier2", "io2.tier3";
    # $ per MiB/s-month by "gp3" (as the price page states it)
    volume_iops_month: Mapping[str, float] = field(default_factory=dict)
    volume_throughput_mibps_month: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PriceTable:
    currency: str
    hours_per_month: float
    regions: Mapping[str, RegionPrices]
    _memo: dict[tuple[str, str], float] = field(default_factory=dict, compare=False, repr=False)

    def of(self, region: str) -> RegionPrices:
        return self.regions.get(region) or self.regions[FALLBACK_REGION]

    def unit_price(self, region: str, usage_type: str) -> float:
        """The price of one unit (hour or GiB-month) of ``usage_type`` in ``region``; 0 for a usage
        type the table has no price for."""
        key = (region, usage_type)
        if key not in self._memo:
            self._memo[key] = self._unit_price(region, usage_type)
        return self._memo[key]

    def _unit_price(self, region: str, usage_type: str) -> float:
        p = self.of(region)
        name = billing.usage_name(usage_type)
        if name.startswith("BoxUsage:"):
            return float(p.instance_hour.get(name.partition(":")[2], 0.0))
        if name == billing.SNAPSHOT_USAGE:
            return p.snapshot_gib_month
        if name in (billing.IN_USE_ADDRESS, billing.IDLE_ADDRESS):
            return p.public_ipv4_hour
        for vtype, usage in billing.VOLUME_USAGE.items():
            if usage == name:
                return float(p.volume_gib_month.get(vtype, 0.0))
        if name == billing.GP3_THROUGHPUT_USAGE:
            return float(p.volume_throughput_mibps_month.get("gp3", 0.0)) * 1024  # per GiB/s-month
        iops = {billing.GP3_IOPS_USAGE: "gp3", billing.IO1_IOPS_USAGE: "io1",
                **{usage: "io2" + usage.partition(".io2")[2] for _, usage in billing.IO2_IOPS_TIERS}}
        if name in iops:
            return float(p.volume_iops_month.get(iops[name], 0.0))
        return 0.0

    def amount(self, unit: str, quantity_seconds: float) -> float:
        """Usage amount in ``unit`` (Hrs, or a month unit: GB-Mo, IOPS-Mo, GiBps-mo) of
        ``quantity x seconds``."""
        hours = quantity_seconds / 3600.0
        return hours / self.hours_per_month if unit in billing.MONTH_UNITS else hours


def _number(doc: Mapping[str, Any], key: str, where: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PriceTableError(f"{where}.{key}: expected a price (a number >= 0), got {value!r}")
    return float(value)


def _prices(doc: Mapping[str, Any], key: str, where: str) -> dict[str, float]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise PriceTableError(f"{where}.{key}: expected an object of prices")
    return {str(k): _number(value, k, f"{where}.{key}") for k in value}


def _region(name: str, doc: Any, where: str) -> RegionPrices:
    if not isinstance(doc, dict):
        raise PriceTableError(f"{where}: expected an object")
    for key in ("as_of", "source"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise PriceTableError(f"{where}.{key}: every region says when and where its figures come from")
    optional = {key: _prices(doc, key, where) for key in ("volume_iops_month", "volume_throughput_mibps_month")
                if key in doc}  # tables written before ec2d billed provisioned performance lack them
    return RegionPrices(name, doc["as_of"], doc["source"], _prices(doc, "instance_hour", where),
                        _prices(doc, "volume_gib_month", where), _number(doc, "snapshot_gib_month", where),
                        _number(doc, "public_ipv4_hour", where), _prices(doc, "load_balancer_hour", where),
                        **optional)


def parse(doc: Any, origin: str, base: PriceTable | None = None) -> PriceTable:
    """The table in ``doc`` (from ``origin``, for messages); with ``base``, ``doc`` overrides it:
    its regions replace ``base``'s, its currency and hours per month (if given) too."""
    if not isinstance(doc, dict) or not isinstance(doc.get("regions"), dict):
        raise PriceTableError(f"{origin}: expected an object with 'regions'")
    regions = dict(base.regions) if base is not None else {}
    for name, region in doc["regions"].items():
        regions[str(name)] = _region(str(name), region, f"{origin}: regions.{name}")
    if FALLBACK_REGION not in regions:
        raise PriceTableError(f"{origin}: the table needs {FALLBACK_REGION} (the fallback region)")
    currency = doc.get("currency", base.currency if base else "USD")
    hours = doc.get("hours_per_month", base.hours_per_month if base else billing.HOURS_PER_MONTH)
    if currency != "USD":
        raise PriceTableError(f"{origin}: currency: only USD is supported")
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
        raise PriceTableError(f"{origin}: hours_per_month: expected a positive number")
    return PriceTable(currency, float(hours), regions)


def shipped() -> PriceTable:
    text = resources.files("orchestrator.domain").joinpath(SHIPPED).read_text()
    return parse(json.loads(text), f"orchestrator/domain/{SHIPPED}")
