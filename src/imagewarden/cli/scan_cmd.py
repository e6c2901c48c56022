"""``imagewarden scan SOURCE``: scan one image from an OCI layout, an archive or a registry.

Wiring only: parse options, open the source, run ``scan_image``, render a report.
Exit status: 0 on success; 1 when the scan fails (broken or unsafe image, bad options);
``--exit-code N`` when a vulnerability of a ``--severity`` level is found.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from imagewarden.scan.analyzer.base import Analyzer
from imagewarden.scan.cache import LayerCache
from imagewarden.scan.detect.base import Detector, FindingCategory, Severity
from imagewarden.scan.errors import ScanError
from imagewarden.scan.model import ScanReport
from imagewarden.scan.source.base import ImageSource

FORMATS = ("table", "json", "cyclonedx", "spdx", "sarif")


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
    return sum(
        1
        for o in report.outcomes
        if o.category is FindingCategory.VULN
        for f in o.findings
        if f.severity in severities
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
    ) -> None:
        """Scan an image: OS, packages, and (with --db) vulnerabilities."""
        from imagewarden.scan.analyzer.registry import DEFAULT_ANALYZERS, select
        from imagewarden.scan.cache import DirLayerCache
        from imagewarden.scan.pipeline import scan_image
        from imagewarden.scan.source import open_source
        from imagewarden.scan.source.base import Platform

        err = Console(stderr=True)
        if fmt not in FORMATS:
            err.print(f"[red]error:[/red] --format must be one of {', '.join(FORMATS)}")
            raise typer.Exit(1)
        gate = _parse_severities(severity)
        detectors: list[Detector] = []
        if db is not None:
            try:
                from imagewarden.vulndb import detector_for
            except ImportError as exc:
                err.print(f"[yellow]note:[/yellow] vulnerability detection unavailable ({exc})")
            else:
                try:
                    detectors.append(detector_for(db))
                except Exception as exc:
                    err.print(f"[red]error:[/red] cannot open the vulnerability database: {exc}")
                    raise typer.Exit(1) from None
        elif exit_code:
            err.print(
                "[yellow]note:[/yellow] --exit-code without --db: no vulnerabilities to gate on"
            )
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
                    report = _scan_with_progress(src, chosen, cache, detectors, source, err)
                else:
                    report = scan_image(
                        src, analyzers=chosen, cache=cache, detectors=detectors, ref=source
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
            src, analyzers=analyzers, cache=cache, detectors=detectors, progress=step, ref=ref
        )
