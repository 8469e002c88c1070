"""Names the host resolves into ec2d's public network (``ec2d serve --host-routes``): internet-
facing load balancers' DNS names, one line per node address, in a block of ``/etc/hosts`` that
belongs to one data dir's prefix::

    # ec2d ec2dkqzmvw begin: managed by ec2d, do not edit
    198.18.0.7 web-1234567890.us-east-1.elb.amazonaws.com
    # ec2d ec2dkqzmvw end

With host routes the host reaches the public pool, so ``curl http://NAME/`` works from the host
shell as it does on AWS. The block is rewritten in place (``/etc/hosts`` may be a bind mount that
cannot be replaced), only when it changes, and removed when the public network is deleted (stop,
``ec2d uninstall``, a sweep). The text functions are pure; :func:`write` and :func:`prefixes` touch
the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

HOSTS = Path("/etc/hosts")
_BEGIN = re.compile(r"^# ec2d (?P<prefix>[a-z0-9]+) begin\b.*$")


def _markers(prefix: str) -> tuple[str, str]:
    return f"# ec2d {prefix} begin: managed by ec2d, do not edit", f"# ec2d {prefix} end"


def merged(text: str, prefix: str, names: Mapping[str, Sequence[str]]) -> str:
    """``text`` (a hosts file) with ``prefix``'s block holding ``names`` (name -> addresses), or
    without it when ``names`` is empty; every other line kept as it was."""
    begin, end = _markers(prefix)
    lines = text.splitlines()
    kept: list[str] = []
    inside = False
    for line in lines:
        if not inside and line.startswith(f"# ec2d {prefix} begin"):
            inside = True
            continue
        if inside:
            inside = line != end
            continue
        kept.append(line)
    if names:
        kept += [begin, *(f"{ip} {name}" for name in sorted(names) for ip in names[name]), end]
    return "\n".join(kept) + "\n" if kept else ""


def write(prefix: str, names: Mapping[str, Sequence[str]], path: Path = HOSTS) -> bool:
    """Make ``path`` hold ``prefix``'s block for ``names``; True if the file changed."""
    try:
        current = path.read_text()
    except FileNotFoundError:
        current = ""
    wanted = merged(current, prefix, names)
    if wanted == current:
        return False
    with open(path, "r+" if path.exists() else "w") as f:  # in place: it may be a bind mount
        f.write(wanted)
        f.truncate()
    return True


def prefixes(path: Path = HOSTS) -> set[str]:
    """The prefixes that have a block in ``path`` (a sweep finds a crashed run's names)."""
    try:
        return {m.group("prefix") for line in path.read_text().splitlines() if (m := _BEGIN.match(line))}
    except FileNotFoundError:
        return set()
