"""The Price List: which services and product attributes ec2d describes, and its products.

ec2d knows the products it sells: the instance types of its catalogue with their vCPUs, memory and
network performance, the regions it serves, the EBS volume types it creates, snapshots and public
IPv4 addresses. ``DescribeServices`` and ``GetAttributeValues`` answer from exactly that, under
the attribute names and value formats AWS's Price List uses (``instanceType`` ``t3.micro``,
``vcpu`` ``2``, ``memory`` ``1 GiB``, ``networkPerformance`` ``Up to 5 Gigabit``, ``regionCode``
``us-east-1``, ``volumeApiName`` ``gp3``, ``usagetype`` ``BoxUsage:t3.micro``), and
``GetProducts`` returns the offer-file documents ``services/price_list.py`` builds from the price
table, filterable by those attributes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchestrator.domain import errors, instance_types
from orchestrator.domain.prices import PriceTable
from orchestrator.services import price_list
from orchestrator.services.volumes import SIZE_LIMITS

SERVICE_CODE = "AmazonEC2"
FORMAT_VERSION = "aws_v1"
DEFAULT_PAGE = 100


def _memory(mib: int) -> str:
    gib = mib / 1024
    return f"{gib:g} GiB"


def ec2_attributes(regions: Iterable[str]) -> dict[str, list[str]]:
    """Every ``AmazonEC2`` attribute ec2d knows, with its values (sorted as numbers where numeric)."""
    types = list(instance_types.CATALOGUE.values())
    return {
        "instanceType": sorted(t.name for t in types),
        "memory": [_memory(m) for m in sorted({t.memory_mib for t in types})],
        "networkPerformance": sorted({t.network for t in types}),
        "regionCode": sorted(regions),
        "vcpu": [str(v) for v in sorted({t.vcpus for t in types})],
        "volumeApiName": sorted(SIZE_LIMITS),
    }


@dataclass(frozen=True)
class Page:
    items: list[str]
    next_token: str | None


def _page(items: Sequence[str], max_results: int | None, token: str | None) -> Page:
    start = 0
    if token is not None:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise errors.InvalidNextTokenException(f"The pagination token {token[:64]} is not valid.") from None
        if not 0 < start < len(items):
            raise errors.InvalidNextTokenException(f"The pagination token {token[:64]} is not valid.")
    end = start + (max_results or DEFAULT_PAGE)
    following = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return Page(list(items[start:end]), following)


def catalogue(regions: Iterable[str], table: PriceTable) -> dict[str, dict[str, list[str]]]:
    """``{service code: {attribute: values}}`` of every service ec2d prices."""
    regions = list(regions)
    ec2 = price_list.attributes(table, regions, price_list.EC2)
    ec2.update(ec2_attributes(regions))
    return {SERVICE_CODE: dict(sorted(ec2.items())), price_list.VPC: price_list.attributes(table, regions, price_list.VPC)}


def _format(format_version: str | None) -> None:
    if format_version is not None and format_version != FORMAT_VERSION:
        raise errors.InvalidParameterException(
            f"FormatVersion {format_version[:32]} is not supported (supported: {FORMAT_VERSION}).")


def describe_services(regions: Iterable[str], table: PriceTable, service_code: str | None, max_results: int | None,
                      token: str | None, format_version: str | None = None) -> tuple[dict[str, list[str]], str | None]:
    """``{service code: attribute names}`` of the services asked for (one page), and the next token."""
    _format(format_version)
    known = {code: sorted(attrs) for code, attrs in catalogue(regions, table).items()}
    codes = [c for c in sorted(known) if service_code is None or c == service_code]
    page = _page(codes, max_results, token)
    return {c: known[c] for c in page.items}, page.next_token


def attribute_values(regions: Iterable[str], table: PriceTable, service_code: str, name: str,
                     max_results: int | None, token: str | None) -> Page:
    """The values of one attribute of one service (one page)."""
    known = catalogue(regions, table)
    if service_code not in known:
        raise errors.NotFoundException(f"Requested service {service_code[:64]} is not found.")
    values = known[service_code].get(name)
    if values is None:
        raise errors.NotFoundException(f"Requested attribute {name[:64]} of {service_code} is not found.")
    return _page(values, max_results, token)


def get_products(regions: Iterable[str], table: PriceTable, service_code: str, filters: list[dict[str, str]],
                 max_results: int | None, token: str | None, format_version: str | None = None) -> Page:
    """The service's products matching all ``filters``, offer-file JSON strings (one page)."""
    _format(format_version)
    regions = list(regions)
    docs = price_list.get_products(table, regions, service_code, filters, catalogue(regions, table))
    return _page(docs, max_results, token)
