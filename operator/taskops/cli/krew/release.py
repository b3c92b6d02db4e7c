"""Build kubectl-taskops's krew archives and manifest, and test them with krew itself.

    python -m taskops.cli.krew.release build --out dist/krew --tag v0.1.0 \\
        --release-url URL --homepage URL [--pex PATH] [--platform linux-amd64 ...]
    python -m taskops.cli.krew.release check dist/krew --krew PATH --validator PATH

`build` makes the project's wheel, then per platform one zipapp with pex (its
`--platform` picks the binary wheels of that OS and CPU for each CPython of
`manifest.PYTHONS`, so the archive runs on whichever of them is the user's python3),
packs it as `kubectl-taskops-<os>-<arch>.tar.gz`, and renders `taskops.yaml` with the
sha256s. With `--platform` only those archives are built and the manifest is not
rendered (it needs every platform's sha256). `check` runs krew's validate-krew-manifest,
then `krew install --manifest --archive` of every platform's archive into a temporary
KREW_ROOT (KREW_OS/KREW_ARCH select the entry), and runs the installed kubectl-taskops
of this machine's platform. `make krew` does both.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform as host
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from taskops.cli.krew.manifest import BIN, PLATFORMS, PLUGIN, TEMPLATE, Platform, problems, render

REPO = Path(__file__).resolve().parents[4]


def run(argv: Sequence[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, its output shown; a failure ends the build with its output."""
    print("+", " ".join(str(a) for a in argv), flush=True)
    proc = subprocess.run([str(a) for a in argv], text=True, capture_output=True,
                          check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        sys.exit(f"{argv[0]} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc  # type: ignore[no-any-return]


def build_wheel(out: Path) -> Path:
    """The project's own wheel (pure Python: one for every platform)."""
    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("taskops-*.whl"):
        old.unlink()
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, REPO])
    return next(wheels.glob("taskops-*.whl"))


def build_zipapp(pex: str, wheel: Path, target: Platform, out: Path) -> Path:
    """kubectl-taskops for one platform: a zipapp with the wheels of every PYTHONS."""
    app = out / "stage" / target.name / BIN
    app.parent.mkdir(parents=True, exist_ok=True)
    argv: list[str | Path] = [pex, wheel, "-f", wheel.parent, "-c", BIN, "-o", app,
            # --venv: the first run makes a venv under PEX_ROOT and later runs exec it
            # (1.3 s to --help, as a pip install, instead of 8 s of pex's own import
            # machinery); --sh-boot: a /bin/sh preamble finds the python3 and goes
            # straight to that venv.
            "--venv", "--sh-boot", "--no-emit-warnings"]
    for abbreviated in target.pex_platforms():
        argv += ["--platform", abbreviated]
    run(argv)
    return app


def pack(app: Path, target: Platform, out: Path) -> Path:
    """The archive krew downloads: the zipapp alone, executable, with fixed owner and
    time so that the same zipapp gives the same sha256."""
    archive = out / target.archive
    data = app.read_bytes()
    with tarfile.open(archive, "w:gz", compresslevel=9) as tar:
        info = tarfile.TarInfo(BIN)
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        tar.addfile(info, io.BytesIO(data))
    return archive


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(args: argparse.Namespace) -> None:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    chosen = [p for p in PLATFORMS if not args.platform or p.name in args.platform]
    unknown = set(args.platform or []) - {p.name for p in PLATFORMS}
    if unknown:
        sys.exit(f"unknown --platform {', '.join(sorted(unknown))} "
                 f"(known: {', '.join(p.name for p in PLATFORMS)})")
    wheel = build_wheel(out)
    sha256s: dict[str, str] = {}
    for target in chosen:
        started = time.monotonic()
        archive = pack(build_zipapp(args.pex, wheel, target, out), target, out)
        sha256s[archive.name] = sha256(archive)
        print(f"{archive.name}: {archive.stat().st_size / 1e6:.1f} MB, sha256 "
              f"{sha256s[archive.name]}, built in {time.monotonic() - started:.0f}s", flush=True)
    if len(chosen) < len(PLATFORMS):
        print(f"not rendering {PLUGIN}.yaml: only {len(chosen)} of {len(PLATFORMS)} "
              "platforms were built")
        return
    text = render(TEMPLATE.read_text(), {"TagName": args.tag, "ReleaseURL": args.release_url,
                                         "Homepage": args.homepage}, sha256s)
    found = problems(yaml.safe_load(text))
    if found:
        sys.exit("the rendered manifest is wrong:\n  " + "\n  ".join(found))
    (out / f"{PLUGIN}.yaml").write_text(text)
    print(f"wrote {out / f'{PLUGIN}.yaml'}")


