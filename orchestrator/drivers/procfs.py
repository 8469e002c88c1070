"""What /proc says of a process: its command line and whether it is alive (not a zombie). Drivers
that adopt daemons they started earlier (dnsmasq, HAProxy) check a pid file's pid with these before
they trust or signal it."""

from __future__ import annotations


def cmdline(pid: int) -> list[str]:
    """The process's argv ([] when it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [p.decode(errors="replace") for p in fh.read().split(b"\0") if p]
    except OSError:
        return []


def alive(pid: int) -> bool:
    """The process exists and is neither a zombie nor dead."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
