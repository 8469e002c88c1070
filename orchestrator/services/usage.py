"""Usage and cost per resource, read from the usage ledger (``store/ledger.py``) and priced by the
price table (``domain/prices.py``, the shipped one or ``DATA_DIR/prices.json``): what
``ec2d usage`` prints. Cost Explorer's aggregated reads are ``services/cost_explorer.py``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from orchestrator.domain import billing, prices
from orchestrator.domain.prices import PriceTable, PriceTableError
from orchestrator.store.sqlite import Store

OVERRIDE = "prices.json"  # in the data dir
BY = ("instance", "service", "type")


def load_prices(data_dir: Path) -> PriceTable:
    """The shipped table, overridden by ``data_dir/prices.json`` when that file exists."""
    table = prices.shipped()
    path = data_dir / OVERRIDE
    if not path.exists():
        return table
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PriceTableError(f"{path}: not readable JSON ({exc})") from None
    return prices.parse(doc, str(path), table)


@dataclass
class Line:
    """One row of the usage table: a resource (or service, or usage type) since a time."""

    key: str
    service: str
    usage_type: str
    state: str  # "open" while some of its intervals still accrue, else "closed"
    running_seconds: float  # instance seconds billed
    gib_hours: float  # storage GiB x hours billed
    ip_hours: float  # public IPv4 address hours
    cost: float


def lines(store: Store, table: PriceTable, since: float | None, by: str) -> list[Line]:
    """Billed usage since ``since`` (all time when None) per resource (``by`` "instance": every
    resource, named by its id), per service or per usage type; open intervals up to now."""
    if by not in BY:
        raise ValueError(f"--by must be one of {', '.join(BY)}")
    now = store.now()
    out: dict[str, Line] = {}
    for i in store.usage_intervals(since):
        start = i.start_at if since is None else max(i.start_at, since)
        seconds = max(0.0, i.billed_until(now) - start)
        key = {"instance": i.resource_id, "service": i.service, "type": i.usage_type}[by]
        line = out.setdefault(key, Line(key, i.service, i.usage_type if by != "service" else "", "closed",
                                        0.0, 0.0, 0.0, 0.0))
        if i.end_at is None:
            line.state = "open"
        if by == "instance" and i.usage_type not in line.usage_type.split(", "):
            line.usage_type = ", ".join(sorted([*line.usage_type.split(", "), i.usage_type]))
        q_seconds = i.quantity * seconds
        if i.kind == billing.INSTANCE_KIND:
            line.running_seconds += seconds
        elif i.kind == billing.IPV4_KIND:
            line.ip_hours += q_seconds / 3600
        elif i.unit == billing.UNIT_GIB_MONTH:  # storage; provisioned IOPS and throughput show in the cost only
            line.gib_hours += q_seconds / 3600
        line.cost += table.amount(i.unit, q_seconds) * table.unit_price(i.region, i.usage_type)
    return sorted(out.values(), key=lambda x: (-x.cost, x.key))