def host_platform() -> Platform:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64",
            "arm64": "arm64"}.get(host.machine().lower(), host.machine())
    found = next((p for p in PLATFORMS if (p.os, p.arch) == (sys.platform, arch)), None)
    if found is None:
        sys.exit(f"this machine ({sys.platform}/{arch}) is none of the built platforms")
    return found


def check(args: argparse.Namespace) -> None:
    out = Path(args.dir).resolve()
    manifest = out / f"{PLUGIN}.yaml"
    # Structure, selectors, no overlap; its install step downloads every uri, and the
    # archives are not published yet: they are installed from the files below instead.
    run([args.validator, "-manifest", manifest, "-skip-install"])
    mine = host_platform()
    with tempfile.TemporaryDirectory(prefix="taskops-krew-") as tmp:
        for target in PLATFORMS:
            root = Path(tmp) / target.name
            env = {**os.environ, "KREW_ROOT": str(root), "KREW_OS": target.os,
                   "KREW_ARCH": target.arch}
            # krew checks the archive's sha256 against the manifest, unpacks it, and
            # links bin: a wrong sha256, path or file name fails here.
            run([args.krew, "install", f"--manifest={manifest}",
                 f"--archive={out / target.archive}", "--no-update-index"], env=env)
            installed = root / "bin" / BIN
            if not installed.exists():
                sys.exit(f"{target.name}: krew installed no {installed}")
        plugin = Path(tmp) / mine.name / "bin" / BIN
        env = {**os.environ, "PEX_ROOT": str(Path(tmp) / "pex")}
        started = time.monotonic()
        helped = run([plugin, "--help"], env=env)
        first = time.monotonic() - started
        if "kubectl taskops" not in helped.stdout:
            sys.exit(f"{plugin} --help printed:\n{helped.stdout}")
        started = time.monotonic()
        shown = run([plugin, "next", "--schedule", "*/15 * * * *", "--time-zone",
                     "Europe/Berlin"], env=env)
        second = time.monotonic() - started
        print(shown.stdout, end="")
        if not shown.stdout.startswith("UTC") or "LOCAL (Europe/Berlin)" not in shown.stdout:
            sys.exit(f"{plugin} next printed:\n{shown.stdout}")
        print(f"krew installed all {len(PLATFORMS)} archives; {mine.name}'s kubectl-taskops "
              f"ran from {plugin.parent} (first run {first:.1f}s, unpacking; then {second:.1f}s)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m taskops.cli.krew.release",
                                     description=__doc__.split("\n\n")[0] if __doc__ else "")
    verbs = parser.add_subparsers(dest="verb", required=True)
    b = verbs.add_parser("build", help="the archives and the rendered manifest")
    b.add_argument("--out", required=True, help="directory for the archives and taskops.yaml")
    b.add_argument("--tag", required=True, help="the release tag, e.g. v0.1.0")
    b.add_argument("--release-url", required=True,
                   help="where the archives will be downloaded from (the release's URL)")
    b.add_argument("--homepage", required=True, help="the project's home page")
    b.add_argument("--pex", default="pex", help="the pex to build with (default: on PATH)")
    b.add_argument("--platform", action="append",
                   help="only this one (os-arch, repeatable); the manifest is then not written")
    c = verbs.add_parser("check", help="validate, krew install every archive, run this one")
    c.add_argument("dir", help="the --out of build")
    c.add_argument("--krew", required=True, help="the krew binary")
    c.add_argument("--validator", required=True, help="krew's validate-krew-manifest")
    args = parser.parse_args(argv)
    build(args) if args.verb == "build" else check(args)


if __name__ == "__main__":
    main()
