"""The host's own CA: ``<cache dir>/ca/ca.crt`` and ``ca.key`` (0600, in a 0700 directory).

Made once, the first time anything needs it (an image build or ec2d's start), under a lock so two
processes never make two. The built-in images trust it (baked in at build; its fingerprint is part
of their cache keys, so emptying the cache makes a new CA and new images together). ec2d issues the
certificate of its in-VPC HTTPS endpoint from it at each start (:func:`endpoint_certificate`), for
the service names guests resolve to that endpoint (:func:`endpoint_names`). The key never leaves
the host: guests get the certificate only.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from orchestrator.domain.interface_endpoints import SERVICES as INTERFACE_SERVICES
from orchestrator.domain.interface_endpoints import base_dns_name
from orchestrator.tls import certs

COMMON_NAME = "ec2d local CA"
CERT_NAME = "ca.crt"
KEY_NAME = "ca.key"


def ca_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "ca"


def ensure(cache_dir: Path) -> Path:
    """The CA certificate's path, making the CA first if there is none yet."""
    directory = ca_dir(cache_dir)
    cert = directory / CERT_NAME
    if cert.is_file():
        return cert
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cert.is_file():  # made by another process while this one waited
            return cert
        made = certs.new_ca(COMMON_NAME)
        certs.write_private(directory / KEY_NAME, made.key_pem)
        tmp = directory / f".{CERT_NAME}.{os.getpid()}"
        tmp.write_bytes(made.cert_pem)
        tmp.chmod(0o644)
        os.replace(tmp, cert)  # the certificate appears last, whole: its presence means the CA is complete
    return cert


def certificate_pem(cache_dir: Path) -> bytes:
    return ensure(cache_dir).read_bytes()


def fingerprint(cache_dir: Path) -> str:
    """SHA-256 of the CA certificate (PEM bytes): what image cache keys hold."""
    return hashlib.sha256(certificate_pem(cache_dir)).hexdigest()


def endpoint_names(regions: Iterable[str]) -> list[str]:
    """DNS names of the in-VPC endpoint's certificate: every ``service.amazonaws.com`` and
    ``service.REGION.amazonaws.com``, and S3's virtual-hosted bucket names under both (a wildcard
    covers one label only), and the interface endpoints' names (``vpce-....SERVICE.REGION.vpce.amazonaws.com``)."""
    names = ["amazonaws.com", "*.amazonaws.com", "*.s3.amazonaws.com"]
    for region in regions:
        names += [f"*.{region}.amazonaws.com", f"*.s3.{region}.amazonaws.com", f"*.s3-{region}.amazonaws.com"]
        names += [f"*.{base_dns_name(region, service)}" for service in INTERFACE_SERVICES]
    return names


def endpoint_certificate(cache_dir: Path, regions: Iterable[str], ips: Iterable[str] = ()) -> certs.Issued:
    """A new certificate for the in-VPC endpoint, signed by the host's CA."""
    directory = ca_dir(cache_dir)
    ensure(cache_dir)
    ca = certs.load((directory / CERT_NAME).read_bytes(), (directory / KEY_NAME).read_bytes())
    return certs.issue(ca, "ec2d service endpoint", dns_names=endpoint_names(regions), ips=ips)
