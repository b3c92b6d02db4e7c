"""Pack root filesystem trees into a docker-archive image tarball.

The layer is one tar of the given trees (``--root HOST_DIR:IMAGE_PATH``, later
trees on top), the archive is written by the cluster's own
``e2e/cluster/images/mkimage.py`` (config, manifest.json), so every image of
the test cluster is made the same way and imports with
``ctr -n k8s.io images import``.

File modes, owners and modification times are kept: Python's bytecode caches
record their source's mtime, and a cache that looks stale would be recompiled
on every start (and could not be written back on a read-only root filesystem).
Entries are sorted, so the same trees give the same bytes.

    python3 pack.py --root rootfs:/ --root venv:/opt/taskops --tag taskops.dev/taskops:0.1.0 \\
        --out taskops.tar --entrypoint "/opt/taskops/bin/python -m taskops" \\
        --env PATH=... --user 65532:65532
"""

from __future__ import annotations

import argparse
import io
import os
import stat
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster" / "images"))
from mkimage import write_archive  # the cluster's own image writer

# A container's /dev, /proc and /sys are mounted by the runtime; what debootstrap
# left in them (device nodes) does not belong in an image.
MOUNTED = ("dev", "proc", "sys")


def entries(roots: list[tuple[Path, str]]) -> list[tuple[str, Path]]:
    """(path in the image, host path) of every file and directory, parents first."""
    found: dict[str, Path] = {}
    for host_root, image_root in roots:
        prefix = image_root.strip("/")
        for directory, subdirs, files in os.walk(host_root):
            subdirs.sort()
            relative = os.path.relpath(directory, host_root)
            base = "" if relative == "." else relative
            if base.split("/", 1)[0] in MOUNTED and not prefix:
                subdirs.clear()
                files = []
            for name in subdirs + files:
                inner = f"{base}/{name}" if base else name
                found["/".join(p for p in (prefix, inner) if p)] = Path(directory) / name
    return sorted(found.items())


def build_layer(roots: list[tuple[Path, str]]) -> bytes:
    """One layer tar of ``roots``; device nodes and sockets are left out."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, path in entries(roots):
            mode = path.lstat().st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                continue
            info = tar.gettarinfo(str(path), arcname)
            # Numeric owners only: names would be looked up in the image's /etc/passwd.
            info.uname = info.gname = ""
            if info.isreg():
                with path.open("rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)
    return buf.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--root", action="append", required=True, help="HOST_DIR:IMAGE_PATH")
    p.add_argument("--tag", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--entrypoint", default="", help="the command, words separated by spaces")
    p.add_argument("--cmd", default="", help="the default arguments, words separated by spaces")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--user", default="")
    a = p.parse_args()
    roots = [(Path(host), image) for host, image in (r.split(":", 1) for r in a.root)]
    layer = build_layer(roots)
    tmp = a.out.with_suffix(".partial")
    digest = write_archive(tmp, a.tag, layer, a.entrypoint.split(), a.cmd.split(), a.env,
                           a.user)
    tmp.rename(a.out)
    print(f"{a.tag} {digest} ({len(layer) / 2**20:.0f} MiB layer) -> {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
