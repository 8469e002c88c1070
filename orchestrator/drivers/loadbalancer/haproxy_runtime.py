"""HAProxy's runtime API (the admin stats socket): ask what runs, change servers without a reload.

One connection per request (HAProxy's CLI answers one line of commands, separated by ``;``, then
closes in non-interactive mode). The socket is a file (``admin.sock``, mode 0600) in the balancer's
directory, reachable from the root namespace although the process lives in the VPC's namespace.

Commands used (HAProxy 2.6 management guide, "add server" and following):

* ``show stat`` (CSV: ``status``, ``check_status``, ``check_code``, ``weight``, ``addr``, ...),
  ``show info`` (``Pid``: which process answered, so a reload is seen to be complete);
* ``add server BE/NAME ADDR:PORT [check inter Ns fall F rise R [port P]]``: a dynamic server
  starts in maintenance with its check off; ``enable health`` + ``enable server`` put it in
  rotation *assumed UP* (HAProxy 2.6 sets its check health to ``rise``, status ``UP 1/F``, check
  ``INI``), so :meth:`add_server` also sends ``set server BE/NAME health down`` in the same
  request: the new server takes no traffic until ``rise`` checks succeeded, as an ELB target in
  ``initial`` (verified: ``DOWN`` -> ``DOWN 1/3`` -> ``DOWN 2/3`` -> ``UP``, ``chkdown`` 1);
* ``set server BE/NAME state maint`` + ``shutdown sessions server`` + ``del server`` (deletion
  is refused while the server has connections);
* ``set server BE/NAME state drain|ready`` and ``set weight BE/NAME 0|1`` for deregistration (the
  weight is what the file says too, so a draining server reads the same before and after a
  reload, whether it is UP or DOWN).
"""

from __future__ import annotations

import csv
import io
import socket
import time
from dataclasses import dataclass

from .driver import LoadBalancerError

SOCKET_TIMEOUT = 5.0
DEL_SETTLE_SECONDS = 2.0  # how long a deletion waits for the server's last connections to go


class RuntimeApiError(LoadBalancerError):
    """The socket did not answer, or a command was refused (message is HAProxy's answer)."""


@dataclass(frozen=True)
class ServerStat:
    """One server's line of ``show stat``, the fields the driver reads."""

    backend: str
    name: str
    status: str  # "UP", "UP 1/2" (going down), "DOWN", "DOWN 1/3" (going up), "MAINT", "DRAIN", "NOLB", "no check"
    check_status: str  # "" | "INI" | "L4OK" | "L4CON" | "L7OK" | "L7STS" | ... ("* " prefix: check in progress)
    check_code: int | None
    weight: int  # the user weight (``uweight``): 0 while draining (file's ``weight 0``, :meth:`set_draining`)
    addr: str  # "ADDR:PORT"
    chkdown: int  # UP -> DOWN transitions since the process started (or the server was added)
    stot: int = 0  # sessions (HTTP mode: requests) sent to the server since then


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_show_stat(text: str) -> list[ServerStat]:
    """The server lines of ``show stat`` (CSV with a ``# pxname,svname,...`` header)."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise RuntimeApiError(f"unexpected show stat answer: {text[:200]!r}")
    reader = csv.DictReader(io.StringIO("\n".join([lines[0][2:], *lines[1:]])))
    out = []
    for row in reader:
        if row.get("svname") in (None, "FRONTEND", "BACKEND") or row.get("type") not in (None, "2"):
            continue
        out.append(ServerStat(
            backend=row["pxname"], name=row["svname"], status=row.get("status", ""),
            check_status=(row.get("check_status") or "").lstrip("* ").strip(),
            check_code=_int(row.get("check_code") or ""),
            weight=_int(row.get("uweight") or row.get("weight") or "") or 0,
            addr=row.get("addr") or "", chkdown=_int(row.get("chkdown") or "") or 0,
            stot=_int(row.get("stot") or "") or 0,
        ))
    return out


def parse_show_info(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


class RuntimeClient:
    """The admin socket at ``path``."""

    def __init__(self, path: str, timeout: float = SOCKET_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout

    def command(self, line: str) -> str:
        """Send one command line (``;`` separates several) and return the whole answer."""
        if "\n" in line:
            raise RuntimeApiError("one command line at a time")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except OSError as exc:
            raise RuntimeApiError(f"haproxy socket {self.path}: {exc}") from exc
        finally:
            sock.close()
        return b"".join(chunks).decode(errors="replace")

    def answers(self) -> bool:
        try:
            self.command("show info")
        except RuntimeApiError:
            return False
        return True

    def pid(self) -> int | None:
        """The pid of the process answering on the socket (None if nothing answers)."""
        try:
            return _int(parse_show_info(self.command("show info")).get("Pid", ""))
        except RuntimeApiError:
            return None

    def servers(self) -> list[ServerStat]:
        return parse_show_stat(self.command("show stat"))

    def _expect(self, line: str, *wanted: str) -> str:
        answer = self.command(line)
        if not all(w in answer for w in wanted):
            raise RuntimeApiError(f"haproxy refused {line!r}: {answer.strip() or 'no answer'}")
        return answer

    def add_server(self, backend: str, name: str, args: list[str], *, checked: bool,
                   draining: bool) -> None:
        """Add a server and put it in rotation: DOWN until ``rise`` checks pass when ``checked``;
        in state ``drain`` when ``draining``. All in one request: no request is routed to it
        in between."""
        ref = f"{backend}/{name}"
        cmds = [f"add server {ref} {' '.join(args)}"]
        if checked:
            cmds.append(f"enable health {ref}")
        cmds.append(f"set server {ref} state drain" if draining else f"enable server {ref}")
        if checked:
            cmds.append(f"set server {ref} health down")
        self._expect("; ".join(cmds), "New server registered.")

    def del_server(self, backend: str, name: str, settle: float = DEL_SETTLE_SECONDS) -> None:
        """Take a server out (maintenance, its sessions shut) and delete it. HAProxy refuses the
        deletion while the server still holds connections (a stream being shut, an idle
        keep-alive connection its pool purges after the server went into maintenance): the
        deletion is asked again as they go, for up to ``settle`` seconds."""
        ref = f"{backend}/{name}"
        answer = self.command(f"set server {ref} state maint; shutdown sessions server {ref}; del server {ref}")
        deadline = time.monotonic() + settle
        while "Server deleted." not in answer:
            if "still has connections" not in answer or time.monotonic() >= deadline:
                raise RuntimeApiError(f"haproxy refused deleting {ref}: {answer.strip() or 'no answer'}")
            time.sleep(0.02)
            answer = self.command(f"del server {ref}")

    def set_draining(self, backend: str, name: str, draining: bool) -> None:
        ref = f"{backend}/{name}"
        line = (f"set weight {ref} 0; set server {ref} state drain" if draining
                else f"set weight {ref} 1; set server {ref} state ready")
        answer = self.command(line)
        if "No such" in answer or "Require" in answer:
            raise RuntimeApiError(f"haproxy refused {line!r}: {answer.strip()}")
