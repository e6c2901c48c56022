"""Which content scanners and detectors a scan runs, by TCSS scan category.

The categories are those of CreateAssetImageScanTask's flags and the CLI's ``--scanners``:

* ``vuln``  → the vulnerability detector (needs an advisory database, so the caller builds
  it and passes it in);
* ``virus`` → the malware engine: a content scanner plus its detector, built by
  ``malware_factory`` (``MALWARE_FACTORY`` when the caller gives none);
* ``risk``  → the secret scanner (content) + ``SecretDetector`` (SECRET) and the
  ``BuildRiskDetector`` (RISK), sharing one rule set.

No import side effects: ``build`` is one explicit function, like the analyzer registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from imagewarden.scan.detect.base import ContentScanner, Detector

__all__ = [
    "CATEGORIES",
    "MALWARE_FACTORY",
    "DetectorSet",
    "MalwareFactory",
    "build",
    "parse_categories",
]

CATEGORIES = ("vuln", "virus", "risk")

#: builds the malware engine: (content scanners, detectors)
MalwareFactory = Callable[[], tuple[Sequence[ContentScanner], Sequence[Detector]]]


def _shipped_malware() -> tuple[Sequence[ContentScanner], Sequence[Detector]]:
    """The malware engine with the rules imagewarden ships (no operator rules, no hash
    blocklist, no clamd): imported on use, so choosing other categories never loads YARA."""
    from imagewarden.scan.malware import malware_factory

    return malware_factory()()


#: the malware engine used when ``build`` is given no ``malware_factory``
MALWARE_FACTORY: MalwareFactory | None = _shipped_malware


@dataclass(frozen=True)
class DetectorSet:
    """What to pass to ``scan_image``, plus notes on categories that could not be built."""

    content_scanners: tuple[ContentScanner, ...] = ()
    detectors: tuple[Detector, ...] = ()
    notes: tuple[str, ...] = ()


def parse_categories(text: str) -> frozenset[str]:
    """``"vuln,risk"`` → the set; an unknown name raises ``ValueError``."""
    wanted = {w.strip().lower() for w in text.split(",") if w.strip()}
    if unknown := sorted(wanted - set(CATEGORIES)):
        raise ValueError(
            f"unknown scanner(s) {', '.join(unknown)}; choose from {', '.join(CATEGORIES)}"
        )
    if not wanted:
        raise ValueError(f"no scanner chosen; choose from {', '.join(CATEGORIES)}")
    return frozenset(wanted)


def build(
    categories: Iterable[str],
    *,
    vuln_detector: Detector | None = None,
    secret_rule_files: Sequence[str | Path] = (),
    malware_factory: MalwareFactory | None = None,
) -> DetectorSet:
    """The content scanners and detectors of ``categories``.

    Raises ``imagewarden.scan.secrets.RuleError`` for an unusable operator rule file.
    """
    wanted = set(categories)
    scanners: list[ContentScanner] = []
    detectors: list[Detector] = []
    notes: list[str] = []
    if "vuln" in wanted:
        if vuln_detector is not None:
            detectors.append(vuln_detector)
        else:
            notes.append("vuln: no vulnerability database given, no vulnerability findings")
    if "virus" in wanted:
        factory = malware_factory if malware_factory is not None else MALWARE_FACTORY
        if factory is None:
            notes.append("virus: the malware engine is not available in this build")
        else:
            more_scanners, more_detectors = factory()
            scanners.extend(more_scanners)
            detectors.extend(more_detectors)
    if "risk" in wanted:
        from imagewarden.scan.detect.build_risks import BuildRiskDetector
        from imagewarden.scan.detect.secrets import SecretDetector
        from imagewarden.scan.secrets import SecretScanner

        secrets = SecretScanner.from_files(secret_rule_files)
        scanners.append(secrets)
        detectors.extend([SecretDetector(secrets), BuildRiskDetector(secrets)])
    return DetectorSet(tuple(scanners), tuple(detectors), tuple(notes))
