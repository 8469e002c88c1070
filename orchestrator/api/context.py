"""What a handler knows about the request it serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.services.backend import Backend


@dataclass
class RequestContext:
    request_id: str
    action: str
    region: str
    account_id: str
    access_key_id: str
    backend: Backend
