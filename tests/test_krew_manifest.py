"""The krew manifest template (operator/taskops/cli/krew/taskops.yaml) renders to a
manifest krew accepts: one entry per platform built, each pointing at its own archive
with its sha256, running kubectl-taskops. Fast and offline: `make krew` builds the
archives and has krew itself validate and install them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from taskops.cli.krew.manifest import (
    PLATFORMS,
    PYTHONS,
    TEMPLATE,
    TemplateError,
    problems,
    render,
)

VALUES = {"TagName": "v0.1.0", "ReleaseURL": "https://example.invalid/taskops/v0.1.0",
          "Homepage": "https://example.invalid/taskops"}
SHA256S = {p.archive: f"{i:x}" * 64 for i, p in enumerate(PLATFORMS, start=10)}


def rendered(template: str | None = None) -> Any:
    return yaml.safe_load(render(TEMPLATE.read_text() if template is None else template,
                                 VALUES, SHA256S))


def test_the_template_renders_to_a_valid_manifest_with_every_platform() -> None:
    manifest = rendered()
    assert problems(manifest) == []
    assert manifest["spec"]["version"] == "v0.1.0"
    entries = {(e["selector"]["matchLabels"]["os"], e["selector"]["matchLabels"]["arch"]): e
               for e in manifest["spec"]["platforms"]}
    assert set(entries) == {(p.os, p.arch) for p in PLATFORMS}
    linux = entries[("linux", "amd64")]
    assert linux["uri"] == ("https://example.invalid/taskops/v0.1.0/"
                            "kubectl-taskops-linux-amd64.tar.gz")
    assert linux["sha256"] == SHA256S["kubectl-taskops-linux-amd64.tar.gz"]


def test_the_caveats_name_every_python_the_archives_carry() -> None:
    caveats = rendered()["spec"]["caveats"]
    for version in PYTHONS:
        assert version in caveats, f"caveats do not name CPython {version}"


def test_a_platform_missing_from_the_template_is_named() -> None:
    text = TEMPLATE.read_text()
    start = text.index("  - selector:\n      matchLabels:\n        os: darwin\n        arch: arm64")
    assert problems(rendered(text[:start])) == ["no spec.platforms entry for darwin/arm64"]


def test_an_entry_pointing_at_another_platforms_archive_is_named() -> None:
    text = TEMPLATE.read_text().replace("kubectl-taskops-linux-arm64.tar.gz",
                                        "kubectl-taskops-linux-amd64.tar.gz")
    assert problems(rendered(text)) == [
        "spec.platforms[1].uri 'https://example.invalid/taskops/v0.1.0/"
        "kubectl-taskops-linux-amd64.tar.gz' is not kubectl-taskops-linux-arm64.tar.gz"]


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("        arch: arm64\n", "        arch: amd64\n",
     "spec.platforms[1] selects linux/amd64 as [0] does"),
    ("    bin: kubectl-taskops\n", "    bin: kubectl-taskops.exe\n",
     "spec.platforms[0].bin is 'kubectl-taskops.exe', not kubectl-taskops"),
    ("kind: Plugin", "kind: Plugins", "kind is 'Plugins', not Plugin"),
    ("  name: taskops", "  name: task-ops",
     "metadata.name must be 'taskops' (the file is taskops.yaml)"),
    ("python3", "python", "spec.caveats must say that python3 is needed on PATH"),
])
def test_a_wrong_field_is_named(old: str, new: str, problem: str) -> None:
    text = TEMPLATE.read_text()
    assert old in text
    assert problem in problems(rendered(text.replace(old, new, 1)))


def test_a_version_that_is_no_tag_is_refused() -> None:
    text = render(TEMPLATE.read_text(), {**VALUES, "TagName": "0.1"}, SHA256S)
    assert problems(yaml.safe_load(text)) == [
        "spec.version '0.1' is not a version like v1.2.3"]


def test_an_archive_not_built_cannot_be_rendered() -> None:
    missing = {k: v for k, v in SHA256S.items() if "darwin-amd64" not in k}
    with pytest.raises(TemplateError, match="no sha256 for kubectl-taskops-darwin-amd64"):
        render(TEMPLATE.read_text(), VALUES, missing)


def test_a_value_not_given_cannot_be_rendered() -> None:
    with pytest.raises(TemplateError, match=r"no value for \{\{ \.Homepage \}\}"):
        render(TEMPLATE.read_text(), {k: v for k, v in VALUES.items() if k != "Homepage"},
               SHA256S)


def test_uri_and_sha_lines_keep_the_placeholders_indentation() -> None:
    text = render('  - x: 1\n    {{addURIAndSha "{{ .ReleaseURL }}/a.tar.gz" .TagName }}\n',
                  VALUES, {"a.tar.gz": "f" * 64})
    assert text == ("  - x: 1\n    uri: https://example.invalid/taskops/v0.1.0/a.tar.gz\n"
                    f'    sha256: "{"f" * 64}"\n')


def test_each_archive_carries_the_wheels_of_its_platform_for_every_python() -> None:
    linux = next(p for p in PLATFORMS if p.name == "linux-amd64")
    assert linux.pex_platforms() == [
        "manylinux2014_x86_64-cp-311-cp311", "manylinux2014_x86_64-cp-312-cp312",
        "manylinux2014_x86_64-cp-313-cp313", "manylinux2014_x86_64-cp-314-cp314"]
    assert [p.name for p in PLATFORMS] == [
        "linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"]


def test_a_digest_of_digits_only_stays_a_string() -> None:
    digits = {k: "1" * 64 for k in SHA256S}
    manifest = yaml.safe_load(render(TEMPLATE.read_text(), VALUES, digits))
    assert problems(manifest) == []
