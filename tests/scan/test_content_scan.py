"""Content scanners in the layer walk, end to end: planted secrets in real images, layer
merging (whiteout, opaque dir, rewrite), the cache, and reports that never leak a secret."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import ClassVar

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.cache import DirLayerCache, InMemoryLayerCache, cache_key
from imagewarden.scan.detect.base import FileFinding, FindingCategory, Severity
from imagewarden.scan.detect.registry import build
from imagewarden.scan.model import ScanReport
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.report.json import render_json
from imagewarden.scan.report.sarif import render_sarif
from imagewarden.scan.secrets import SecretScanner
from imagewarden.scan.source import open_source
from imagewarden.scan.walker import walk_layer
from tests.scan.conftest import as_layer
from tests.testdata.images.build import Hardlink, make_layer, write_oci_layout
from tests.testdata.images.planted_secrets import (
    DELETED_TOKEN,
    SECRETS,
    clean_image,
    secrets_image,
)


def _scan(ref: str, cache: object = None, rule_files: tuple[Path, ...] = ()) -> ScanReport:
    chosen = build(["risk"], secret_rule_files=rule_files)
    src = open_source(ref)
    try:
        return scan_image(
            src,
            cache=cache,  # type: ignore[arg-type]
            detectors=chosen.detectors,
            content_scanners=chosen.content_scanners,
        )
    finally:
        src.close()


def _secret_findings(report: ScanReport) -> list[FileFinding]:
    (outcome,) = [o for o in report.outcomes if o.category is FindingCategory.SECRET]
    assert outcome.error is None
    return [f for f in outcome.findings if isinstance(f, FileFinding)]


def test_planted_secrets_are_found_where_they_are(tmp_path: Path) -> None:
    planted = secrets_image()
    write_oci_layout(tmp_path / "img", [("v1", planted.image)])
    report = _scan(f"oci:{tmp_path / 'img'}:v1")
    found = _secret_findings(report)
    assert {(f.rule_id, f.path, f.line) for f in found} == planted.expected
    lower, upper = (layer.diff_id for layer in report.layers)
    by_path = {f.path: f for f in found}
    assert by_path["/app/.env"].layer == lower
    assert by_path["/home/app/.git-credentials"].layer == upper
    key = by_path["/root/.ssh/id_ed25519"]
    assert key.excerpt == "-----BEGIN OPENSSH PRIVATE KEY-----"
    assert key.severity is Severity.HIGH and key.engine == "secrets"
    aws = next(f for f in found if f.rule_id == "aws-secret-access-key")
    assert aws.excerpt == "AWS_SECRET_ACCESS_KEY=********"
    assert aws.tags == ("AWS",) and aws.severity is Severity.CRITICAL


def test_no_secret_in_any_output_or_cache_file(tmp_path: Path) -> None:
    planted = secrets_image()
    write_oci_layout(tmp_path / "img", [("v1", planted.image)])
    cache = DirLayerCache(tmp_path / "cache")
    report = _scan(f"oci:{tmp_path / 'img'}:v1", cache)
    outputs = {
        "json": render_json(report).decode(),
        "sarif": render_sarif(report).decode(),
        "cache": "".join(p.read_text() for p in (tmp_path / "cache").glob("*.json")),
    }
    assert "********" in outputs["json"] and "********" in outputs["sarif"]
    for name, text in outputs.items():
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"{name} leaks {len(leaked)} secret(s)"
    sarif = json.loads(outputs["sarif"])
    results = sarif["runs"][0]["results"]
    env = next(r for r in results if r["ruleId"] == "aws-access-key-id")
    location = env["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "/app/.env"
    assert location["region"]["startLine"] == 3


def test_deleted_and_rewritten_files_are_not_reported(tmp_path: Path) -> None:
    planted = secrets_image()
    write_oci_layout(tmp_path / "img", [("v1", planted.image)])
    report = _scan(f"oci:{tmp_path / 'img'}:v1")
    paths = {f.path for f in _secret_findings(report)}
    # the lower layer did hold them (the walk found them) ...
    scanner = SecretScanner()
    lower = walk_layer(as_layer(planted.image.layers[0]), (), content_scanners=[scanner])
    lower_paths = {f.path for f in lower.findings}
    assert {"/app/old/token.txt", "/opt/cache/creds.txt", "/app/conf/db.properties"} <= (
        lower_paths
    )
    # ... but the upper layer deleted (whiteout, opaque dir) or rewrote them
    assert not {"/app/old/token.txt", "/opt/cache/creds.txt", "/app/conf/db.properties"} & paths


def test_clean_image_reports_nothing(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "img", [("v1", clean_image())])
    report = _scan(f"oci:{tmp_path / 'img'}:v1")
    assert {o.category for o in report.outcomes} == {FindingCategory.SECRET, FindingCategory.RISK}
    for outcome in report.outcomes:
        assert outcome.error is None
        assert outcome.findings == (), outcome.findings


def test_second_scan_uses_the_cache_and_rules_change_the_key(tmp_path: Path) -> None:
    planted = secrets_image()
    write_oci_layout(tmp_path / "img", [("v1", planted.image)])
    ref = f"oci:{tmp_path / 'img'}:v1"
    cache = InMemoryLayerCache()
    first = _scan(ref, cache)
    second = _scan(ref, cache)
    assert not any(layer.cached for layer in first.layers)
    assert all(layer.cached for layer in second.layers)
    assert _secret_findings(first) == _secret_findings(second)

    # an operator rule file changes the fingerprint: every layer is walked again
    extra = tmp_path / "extra.toml"
    extra.write_text(
        '[[rule]]\nid = "shop-name"\ncategory = "Test"\ntitle = "Shop app name"\n'
        "severity = \"LOW\"\nkeywords = [\"app_name\"]\nregex = '''APP_NAME=(?P<secret>\\w+)'''\n"
    )
    third = _scan(ref, cache, (extra,))
    assert not any(layer.cached for layer in third.layers)
    assert ("shop-name", "/app/.env", 2) in {
        (f.rule_id, f.path, f.line) for f in _secret_findings(third)
    }
    assert len(cache) == 4


def test_cache_key_includes_scanner_fingerprints() -> None:
    diff = "sha256:" + "a" * 64
    plain = cache_key(diff, [])
    scanner = SecretScanner()
    with_scanner = cache_key(diff, [], None, [scanner])
    assert plain != with_scanner
    assert with_scanner == cache_key(diff, [], None, [SecretScanner()])
    assert with_scanner != cache_key(diff, [], None, [SecretScanner(max_file_size=10)])


class _Boom:
    """A content scanner that wants ``*.boom`` and fails."""

    name: ClassVar[str] = "boom"
    category: ClassVar[FindingCategory] = FindingCategory.MALWARE

    def fingerprint(self) -> str:
        return "1"

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return path.suffix == ".boom"

    def scan(self, file: LayerFile) -> tuple[FileFinding, ...]:
        raise RuntimeError("kaboom")


def test_failing_scanner_is_an_unknown_and_hard_links_reuse_findings() -> None:
    token = DELETED_TOKEN
    layer = make_layer(
        [
            ("a/x.boom", b"x"),
            ("a/token", f"t={token}\n".encode()),
            ("b/link", Hardlink("a/token")),
        ]
    )
    facts = walk_layer(as_layer(layer), (), content_scanners=[_Boom(), SecretScanner()])
    assert [(u.path, u.analyzer) for u in facts.unknowns] == [("a/x.boom", "boom")]
    assert [(f.path, f.rule_id) for f in facts.findings] == [
        ("/a/token", "github-token"),
        ("/b/link", "github-token"),
    ]
    assert all(f.layer == layer.diff_id for f in facts.findings)
    assert {"a/token", "b/link"} <= set(facts.facts_paths)
