"""The krew plugin manifest of kubectl-taskops: the platforms it is built for, the
template (`taskops.yaml` beside this file) rendered with each archive's sha256, and
the checks a rendered manifest must pass. Pure: text and values in, text and problems
out (`release.py` builds the archives and runs krew)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).with_name("taskops.yaml")

PLUGIN = "taskops"
BIN = "kubectl-taskops"

#: The CPython versions each archive carries wheels for. pydantic_core, orjson, pyyaml
#: and aiohttp ship binary wheels per version (no abi3), so a version missing here has
#: none of them: 3.15 waits for orjson's cp315 wheels.
PYTHONS = ("3.11", "3.12", "3.13", "3.14")


@dataclass(frozen=True)
class Platform:
    """One krew platform (its `os`/`arch` selector) and the wheel platform tag whose
    binary wheels run there."""

    os: str
    arch: str
    #: manylinux2014 is glibc 2.17+ (every maintained distribution but musl ones);
    #: macOS 11 also takes the 10.x wheels some packages still ship for x86_64.
    wheel_platform: str

    @property
    def name(self) -> str:
        return f"{self.os}-{self.arch}"

    @property
    def archive(self) -> str:
        return f"{BIN}-{self.name}.tar.gz"

    def pex_platforms(self) -> list[str]:
        """pex's abbreviated platforms: this OS and CPU for every version of PYTHONS."""
        return [f"{self.wheel_platform}-cp-{v.replace('.', '')}-cp{v.replace('.', '')}"
                for v in PYTHONS]


#: Windows is not among them: kubectl runs a plugin on Windows only as an .exe, and a
#: zipapp needs a launcher executable that pex does not make.
PLATFORMS = (
    Platform("linux", "amd64", "manylinux2014_x86_64"),
    Platform("linux", "arm64", "manylinux2014_aarch64"),
    Platform("darwin", "amd64", "macosx_11_0_x86_64"),
    Platform("darwin", "arm64", "macosx_11_0_arm64"),
)


class TemplateError(ValueError):
    """The template cannot be rendered with what was given."""


_URI_AND_SHA = re.compile(r'\{\{\s*addURIAndSha\s+"([^"]+)"\s+\.TagName\s*\}\}')
_VARIABLE = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")
_SHA256 = re.compile(r"^[a-f0-9]{64}$")
_VERSION = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


def render(template: str, values: Mapping[str, str], sha256s: Mapping[str, str]) -> str:
    """The manifest: `{{ .Name }}` replaced by `values[Name]` (TagName, ReleaseURL,
    Homepage), and each `{{addURIAndSha "URL" .TagName }}` by `uri: URL` and
    `sha256: "<sha256s[archive file name]>"`, at its indentation, as krew-release-bot
    does. A variable or an archive without a value is a TemplateError."""
    def variable(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise TemplateError(f"no value for {{{{ .{match.group(1)} }}}}")
        return values[match.group(1)]

    def uri_and_sha(match: re.Match[str]) -> str:
        uri = _VARIABLE.sub(variable, match.group(1))
        archive = uri.rsplit("/", 1)[-1]
        if archive not in sha256s:
            raise TemplateError(f"no sha256 for {archive} (was it built?)")
        line_start = template.rfind("\n", 0, match.start()) + 1
        indent = " " * (match.start() - line_start)
        # Quoted: a hex digest of digits only (or digits, one "e", digits) is a number to YAML.
        return f'uri: {uri}\n{indent}sha256: "{sha256s[archive]}"'

    text = _VARIABLE.sub(variable, _URI_AND_SHA.sub(uri_and_sha, template))
    if "{{" in text:
        line = next(line for line in text.splitlines() if "{{" in line)
        raise TemplateError(f"a placeholder was left: {line.strip()}")
    return text


def problems(manifest: Any, platforms: tuple[Platform, ...] = PLATFORMS) -> list[str]:
    """What is wrong with a rendered manifest (empty: nothing), by krew's rules (those
    of its validate-krew-manifest) and ours: exactly one entry per platform we build,
    each pointing at that platform's archive, running kubectl-taskops."""
    if not isinstance(manifest, Mapping):
        return ["the manifest is not a mapping"]
    found: list[str] = []
    if manifest.get("apiVersion") != "krew.googlecontainertools.github.com/v1alpha2":
        found.append(f"apiVersion is {manifest.get('apiVersion')!r}")
    if manifest.get("kind") != "Plugin":
        found.append(f"kind is {manifest.get('kind')!r}, not Plugin")
    if (manifest.get("metadata") or {}).get("name") != PLUGIN:
        found.append(f"metadata.name must be {PLUGIN!r} (the file is {PLUGIN}.yaml)")
    spec = manifest.get("spec") or {}
    if not _VERSION.match(str(spec.get("version", ""))):
        found.append(f"spec.version {spec.get('version')!r} is not a version like v1.2.3")
    short = str(spec.get("shortDescription") or "")
    if not short or "\n" in short:
        found.append("spec.shortDescription must be one line")
    if "python3" not in str(spec.get("caveats") or ""):
        found.append("spec.caveats must say that python3 is needed on PATH")
    entries = spec.get("platforms") or []
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(entries):
        where = f"spec.platforms[{i}]"
        labels = ((entry.get("selector") or {}).get("matchLabels") or {})
        key = (str(labels.get("os")), str(labels.get("arch")))
        if set(labels) != {"os", "arch"}:
            found.append(f"{where}.selector.matchLabels must be os and arch, not {labels}")
        if key in seen:
            found.append(f"{where} selects {key[0]}/{key[1]} as [{seen[key]}] does")
        seen[key] = i
        platform = next((p for p in platforms if (p.os, p.arch) == key), None)
        if platform is None:
            found.append(f"{where} selects {key[0]}/{key[1]}, not a platform we build")
        elif not str(entry.get("uri", "")).endswith("/" + platform.archive):
            found.append(f"{where}.uri {entry.get('uri')!r} is not {platform.archive}")
        if not str(entry.get("uri", "")).startswith(("https://", "http://")):
            found.append(f"{where}.uri must be an http(s) URL")
        digest = entry.get("sha256")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            found.append(f"{where}.sha256 {entry.get('sha256')!r} is not a sha256")
        if entry.get("bin") != BIN:
            found.append(f"{where}.bin is {entry.get('bin')!r}, not {BIN}")
        files = entry.get("files") or []
        if not any(f.get("from") == BIN and f.get("to") for f in files):
            found.append(f"{where}.files must move {BIN} out of the archive")
    for platform in platforms:
        if (platform.os, platform.arch) not in seen:
            found.append(f"no spec.platforms entry for {platform.os}/{platform.arch}")
    return found
