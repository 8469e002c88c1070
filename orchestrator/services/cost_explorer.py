"""Cost Explorer over the usage ledger: GetCostAndUsage(WithResources), GetCostForecast,
GetDimensionValues.

Amounts are what the ledger billed (``store/ledger.py``: per second, the 60-second minimum, open
intervals up to now) priced by the price table (``Backend.prices``). ec2d sells on demand only,
without discounts or credits, so every cost metric (UnblendedCost, BlendedCost, AmortizedCost,
the Net ones, ListCost ...) has the same amount; UsageQuantity is hours (instances, addresses) or
GiB-months (storage), with the unit "N/A" where a total mixes units, as Cost Explorer shows it.
A forecast is the current run rate (what is accruing now) carried over the period: ec2d has no
history model, and its prediction interval is the mean itself.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.prices import PriceTable
from orchestrator.services import ce_terms
from orchestrator.services.backend import Backend
from orchestrator.services.ce_terms import Grouping, Period, invalid
from orchestrator.store.usage_reads import Group, Query, Sum

COST_METRICS = ("AmortizedCost", "BlendedCost", "NetAmortizedCost", "NetUnblendedCost", "UnblendedCost",
                "BilledCost", "ContractedCost", "ListCost", "PublicEquivalentBilledCost", "PublicOnDemandCost")
USAGE_METRICS = ("UsageQuantity", "NormalizedUsageAmount")
FORECAST_COST = ("BLENDED_COST", "UNBLENDED_COST", "AMORTIZED_COST", "NET_UNBLENDED_COST", "NET_AMORTIZED_COST",
                 "LIST_COST", "CONTRACTED_COST", "BILLED_COST", "PUBLIC_EQUIVALENT_BILLED_COST",
                 "PUBLIC_ON_DEMAND_COST")
FORECAST_USAGE = ("USAGE_QUANTITY", "NORMALIZED_USAGE_AMOUNT")
NORMALIZATION = {"nano": 0.25, "micro": 0.5, "small": 1, "medium": 2, "large": 4, "xlarge": 8, "2xlarge": 16,
                 "4xlarge": 32, "8xlarge": 64}  # EC2's normalization factors per instance size
MIXED_UNITS = "N/A"


def amount(value: float) -> str:
    """An amount as Cost Explorer writes it: a decimal string, at most 10 places."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@dataclass
class Tally:
    cost: float = 0.0
    usage: float = 0.0
    normalized: float = 0.0
    units: set[str] = field(default_factory=set)

    def add(self, prices: PriceTable, s: Sum) -> None:
        used = prices.amount(s.unit, s.quantity_seconds)
        self.cost += used * prices.unit_price(s.region, s.usage_type)
        self.usage += used
        size = s.usage_type.rpartition(".")[2] if "BoxUsage:" in s.usage_type else ""
        self.normalized += used * NORMALIZATION.get(size, 0)
        self.units.add(s.unit)

    def metrics(self, names: list[str]) -> dict[str, dict[str, str]]:
        out = {}
        for name in names:
            if name in COST_METRICS:
                out[name] = {"Amount": amount(self.cost), "Unit": "USD"}
            elif name == "UsageQuantity":
                unit = next(iter(self.units)) if len(self.units) == 1 else MIXED_UNITS
                out[name] = {"Amount": amount(self.usage), "Unit": unit}
            else:
                out[name] = {"Amount": amount(self.normalized), "Unit": MIXED_UNITS}
        return out


def _metrics(names: list[str]) -> list[str]:
    if not names:
        raise invalid("Metrics must contain at least one metric")
    for name in names:
        if name not in COST_METRICS + USAGE_METRICS:
            raise invalid(f"Invalid metric {name[:64]!r}: valid metrics are "
                          f"{', '.join(COST_METRICS + USAGE_METRICS)}")
    return list(dict.fromkeys(names))


def _no_token(token: str | None) -> None:
    """ec2d answers in one page: any token is one it did not issue."""
    if token is not None:
        raise errors.InvalidNextTokenException("The pagination token is invalid. Try again without a pagination token.")


def cost_and_usage(backend: Backend, req: Mapping[str, Any], with_resources: bool = False) -> dict[str, Any]:
    """GetCostAndUsage (``with_resources``: GetCostAndUsageWithResources, RESOURCE_ID allowed)."""
    store, account = backend.store, backend.account_id
    _no_token(req.get("NextPageToken"))
    metrics = _metrics(list(req.get("Metrics") or ([] if not with_resources else ["UnblendedCost"])))
    span = ce_terms.period(req["TimePeriod"], req["Granularity"], store.now())
    where = ce_terms.expression(req["Filter"], account, True) if req.get("Filter") else None
    groups = ce_terms.groupings(req.get("GroupBy"), with_resources)
    sums = store.usage_sums(Query(span.edges, store.now(), span.width, where, [g.group for g in groups]))
    return {"ResultsByTime": _results(backend.prices, span, sums, groups, metrics, account, store.now()),
            "GroupDefinitions": [g.definition for g in groups] if groups else None,
            "DimensionValueAttributes": []}


def _results(prices: PriceTable, span: Period, sums: list[Sum], groups: list[Grouping], metrics: list[str],
             account: str, now: float) -> list[dict[str, Any]]:
    by_bucket: list[dict[tuple[str, ...], Tally]] = [{} for _ in span.edges[:-1]]
    for s in sums:
        keys = tuple(g.show(raw, account) for g, raw in zip(groups, s.keys, strict=True))
        by_bucket[s.bucket].setdefault(keys, Tally()).add(prices, s)
    out = []
    for i, tallies in enumerate(by_bucket):
        result: dict[str, Any] = {"TimePeriod": {"Start": span.label(span.edges[i]), "End": span.label(span.edges[i + 1])},
                                  "Estimated": span.edges[i + 1] > now}
        if groups:
            result["Total"] = {}
            result["Groups"] = [{"Keys": list(k), "Metrics": t.metrics(metrics)} for k, t in sorted(tallies.items())]
        else:
            total = Tally()
            for t in tallies.values():
                total.cost, total.usage = total.cost + t.cost, total.usage + t.usage
                total.normalized += t.normalized
                total.units |= t.units
            result["Total"] = total.metrics(metrics)
            result["Groups"] = []
        out.append(result)
    return out


