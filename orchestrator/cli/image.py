"""``ec2d image build NAME | list | import FILE --name N``: guest images in the cache.

A running ec2d registers new cache entries as AMIs in every region within seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _cache(args: argparse.Namespace) -> Path:
    from orchestrator.images.cache import default_cache_dir

    return Path(args.cache_dir) if args.cache_dir else default_cache_dir()


class _Progress:
    """One status line that rewrites itself on a terminal; plain lines otherwise."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()

    def __call__(self, message: str) -> None:
        line = f"[{time.monotonic() - self.started:6.1f}s] {message}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line[:150])
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def cmd_build(args: argparse.Namespace) -> int:
    from orchestrator.images.cache import ImageError, ensure_image

    progress = _Progress()
    try:
        image = ensure_image(args.name, _cache(args), progress=progress)
    except ImageError as e:
        progress.done()
        print(f"ec2d image build: {e.message}", file=sys.stderr)
        return 1
    progress.done()
    print(f"{image.name} {image.key[:12]} {image.path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from orchestrator.images.cache import list_images

    for image in list_images(_cache(args)):
        m = image.manifest
        size = int(m.get("virtual_size") or 0) / 2**20
        print(f"{image.name:<16} {image.key[:12]}  {m.get('built_at', '?'):<20}  {size:8.0f} MiB  "
              f"{m.get('boot', '?'):<14} {image.path}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from orchestrator.images.cache import ImageError, import_image

    try:
        image = import_image(Path(args.file), args.name, _cache(args))
    except ImageError as e:
        print(f"ec2d image import: {e.message}", file=sys.stderr)
        return 1
    print(f"{image.name} {image.key[:12]} {image.path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("image", help="build, list and import guest images")
    p.add_argument("--cache-dir", default=None, help="default /var/cache/ec2d (EC2D_CACHE_DIR)")
    isub = p.add_subparsers(dest="image_command", required=True)
    b = isub.add_parser("build", help="build a built-in image (ec2d-tiny, debian-12)")
    b.add_argument("--cache-dir", default=argparse.SUPPRESS)
    b.add_argument("name")
    b.set_defaults(func=cmd_build)
    ls = isub.add_parser("list", help="list cached images")
    ls.add_argument("--cache-dir", default=argparse.SUPPRESS)
    ls.set_defaults(func=cmd_list)
    imp = isub.add_parser("import", help="import your own qcow2/raw cloud image")
    imp.add_argument("--cache-dir", default=argparse.SUPPRESS)
    imp.add_argument("file")
    imp.add_argument("--name", required=True)
    imp.set_defaults(func=cmd_import)
