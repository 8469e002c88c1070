"""A private CA and one certificate for the S3 engine's internal gRPC (mutual TLS).

The engine's master, volume server, filer and S3 gateway talk gRPC over 127.0.0.1 TCP ports that
any local process can reach. With these, each of them accepts only peers presenting a certificate
from this CA, whose key exists only in the engine's directory (0600) and is made afresh at every
start: a local process without it gets no gRPC answer. (Their HTTP APIs are closed by JWT keys,
see ``seaweed.security_config``; the unix sockets weed adds are root-only.)
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.tls import certs

COMMON_NAME = "ec2d-s3-engine"


def make(directory: Path) -> tuple[Path, Path, Path]:
    """Write ``ca.crt``, ``engine.crt`` and ``engine.key`` into ``directory``; their paths."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca = certs.new_ca("ec2d S3 engine CA")
    leaf = certs.issue(ca, COMMON_NAME, dns_names=("localhost", COMMON_NAME), ips=("127.0.0.1",), client=True)
    paths = (directory / "ca.crt", directory / "engine.crt", directory / "engine.key")
    certs.write_private(paths[0], ca.cert_pem)
    certs.write_private(paths[1], leaf.cert_pem)
    certs.write_private(paths[2], leaf.key_pem)
    return paths