def forecast(backend: Backend, req: Mapping[str, Any]) -> dict[str, Any]:
    """GetCostForecast: the run rate of what accrues now, over the rest of the period."""
    store = backend.store
    now = store.now()
    metric = req["Metric"]
    if req["Granularity"] == "HOURLY":
        raise invalid("HOURLY granularity is not supported for forecasts (use DAILY or MONTHLY)")
    span = ce_terms.period(req["TimePeriod"], req["Granularity"], now, forecast=True)
    where = ce_terms.expression(req["Filter"], backend.account_id, True) if req.get("Filter") else None
    hour = Query([now, now + 3600.0], now, None, where, open_only=True, open_until=now + 3600.0)
    rate = Tally()
    for s in store.usage_sums(hour):
        rate.add(backend.prices, s)
    per_hour = {"cost": rate.cost, "usage": rate.usage, "normalized": rate.normalized}[
        "cost" if metric in FORECAST_COST else "usage" if metric == "USAGE_QUANTITY" else "normalized"]
    unit = "USD" if metric in FORECAST_COST else (
        next(iter(rate.units)) if metric == "USAGE_QUANTITY" and len(rate.units) == 1 else MIXED_UNITS)
    results, total = [], 0.0
    for lo, hi in zip(span.edges, span.edges[1:], strict=False):
        mean = per_hour * max(0.0, hi - max(lo, now)) / 3600.0
        total += mean
        results.append({"TimePeriod": {"Start": span.label(lo), "End": span.label(hi)}, "MeanValue": amount(mean),
                        "PredictionIntervalLowerBound": amount(mean), "PredictionIntervalUpperBound": amount(mean)})
    return {"Total": {"Amount": amount(total), "Unit": unit}, "ForecastResultsByTime": results}


@dataclass(frozen=True)
class DimensionValues:
    values: list[tuple[str, dict[str, str]]]
    total: int
    next_token: str | None


def _offset(token: str | None, total: int) -> int:
    if token is None:
        return 0
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        start = -1
    if not 0 < start < total:
        raise errors.InvalidNextTokenException("The pagination token is invalid. Try again without a pagination token.")
    return start


def dimension_values(backend: Backend, req: Mapping[str, Any]) -> DimensionValues:
    """GetDimensionValues: the values a dimension has over the period's billed usage."""
    store, account = backend.store, backend.account_id
    span = ce_terms.period(req["TimePeriod"], "DAILY" if "T" not in req["TimePeriod"]["Start"] else "HOURLY",
                           store.now())
    dim = ce_terms.dimension(req["Dimension"], True)
    if req.get("Context", "COST_AND_USAGE") != "COST_AND_USAGE":
        found: list[str] = []  # ec2d sells no reservations nor savings plans
    else:
        where = ce_terms.expression(req["Filter"], account, True) if req.get("Filter") else None
        raw = store.usage_values(dim.column, span.start, span.end, where)
        found = sorted({dim.show(v, account) for v in raw})
    search = (req.get("SearchString") or "").lower()
    found = [v for v in found if search in v.lower()]
    if req.get("SortBy"):
        found = _sorted(backend, req, span, dim, found)
    start = _offset(req.get("NextPageToken"), len(found))
    end = start + (req.get("MaxResults") or 1000)
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(found) else None
    attrs = (lambda v: {"description": "ec2d"}) if req["Dimension"] == "LINKED_ACCOUNT" else (lambda v: {})
    return DimensionValues([(v, attrs(v)) for v in found[start:end]], len(found), token)


def _sorted(backend: Backend, req: Mapping[str, Any], span: Period, dim: ce_terms.Dimension,
            values: list[str]) -> list[str]:
    """GetDimensionValues' ``SortBy``: the values ordered by their cost or usage over the period
    (Cost Explorer allows it in the COST_AND_USAGE context, without SearchString or paging)."""
    if req.get("Context", "COST_AND_USAGE") != "COST_AND_USAGE" or req.get("SearchString") or req.get("NextPageToken"):
        raise invalid("SortBy is supported only in the COST_AND_USAGE context, without SearchString or NextPageToken")
    sorts = list(req["SortBy"])
    for s in sorts:
        if s["Key"] not in COST_METRICS + USAGE_METRICS:
            raise invalid(f"SortBy Key {s['Key'][:64]!r} is not a metric")
    store, account = backend.store, backend.account_id
    where = ce_terms.expression(req["Filter"], account, True) if req.get("Filter") else None
    tallies: dict[str, Tally] = {v: Tally() for v in values}
    for sm in store.usage_sums(Query([span.start, span.end], store.now(), None, where,
                                     [Group(column=dim.column)])):
        shown = dim.show(sm.keys[0], account)
        if shown in tallies:
            tallies[shown].add(backend.prices, sm)

    def metric(value: str, key: str) -> float:
        return float(tallies[value].metrics([key])[key]["Amount"])

    out = sorted(values)
    for s in reversed(sorts):  # stable sorts, last key first: the first key decides
        out.sort(key=lambda v, k=s["Key"]: metric(v, k), reverse=s.get("SortOrder", "ASCENDING") == "DESCENDING")
    return out
