"""The ``ec2d`` command: serve | credentials | aws-profile | status | image | ssh | usage ..."""

from __future__ import annotations

import argparse
import configparser
import json
import logging
import os
import sys
from pathlib import Path

from orchestrator.config import DEFAULT_LISTEN, Config, parse_regions


def _config(args: argparse.Namespace) -> Config:
    cfg = Config(data_dir=Path(args.data_dir))
    if getattr(args, "listen", None):
        cfg.listen = args.listen
    regions = getattr(args, "regions", None) or os.environ.get("EC2D_REGIONS")
    if regions:
        cfg.regions = parse_regions(regions)
    if getattr(args, "cache_dir", None):
        cfg.cache_dir = Path(args.cache_dir)
    if getattr(args, "prefix", None):
        cfg.prefix = args.prefix
    if getattr(args, "no_instances", False):
        cfg.instances = False
    if getattr(args, "no_s3", False):
        cfg.s3 = False
    if getattr(args, "host_routes", False):
        cfg.host_routes = True
    if getattr(args, "uplink_nat", None):
        cfg.uplink_nat = args.uplink_nat
    return cfg


def setup_logging(level: str = "INFO") -> None:
    from orchestrator.api.app import RequestIdFilter

    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def cmd_serve(args: argparse.Namespace) -> int:
    from orchestrator.drivers.network.public import PublicNetworkError
    from orchestrator.hostscope import DataDirBusy
    from orchestrator.server import ListenError, S3EngineError, serve
    from orchestrator.store.sqlite import StoreUnavailable

    setup_logging(args.log_level)
    try:
        serve(_config(args))
    except (DataDirBusy, ListenError, PublicNetworkError, S3EngineError) as exc:
        print(f"ec2d serve: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:  # e.g. the data dir's disk is full at start: say so, no traceback
        print(f"ec2d serve: the state database is not usable now ({exc.reason}): {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    """Remove the host objects of one data dir (and with --purge the data dir itself)."""
    from orchestrator.hostscope import DataDirBusy, uninstall

    cfg = _config(args)
    try:
        report = uninstall(cfg, purge=args.purge)
    except DataDirBusy as exc:
        print(f"ec2d uninstall: {exc}", file=sys.stderr)
        return 1
    if cfg.prefix is None:
        print(f"no host objects were ever made for {cfg.data_dir}")
    else:
        print(f"removed the host objects of {cfg.data_dir} (prefix {cfg.prefix})")
    for kind, names in report.items():
        if names:
            print(f"  {kind}: {' '.join(names)}")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    from orchestrator.services import credentials

    creds = credentials.load_or_create(_config(args).credentials_path)
    print(json.dumps({"AccessKeyId": creds.access_key_id, "SecretAccessKey": creds.secret_access_key}))
    return 0


def cmd_aws_profile(args: argparse.Namespace) -> int:
    """Write an AWS CLI / boto3 profile named ``ec2d`` (endpoint_url, region, keys)."""
    from orchestrator.services import credentials

    cfg = _config(args)
    creds = credentials.load_or_create(cfg.credentials_path)
    aws_dir = Path(args.aws_dir or Path.home() / ".aws")
    aws_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    endpoint = args.endpoint_url or cfg.endpoint_url

    config_path = aws_dir / "config"
    conf = configparser.RawConfigParser()
    conf.read(config_path)
    section = f"profile {args.profile}"
    if not conf.has_section(section):
        conf.add_section(section)
    conf.set(section, "region", args.region or cfg.default_region)
    conf.set(section, "endpoint_url", endpoint)
    conf.set(section, "output", "json")
    with open(config_path, "w") as f:
        conf.write(f)

    cred_path = aws_dir / "credentials"
    cred = configparser.RawConfigParser()
    cred.read(cred_path)
    if not cred.has_section(args.profile):
        cred.add_section(args.profile)
    cred.set(args.profile, "aws_access_key_id", creds.access_key_id)
    cred.set(args.profile, "aws_secret_access_key", creds.secret_access_key)
    # a fresh 0600 file renamed over the old one: an existing 0644 file (or one whose mode
    # O_CREAT would keep) never holds the secret key readable by others, not even for a moment
    tmp = cred_path.with_name(f".{cred_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            cred.write(f)
        os.replace(tmp, cred_path)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote profile '{args.profile}' ({endpoint}, {args.region or cfg.default_region}) to {aws_dir}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from orchestrator.status import collect

    report = collect(_config(args), probe=not args.no_probe)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {v}")
            else:
                print(f"{key}: {value}")
    return 0 if report.get("ok") else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ec2d", description="Amazon EC2 on your own Linux machine")
    parser.add_argument("--data-dir", default=os.environ.get("EC2D_DATA_DIR", "/var/lib/ec2d"))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the EC2 Query API")
    p.add_argument("--listen", default=os.environ.get("EC2D_LISTEN", DEFAULT_LISTEN), help="HOST:PORT")
    p.add_argument("--data-dir", default=argparse.SUPPRESS)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--regions", default=None, help='e.g. "us-east-1=a,b,c;us-west-2=a,b,c"')
    p.add_argument("--log-level", default=os.environ.get("EC2D_LOG_LEVEL", "INFO"))
    p.add_argument("--prefix", default=os.environ.get("EC2D_PREFIX"),
                   help="name prefix of the host objects ec2d creates (default: the data dir's own, "
                        "ec2d for /var/lib/ec2d, generated and kept in DATA_DIR/host-prefix otherwise)")
    p.add_argument("--host-routes", action="store_true",
                   help="route the public IP pool from this host into ec2d's public network (ssh to public "
                        "IPs); guests still cannot open connections to the host; one ec2d per host")
    p.add_argument("--uplink-nat", metavar="IFACE", default=None,
                   help="let instances with public IPs reach the internet through IFACE (masquerade), but "
                        "not the host nor private/link-local ranges; off by default, never used by the tests")
    p.add_argument("--no-instances", action="store_true",
                   help="serve the API on in-memory fake drivers: instances and volumes change state as "
                        "in EC2, but no libvirt, namespaces or disks")
    p.add_argument("--no-s3", action="store_true",
                   help="do not serve S3 (no object store engine is started)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("uninstall", help="remove the host objects of a data dir (--purge: and the data dir)")
    p.add_argument("--data-dir", default=argparse.SUPPRESS)
    p.add_argument("--prefix", default=None, help="the data dir's host-object prefix (default: its own)")
    p.add_argument("--purge", action="store_true", help="delete the data dir too (all instances, volumes, keys)")
    p.set_defaults(func=cmd_uninstall)

    p = sub.add_parser("credentials", help="print the root access key as JSON")
    p.add_argument("--data-dir", default=argparse.SUPPRESS)
    p.set_defaults(func=cmd_credentials)

    p = sub.add_parser("aws-profile", help="write an AWS CLI/boto3 profile for this ec2d")
    p.add_argument("--data-dir", default=argparse.SUPPRESS)
    p.add_argument("--profile", default="ec2d")
    p.add_argument("--listen", default=os.environ.get("EC2D_LISTEN", DEFAULT_LISTEN))
    p.add_argument("--endpoint-url", default=None)
    p.add_argument("--region", default=None)
    p.add_argument("--aws-dir", default=None, help="default ~/.aws")
    p.set_defaults(func=cmd_aws_profile)

    p = sub.add_parser("status", help="report host readiness")
    p.add_argument("--data-dir", default=argparse.SUPPRESS)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-probe", action="store_true", help="skip the KVM probe boot")
    p.add_argument("--prefix", default=os.environ.get("EC2D_PREFIX"), help="prefix of the daemon's host objects")
    p.set_defaults(func=cmd_status)

    try:
        from orchestrator.cli import image as image_cli
    except ImportError:  # pragma: no cover - images module not installed
        image_cli = None
    if image_cli is not None:
        image_cli.add_parser(sub)
    from orchestrator.cli import ssh as ssh_cli

    ssh_cli.add_parser(sub)
    from orchestrator.cli import usage as usage_cli

    usage_cli.add_parser(sub)
    from orchestrator.cli import zone as zone_cli

    zone_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
