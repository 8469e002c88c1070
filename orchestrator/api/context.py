"""What a handler knows about the request it serves."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.services.backend import Backend
from orchestrator.services.principals import Caller


@dataclass
class RequestContext:
    request_id: str
    action: str
    region: str
    account_id: str
    access_key_id: str
    backend: Backend
    caller: Caller | None = None  # who signed (root, an instance identity, ...); None: in-process calls
    source_ip: str | None = None  # the client's address (aws:SourceIp)
    secure: bool = False  # over TLS (aws:SecureTransport)
