"""The SECRET detector: sensitive information in the image's files, config ``Env`` and
build history.

File findings come from ``SecretScanner`` during the layer walk (``ImageContents.findings``,
already cleared of files an upper layer deleted or rewrote).  The config and history are
scanned here with the same rules:

* ``Env``: the entries as the lines of a ``.env`` file (so the dotenv rule applies);
  findings have path ``config:Env`` and ``line`` = the 1-based entry number;
* history: each ``created_by`` with every ``NAME=value`` word moved to a line of its own
  (``ENV``, ``ARG`` and the ``|N NAME=value`` prefix of ``RUN`` steps using build args),
  scanned as a ``.env`` file; path ``config:history``, ``line`` = the 1-based entry number.

How the inventory shows a SECRET finding (DescribeAssetImageRiskList, documented in
docs/detectors.md): Behavior ``SECRET_BEHAVIOR``, Type ``SECRET_TYPE``, Level from the
severity (``risk_level``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import ClassVar

from imagewarden.scan.detect.base import (
    DetectorOutcome,
    FileFinding,
    FindingCategory,
    Severity,
)
from imagewarden.scan.model import ImageContents
from imagewarden.scan.secrets import SecretScanner
from imagewarden.scan.source.base import ImageConfig

__all__ = [
    "ENV_PATH",
    "HISTORY_PATH",
    "SECRET_BEHAVIOR",
    "SECRET_TYPE",
    "SecretDetector",
    "risk_level",
]

ENV_PATH = "config:Env"
HISTORY_PATH = "config:history"
#: DescribeAssetImageRiskList codes of a SECRET finding (docs/detectors.md)
SECRET_BEHAVIOR = 4  # credential exposure
SECRET_TYPE = 1  # sensitive information

_LEVEL = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1}
_ASSIGNMENT = re.compile(r"\s+(?=[A-Za-z_][A-Za-z0-9_]*=)")


def risk_level(severity: Severity) -> int:
    """TCSS Level (1 low .. 4 critical) of a finding severity."""
    return _LEVEL.get(severity, 1)


def history_text(created_by: str) -> str:
    """``created_by`` with each ``NAME=value`` word starting a line of its own."""
    return _ASSIGNMENT.sub("\n", created_by)


class SecretDetector:
    """Collects the walk's SECRET findings and scans the image config and history."""

    category: ClassVar[FindingCategory] = FindingCategory.SECRET

    def __init__(self, scanner: SecretScanner) -> None:
        self.scanner = scanner

    def detect(self, image: ImageContents) -> DetectorOutcome:
        findings: list[FileFinding] = [
            f for f in image.findings if f.category is FindingCategory.SECRET
        ]
        config = image.config
        if isinstance(config, ImageConfig):
            findings.extend(self._env(config.env))
            for i, entry in enumerate(config.history, 1):
                text = history_text(entry.created_by).encode("utf-8", "replace")
                findings.extend(
                    self.scanner.finding(replace(m, line=i), HISTORY_PATH)
                    for m in self.scanner.find(text, ".env")
                )
        return DetectorOutcome(category=self.category, findings=tuple(sorted(set(findings))))

    def _env(self, env: tuple[str, ...]) -> list[FileFinding]:
        if not env:
            return []
        # one entry per line: a value holding a newline cannot shift the numbering
        text = "\n".join(e.replace("\r", " ").replace("\n", " ") for e in env) + "\n"
        return [
            self.scanner.finding(m, ENV_PATH)
            for m in self.scanner.find(text.encode("utf-8", "replace"), ".env")
        ]
