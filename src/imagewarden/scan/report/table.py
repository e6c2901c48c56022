"""A human summary of a ``ScanReport`` as rich tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from imagewarden.scan.detect.base import (
    BuildRiskFinding,
    DetectorOutcome,
    FileFinding,
    Severity,
    VulnerabilityFinding,
)
from imagewarden.scan.model import ScanReport

_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.UNKNOWN: "dim",
}


def render_table(report: ScanReport, console: Console) -> None:
    """Print the image summary, components, findings per category and unknowns."""
    head = Table(show_header=False, box=None)
    head.add_row("Image ID", report.image_id)
    if report.repo_tags:
        head.add_row("Tags", ", ".join(report.repo_tags))
    head.add_row("OS", report.os.name if report.os else "unknown")
    head.add_row("Architecture", report.architecture)
    head.add_row("Layers", str(report.layer_count))
    head.add_row("Size", f"{report.size} bytes")
    head.add_row("Components", str(len(report.components)))
    console.print(head)

    comps = Table("Name", "Version", "Type", "Path", title="Components")
    for c in report.components:
        comps.add_row(c.name, c.version, c.type.value, c.path)
    console.print(comps)

    for outcome in report.outcomes:
        if outcome.error:
            console.print(f"[red]{outcome.category.value}: error:[/red] {outcome.error}")
            continue
        _vulns(outcome, console)
        _files(outcome, console)
        _risks(outcome, console)

    if report.unknowns:
        unk = Table("Path", "Analyzer", "Reason", title="Unknowns (not analysed)")
        for u in report.unknowns:
            unk.add_row(u.path, u.analyzer, u.reason)
        console.print(unk)


def _vulns(outcome: DetectorOutcome, console: Console) -> None:
    vulns = [f for f in outcome.findings if isinstance(f, VulnerabilityFinding)]
    if not vulns and outcome.findings:
        return
    findings = Table(
        "ID",
        "Severity",
        "Package",
        "Version",
        "Fixed in",
        title=f"Findings: {outcome.category.value}",
    )
    for f in sorted(
        vulns, key=lambda f: (list(Severity).index(f.severity), f.id, f.component_name)
    ):
        findings.add_row(
            f.cve_id,
            f"[{_SEVERITY_STYLE[f.severity]}]{f.severity.value}[/]",
            f.component_name,
            f.component_version,
            ", ".join(f.fixed_versions),
        )
    console.print(findings)


def _files(outcome: DetectorOutcome, console: Console) -> None:
    files = [f for f in outcome.findings if isinstance(f, FileFinding)]
    if not files:
        return
    table = Table(
        "Rule",
        "Severity",
        "Path",
        "Line",
        "Excerpt (redacted)",
        title=f"Findings: {outcome.category.value}",
    )
    for f in sorted(files, key=lambda f: (list(Severity).index(f.severity), f.path, f.line)):
        table.add_row(
            f.title,
            f"[{_SEVERITY_STYLE[f.severity]}]{f.severity.value}[/]",
            f.path,
            str(f.line or ""),
            f.excerpt,
        )
    console.print(table)


def _risks(outcome: DetectorOutcome, console: Console) -> None:
    risks = [f for f in outcome.findings if isinstance(f, BuildRiskFinding)]
    if not risks:
        return
    table = Table("Rule", "Level", "Instruction", title=f"Findings: {outcome.category.value}")
    for f in sorted(risks, key=lambda f: (-f.level, f.rule_id, f.instruction)):
        table.add_row(f.rule_id, str(f.level), f.instruction)
    console.print(table)
