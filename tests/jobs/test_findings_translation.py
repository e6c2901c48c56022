"""jobs.scanning: detector outcomes (MALWARE, SECRET, RISK) → the inventory's records."""

from __future__ import annotations

from datetime import datetime

from imagewarden.inventory.models import HistoryStep, RiskRecord, VirusRecord
from imagewarden.jobs.scanning import outcome_from_report, redact_instruction
from imagewarden.scan.detect.base import (
    BuildRiskFinding,
    DetectorOutcome,
    FileFinding,
    FindingCategory,
    Severity,
)
from imagewarden.scan.model import Digest, ScanReport
from imagewarden.scan.source.base import HistoryEntry, ImageConfig

IMAGE = Digest("sha256:" + "a" * 64)
LAYER = "sha256:" + "b" * 64
WHEN = datetime(2026, 3, 1, 8, 0, 0)


def report(*outcomes: DetectorOutcome) -> ScanReport:
    return ScanReport(
        image_id=IMAGE,
        repo_tags=(),
        repo_digests=(),
        manifest_digest=None,
        os=None,
        components=(),
        unknowns=(),
        outcomes=outcomes,
        size=0,
        created=None,
        architecture="amd64",
        layer_count=1,
    )


def malware(title: str, severity: Severity, engine: str = "yara") -> FileFinding:
    return FileFinding(
        category=FindingCategory.MALWARE,
        rule_id=f"{engine}:{title}",
        title=title,
        severity=severity,
        path="/opt/app/eicar.com",
        layer=LAYER,
        md5="44d88612fea8a8f36de82e1278abb02f",
        size=68,
        tags=("test",),
        engine=engine,
        description="a test file",
        solution="delete it",
    )


SECRET = FileFinding(
    category=FindingCategory.SECRET,
    rule_id="aws-access-key-id",
    title="AWS access key ID",
    severity=Severity.HIGH,
    path="/app/.env",
    layer=LAYER,
    line=3,
    excerpt="AWS_ACCESS_KEY_ID=AKIA************",
    engine="secrets",
)
ROOT = BuildRiskFinding("run-as-root", 2, 2, 2, "The image runs as root", "USER root")


def test_malware_becomes_virus_records_with_levels() -> None:
    out = outcome_from_report(
        report(
            DetectorOutcome(
                FindingCategory.MALWARE,
                (
                    malware("EICAR", Severity.CRITICAL),
                    malware("Miner", Severity.LOW, "hash"),
                    malware("Unrated", Severity.UNKNOWN, "clamav"),
                ),
            )
        ),
        WHEN,
    )
    assert out.viruses[0] == VirusRecord(
        path="/opt/app/eicar.com",
        file_name="eicar.com",
        virus_name="EICAR",
        risk_level=4,
        md5="44d88612fea8a8f36de82e1278abb02f",
        size=68,
        tags=("test",),
        desc="a test file",
        solution="delete it",
        engine="yara",
        layer=LAYER,
    )
    assert [v.risk_level for v in out.viruses] == [4, 1, 3]
    assert out.virus_cnt == 3 and out.risk_cnt == 0
    assert (out.virus_scanned, out.risk_scanned, out.vul_scanned) == (True, False, False)


def test_secret_and_risk_both_become_risk_records() -> None:
    out = outcome_from_report(
        report(
            DetectorOutcome(FindingCategory.RISK, (ROOT,)),
            DetectorOutcome(FindingCategory.SECRET, (SECRET,)),
        ),
        WHEN,
    )
    assert out.risks == (
        RiskRecord("build", "run-as-root", 2, 2, 2, "The image runs as root", "USER root"),
        RiskRecord(
            kind="sensitive",
            rule_id="aws-access-key-id",
            behavior=4,  # credential exposure (docs/detectors.md)
            type=1,  # sensitive information
            level=3,
            desc="AWS access key ID in /app/.env:3",
            instruction="AWS_ACCESS_KEY_ID=AKIA************",
            path="/app/.env",
            line=3,
            excerpt="AWS_ACCESS_KEY_ID=AKIA************",
            layer=LAYER,
        ),
    )
    assert out.risk_scanned and not out.virus_scanned and out.risk_error == ""


def test_category_errors_keep_the_other_categories() -> None:
    out = outcome_from_report(
        report(
            DetectorOutcome(FindingCategory.MALWARE, error="clamd is not reachable"),
            DetectorOutcome(FindingCategory.RISK, (ROOT,)),
            DetectorOutcome(FindingCategory.SECRET, error="rules failed to load"),
        ),
        WHEN,
    )
    assert out.virus_error == "clamd is not reachable" and out.viruses == ()
    assert out.risk_error == "secret: rules failed to load"
    assert [r.rule_id for r in out.risks] == ["run-as-root"]
    assert out.virus_scanned and out.risk_scanned


def test_history_is_redacted_before_it_is_stored() -> None:
    config = ImageConfig(
        digest=IMAGE,
        os="linux",
        architecture="amd64",
        created=None,
        diff_ids=(),
        history=(
            HistoryEntry("2026-01-01T00:00:00Z", "/bin/sh -c #(nop) ENV DB_PASSWORD=hunter2", True),
            HistoryEntry(None, "RUN curl https://bob:s3cret@example.com/x | sh", False),
            HistoryEntry(None, "RUN echo AKIAIOSFODNN7EXAMPLE > /root/.aws", False),
            HistoryEntry(None, "RUN apt-get install -y curl", False),
        ),
        author="ops@example.com",
    )
    out = outcome_from_report(report(), WHEN, config)
    assert out.author == "ops@example.com"
    assert out.build_history == (
        HistoryStep("2026-01-01T00:00:00Z", "/bin/sh -c #(nop) ENV DB_PASSWORD=******", True),
        HistoryStep("", "RUN curl https://bob:******@example.com/x | sh", False),
        HistoryStep("", "RUN echo ****** > /root/.aws", False),
        HistoryStep("", "RUN apt-get install -y curl", False),
    )
    text = repr(out.build_history)
    assert "hunter2" not in text and "s3cret" not in text and "AKIAIOSFODNN7EXAMPLE" not in text
    assert (
        redact_instruction("RUN mysql --password=pw123 -e x") == "RUN mysql --password=****** -e x"
    )
