"""The spec field reference in README.md, generated from the CRD schemas.

    python -m taskops.api.reference          # rewrite the tables in README.md
    python -m taskops.api.reference --check  # exit 1 if README.md is stale

Each kind's table sits between `<!-- reference:<kind>:start -->` and
`<!-- reference:<kind>:end -->`; the rows come from the same schema the CRD
carries, so README, `kubectl explain` and the API server cannot disagree.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from taskops.api.crdgen import DESCRIPTORS, REPO_ROOT, CrdDescriptor, crd

README: Final = REPO_ROOT / "README.md"
# Embedded Kubernetes objects are documented upstream; stop descending there.
_OPAQUE: Final = "x-kubernetes-preserve-unknown-fields"
# Documented in their own table already (a TaskJob spec).
_SEE_ABOVE: Final = frozenset({"taskJobTemplate.spec"})


def _type(node: dict[str, Any]) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "int or string"
    kind = str(node.get("type", "object"))
    if kind == "array":
        return f"list of {_type(node.get('items', {}))}"
    if "enum" in node:
        return " \\| ".join(f"`{value}`" for value in node["enum"])
    return kind


def _rows(node: dict[str, Any], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    required = set(node.get("required", []))
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        default = child.get("default")
        shown = "" if default is None else f"`{default}`".replace("`True`", "`true`").replace(
            "`False`", "`false`")
        if name in required:
            shown = "required"
        description = " ".join(str(child.get("description", "")).split()).replace("|", "\\|")
        if path in _SEE_ABOVE:
            description += " The fields of a TaskJob spec (see the TaskJob table)."
        yield path, _type(child), shown, description
        if child.get("type") == "object" and not child.get(_OPAQUE) and path not in _SEE_ABOVE:
            yield from _rows(child, path)


def table(descriptor: CrdDescriptor) -> str:
    """The markdown table of `spec` fields of one kind."""
    version = crd(descriptor, every_default=True)["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{p}` | {t} | {d} | {m} |" for p, t, d, m in _rows(spec, "")]
    return "\n".join(lines)


def render(readme: str) -> str:
    """`readme` with every reference table regenerated."""
    for descriptor in DESCRIPTORS:
        kind = descriptor.names.kind
        start, end = f"<!-- reference:{kind}:start -->", f"<!-- reference:{kind}:end -->"
        pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
        replacement = f"{start}\n{table(descriptor)}\n{end}"
        # A literal replacement: the table must not be read as a regex template.
        readme = pattern.sub(replacement.replace("\\", "\\\\"), readme)
    return readme


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if README.md is stale")
    args = parser.parse_args(argv)
    current = README.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("README.md reference is stale: run `python -m taskops.api.reference`")
            return 1
        return 0
    Path(README).write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
