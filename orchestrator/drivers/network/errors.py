"""Errors raised by the network driver.

Netlink/OS errno values are translated once, in :func:`from_errno`, into these named classes so
callers (services) never look at errno numbers. Services turn them into EC2 error codes.
"""

from __future__ import annotations

import errno as _errno


class NetworkDriverError(Exception):
    """Base class of every error the network driver raises."""

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class NamespaceNotFound(NetworkDriverError):
    """The network namespace does not exist."""


class LinkNotFound(NetworkDriverError):
    """The interface does not exist (in the namespace that was searched)."""


class AlreadyExists(NetworkDriverError):
    """An object with that name/key exists already (and is not the one asked for)."""


class PermissionDenied(NetworkDriverError):
    """The operation needs root (CAP_NET_ADMIN / CAP_SYS_ADMIN)."""


class InvalidArgument(NetworkDriverError):
    """The kernel or the driver refused an argument (bad CIDR, name too long, ...)."""


class AddressNotAvailable(NetworkDriverError):
    """The address or route cannot be used (EADDRNOTAVAIL / ENETUNREACH)."""


class NetlinkFailure(NetworkDriverError):
    """Any other netlink / OS failure; ``errno`` carries the raw number."""


class DnsmasqError(NetworkDriverError):
    """dnsmasq could not be started, reloaded or stopped."""


class NftError(NetworkDriverError):
    """nft refused a ruleset or could not be run; ``stderr`` holds nft's message."""

    def __init__(self, message: str, *, stderr: str = "", errno: int | None = None) -> None:
        super().__init__(message, errno=errno)
        self.stderr = stderr


class VpcNotFound(NamespaceNotFound):
    """The driver has no VPC with that id (its namespace or state is missing)."""


class SubnetNotFound(LinkNotFound):
    """The driver has no subnet with that id in that VPC."""


_BY_ERRNO: dict[int, type[NetworkDriverError]] = {
    _errno.ENOENT: LinkNotFound,
    _errno.ENODEV: LinkNotFound,
    _errno.EEXIST: AlreadyExists,
    _errno.EPERM: PermissionDenied,
    _errno.EACCES: PermissionDenied,
    _errno.EINVAL: InvalidArgument,
    _errno.ERANGE: InvalidArgument,
    _errno.EADDRNOTAVAIL: AddressNotAvailable,
    _errno.ENETUNREACH: AddressNotAvailable,
}


def from_errno(code: int, what: str) -> NetworkDriverError:
    """Build the named exception for ``code`` (an errno) with a message naming ``what``."""
    cls = _BY_ERRNO.get(code, NetlinkFailure)
    try:
        text = _errno.errorcode[code]
    except KeyError:
        text = str(code)
    return cls(f"{what}: {text}", errno=code)
