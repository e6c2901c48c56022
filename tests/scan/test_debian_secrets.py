"""No false positives on a real Debian root filesystem (the mmdebstrap fixture of
test_debian_rootfs: essential + zlib1g, libssl3, openssl, ca-certificates, tzdata).

A clean distribution root holds no credentials, so every SECRET finding here would be a
false positive; the assertion message lists them.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.cache import InMemoryLayerCache
from imagewarden.scan.detect.base import FileFinding, FindingCategory
from imagewarden.scan.detect.registry import build
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.secrets import SecretScanner
from imagewarden.scan.source import open_source
from tests.scan.test_debian_rootfs import debian_images, debian_rootfs  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


class _Counting:
    """Delegates to the real scanner and counts the files it looked at."""

    def __init__(self, inner: SecretScanner) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.category = inner.category  # type: ignore[misc]
        self.files = 0

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return self.inner.wants(path, info)

    def scan(self, file: LayerFile) -> tuple[FileFinding, ...]:
        self.files += 1
        return self.inner.scan(file)


def test_no_secret_false_positives_on_debian(debian_images: dict[str, str]) -> None:  # noqa: F811
    chosen = build(["risk"])
    (scanner,) = chosen.content_scanners
    assert isinstance(scanner, SecretScanner)
    counting = _Counting(scanner)
    src = open_source(debian_images["oci"])
    try:
        report = scan_image(
            src,
            cache=InMemoryLayerCache(),
            detectors=chosen.detectors,
            content_scanners=[counting],
        )
    finally:
        src.close()
    # the rules really ran over the root: thousands of files (scripts, configs, perl, data)
    assert counting.files > 1000
    (secret,) = [o for o in report.outcomes if o.category is FindingCategory.SECRET]
    assert secret.error is None
    fps = [
        f"{f.rule_id} {f.path}:{f.line} {f.excerpt}"
        for f in secret.findings
        if isinstance(f, FileFinding)
    ]
    assert fps == [], "false positives:\n" + "\n".join(fps)
    assert not [u for u in report.unknowns if u.analyzer == "secrets"]
    assert report.os is not None and report.os.name == "debian:12"
