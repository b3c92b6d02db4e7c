"""Write a docker-archive image tarball from files on this machine.

No Docker engine and no registry here, so the test cluster's images are made
by hand in the one format `ctr images import` and `docker load` both read: a
single layer tar, a config JSON naming that layer's diff ID, and a
manifest.json. The output is byte-for-byte reproducible (fixed mtimes, sorted
entries), so the image ID only changes when the content does.

    python3 mkimage.py --tag registry.k8s.io/pause:3.10 --out pause.tar \
        --file /tmp/pause:/pause --entrypoint /pause
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

EPOCH = 0  # fixed mtime: reproducible layers


def _add(tar: tarfile.TarFile, info: tarfile.TarInfo, data: bytes | None = None) -> None:
    info.mtime = EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _dir(tar: tarfile.TarFile, path: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(path)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    _add(tar, info)


def build_layer(files: list[tuple[str, str]], links: list[tuple[str, str]],
                dirs: list[str], texts: list[tuple[str, str]]) -> bytes:
    """A layer tar: host files copied in, symlinks, empty dirs and small text files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        wanted: set[str] = set()
        for dst in [d for d in dirs] + [p for _, p in files] + [p for p, _ in links] + [
            p for p, _ in texts
        ]:
            parts = dst.strip("/").split("/")
            for i in range(1, len(parts)):
                wanted.add("/".join(parts[:i]))
        wanted.update(d.strip("/") for d in dirs)
        for d in sorted(wanted):
            _dir(tar, d, 0o1777 if d == "tmp" else 0o755)
        for src, dst in sorted(files, key=lambda f: f[1]):
            data = Path(src).read_bytes()
            info = tarfile.TarInfo(dst.strip("/"))
            info.size = len(data)
            info.mode = os.stat(src).st_mode & 0o7777
            _add(tar, info, data)
        for path, text in sorted(texts):
            data = text.encode()
            info = tarfile.TarInfo(path.strip("/"))
            info.size = len(data)
            info.mode = 0o644
            _add(tar, info, data)
        for path, target in sorted(links):
            info = tarfile.TarInfo(path.strip("/"))
            info.type = tarfile.SYMTYPE
            info.linkname = target
            info.mode = 0o777
            _add(tar, info)
    return buf.getvalue()


def write_archive(out: Path, tag: str, layer: bytes, entrypoint: list[str], cmd: list[str],
                  env: list[str], user: str) -> str:
    """Write the docker-archive tarball; return the image config digest."""
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": entrypoint or None, "Cmd": cmd or None, "Env": env,
                   "User": user, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "taskops mkimage"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]
    with tarfile.open(out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in ((config_name, config_bytes), (layer_name, layer),
                           ("manifest.json", json.dumps(manifest).encode())):
            if "/" in name:
                _dir(tar, name.split("/")[0])
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            _add(tar, info, data)
    return "sha256:" + config_name.removesuffix(".json")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tag", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--file", action="append", default=[], help="HOST_PATH:IMAGE_PATH")
    p.add_argument("--link", action="append", default=[], help="IMAGE_PATH:TARGET (symlink)")
    p.add_argument("--dir", action="append", default=[], help="IMAGE_PATH (empty directory)")
    p.add_argument("--text", action="append", default=[], help="IMAGE_PATH=CONTENT")
    p.add_argument("--entrypoint", nargs="*", default=[])
    p.add_argument("--cmd", nargs="*", default=[])
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--user", default="")
    a = p.parse_args()
    files = [tuple(f.split(":", 1)) for f in a.file]
    links = [tuple(link.split(":", 1)) for link in a.link]
    texts = [tuple(t.split("=", 1)) for t in a.text]
    layer = build_layer(files, links, a.dir, texts)  # type: ignore[arg-type]
    digest = write_archive(a.out, a.tag, layer, a.entrypoint, a.cmd, a.env, a.user)
    print(f"{a.tag} {digest} -> {a.out}")


if __name__ == "__main__":
    main()
