"""Entry points for building images (re-exported from ``cache``), runnable as a module:

    python -m orchestrator.images.build [NAME] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from orchestrator.images.cache import (
    ImageArtifact,
    ImageError,
    default_cache_dir,
    ensure_image,
    import_image,
    list_images,
)

__all__ = ["ImageArtifact", "ImageError", "ensure_image", "import_image", "list_images", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build/list ec2d guest images")
    parser.add_argument("name", nargs="?", default="ec2d-tiny")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    cache_dir = args.cache_dir or default_cache_dir()
    if args.list:
        for image in list_images(cache_dir):
            print(f"{image.name}\t{image.key[:12]}\t{image.path}")
        return 0
    started = time.monotonic()
    try:
        image = ensure_image(args.name, cache_dir, progress=lambda m: print(m, file=sys.stderr))
    except ImageError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"{image.name} {image.path} ({time.monotonic() - started:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
