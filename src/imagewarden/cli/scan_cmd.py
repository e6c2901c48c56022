"""``imagewarden scan SOURCE``: scan one image from an OCI layout, an archive or a registry.

Wiring only: parse options, build the detectors of the ``--scanners`` categories
(``imagewarden.scan.detect.registry``), open the source, run ``scan_image``, render a report.
Exit status: 0 on success; 1 when the scan fails (broken or unsafe image, bad options);
``--exit-code N`` when a vulnerability, malware or secret of a ``--severity`` level is found.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from imagewarden.scan.analyzer.base import Analyzer
from imagewarden.scan.cache import LayerCache
from imagewarden.scan.detect.base import (
    ContentScanner,
    Detector,
    FileFinding,
    Severity,
    VulnerabilityFinding,
)
from imagewarden.scan.errors import ScanError
from imagewarden.scan.model import ScanReport
from imagewarden.scan.source.base import ImageSource

FORMATS = ("table", "json", "cyclonedx", "spdx", "sarif")


def _malware_factory(rules_dir: Path | None, db: str | None, clamd: str | None) -> Any:
    """The malware engine: shipped rules + the operator's rule directory (when it exists),
    the hash blocklist of ``--db`` (when given) and clamd (when given)."""
    import os

    from imagewarden.scan.malware import malware_factory

    if rules_dir is None and os.environ.get("IMAGEWARDEN_RULES_DIR"):
        rules_dir = Path(os.environ["IMAGEWARDEN_RULES_DIR"])
    hashes: Any = ()
    if db is not None:
        from imagewarden.store.engine import make_engine
        from imagewarden.store.hashes import SqlHashStore

        hashes = SqlHashStore(make_engine(db)).entries
    return malware_factory(
        rules_dirs=[rules_dir] if rules_dir is not None and rules_dir.is_dir() else [],
        hashes=hashes,
        clamd=clamd,
    )


def _render(report: ScanReport, fmt: str, output: Path | None) -> None:
    if fmt == "table":
        from imagewarden.scan.report.table import render_table

        if output is None:
            render_table(report, Console())
        else:
            with output.open("w", encoding="utf-8") as fh:
                render_table(report, Console(file=fh, width=160, color_system=None))
        return
    if fmt == "json":
        from imagewarden.scan.report.json import render_json

        data = render_json(report)
    elif fmt == "spdx":
        from imagewarden.scan.report.spdx import render_spdx

        data = render_spdx(report)
    elif fmt == "sarif":
        from imagewarden.scan.report.sarif import render_sarif

        data = render_sarif(report)
    else:
        from imagewarden.scan.report.cyclonedx import render_cyclonedx

        data = render_cyclonedx(report)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)


def _parse_severities(text: str) -> frozenset[Severity]:
    out = set()
    for word in text.split(","):
        word = word.strip().upper()
        if not word:
            continue
        try:
            out.add(Severity(word))
        except ValueError:
            raise typer.BadParameter(
                f"unknown severity {word!r}; use {','.join(s.value for s in Severity)}"
            ) from None
    return frozenset(out)


def _gate(report: ScanReport, severities: frozenset[Severity]) -> int:
    """Findings that trip ``--exit-code``: vulnerabilities, malware and secrets of a gated
    severity (build risks have levels, not severities, and never gate)."""
    return sum(
        1
        for o in report.outcomes
        for f in o.findings
        if isinstance(f, VulnerabilityFinding | FileFinding) and f.severity in severities
    )


def register(app: typer.Typer) -> None:
    """Add the ``scan`` command to ``app``."""

    @app.command("scan")
    def scan(
        source: Annotated[
            str,
            typer.Argument(
                help="oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:N|:repo:tag], "
                "registry:HOST/REPO[:TAG|@sha256:...], or a path"
            ),
        ],
        fmt: Annotated[
            str, typer.Option("--format", "-f", help="table, json, cyclonedx, spdx or sarif")
        ] = "table",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="write the report to FILE")
        ] = None,
        platform: Annotated[
            str | None, typer.Option("--platform", help="os/arch[/variant] of a multi-arch image")
        ] = None,
        cache_dir: Annotated[
            Path | None, typer.Option("--cache-dir", help="reuse per-layer results from DIR")
        ] = None,
        analyzers: Annotated[
            str | None, typer.Option("--analyzers", help="comma-separated analyzer names")
        ] = None,
        db: Annotated[
            str | None,
            typer.Option(
                "--db", help="vulnerability database URL (enables vulnerability findings)"
            ),
        ] = None,
        exit_code: Annotated[
            int, typer.Option("--exit-code", help="exit with N when findings of --severity exist")
        ] = 0,
        severity: Annotated[
            str, typer.Option("--severity", help="severities that trigger --exit-code")
        ] = "CRITICAL,HIGH",
        scanners: Annotated[
            str,
            typer.Option(
                "--scanners",
                help="comma-separated categories: vuln (with --db), virus (malware), "
                "risk (sensitive information and risky build steps)",
            ),
        ] = "vuln,virus,risk",
        secret_rules: Annotated[
            list[Path] | None,
            typer.Option("--secret-rules", help="extra secret rule file (TOML); repeatable"),
        ] = None,
        rules_dir: Annotated[
            Path | None,
            typer.Option(
                "--rules-dir",
                help="operator YARA rules (`imagewarden rules add`); env IMAGEWARDEN_RULES_DIR",
            ),
        ] = None,
        clamd: Annotated[
            str | None,
            typer.Option("--clamd", help="ClamAV daemon: unix:///PATH or tcp://HOST:PORT"),
        ] = None,
    ) -> None:
        """Scan an image: OS, packages, vulnerabilities (with --db), malware, secrets and
        risky build steps."""
        from imagewarden.scan.analyzer.registry import DEFAULT_ANALYZERS, select
        from imagewarden.scan.cache import DirLayerCache
        from imagewarden.scan.detect.registry import build as build_detectors
        from imagewarden.scan.detect.registry import parse_categories
        from imagewarden.scan.malware import MalwareError
        from imagewarden.scan.pipeline import scan_image
        from imagewarden.scan.secrets import RuleError
        from imagewarden.scan.source import open_source
        from imagewarden.scan.source.base import Platform

        err = Console(stderr=True)
        if fmt not in FORMATS:
            err.print(f"[red]error:[/red] --format must be one of {', '.join(FORMATS)}")
            raise typer.Exit(1)
        gate = _parse_severities(severity)
        try:
            categories = parse_categories(scanners)
        except ValueError as exc:
            err.print(f"[red]error:[/red] --scanners: {exc}")
            raise typer.Exit(1) from None
        vuln: Detector | None = None
        if db is not None and "vuln" in categories:
            try:
                from imagewarden.vulndb import detector_for
            except ImportError as exc:
                err.print(f"[yellow]note:[/yellow] vulnerability detection unavailable ({exc})")
            else:
                try:
                    vuln = detector_for(db)
                except Exception as exc:
                    err.print(f"[red]error:[/red] cannot open the vulnerability database: {exc}")
                    raise typer.Exit(1) from None
        elif exit_code:
            err.print(
                "[yellow]note:[/yellow] --exit-code without --db: no vulnerabilities to gate on"
            )
        malware = None
        if "virus" in categories:
            malware = _malware_factory(rules_dir, db, clamd)
        try:
            chosen_detectors = build_detectors(
                categories,
                vuln_detector=vuln,
                secret_rule_files=secret_rules or (),
                malware_factory=malware,
            )
        except (RuleError, MalwareError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
        for note in chosen_detectors.notes:
            if not note.startswith("vuln:") or db is not None:
                err.print(f"[yellow]note:[/yellow] {note}")
        detectors = chosen_detectors.detectors
        content = chosen_detectors.content_scanners
        try:
            chosen = select(analyzers.split(",")) if analyzers else DEFAULT_ANALYZERS
            plat = Platform.parse(platform) if platform else None
        except (ScanError, ValueError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None

        cache = DirLayerCache(cache_dir) if cache_dir is not None else None
        try:
            src = open_source(source, plat)
            try:
                if err.is_terminal:
                    report = _scan_with_progress(
                        src, chosen, cache, detectors, content, source, err
                    )
                else:
                    report = scan_image(
                        src,
                        analyzers=chosen,
                        cache=cache,
                        detectors=detectors,
                        content_scanners=content,
                        ref=source,
                    )
            finally:
                src.close()
        except ScanError as exc:
            err.print(f"[red]scan failed:[/red] {type(exc).__name__}: {exc}")
            raise typer.Exit(1) from None

        _render(report, fmt, output)
        for outcome in report.outcomes:
            if outcome.error:
                err.print(
                    f"[yellow]{outcome.category.value} detection failed:[/yellow] {outcome.error}"
                )
        if exit_code and _gate(report, gate):
            raise typer.Exit(exit_code)


def _scan_with_progress(
    src: ImageSource,
    analyzers: Sequence[Analyzer],
    cache: LayerCache | None,
    detectors: Sequence[Detector],
    content: Sequence[ContentScanner],
    ref: str,
    err: Console,
) -> ScanReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from imagewarden.scan.pipeline import scan_image

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("layers", total=len(src.layers()))

        def step(i: int, n: int, layer: object, cached: bool) -> None:
            bar.update(task, completed=i + 1, description="layers (cached)" if cached else "layers")

        return scan_image(
            src,
            analyzers=analyzers,
            cache=cache,
            detectors=detectors,
            content_scanners=content,
            progress=step,
            ref=ref,
        )
