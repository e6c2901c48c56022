"""``imagewarden agent``: run the host agent (wiring only; the work is in ``imagewarden.agent``).

This module is the only place the agent reads the environment: DOCKER_HOST,
DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, CONTAINER_HOST, CONTAINERD_ADDRESS, XDG_RUNTIME_DIR and
the IMAGEWARDEN_SECRET_ID / IMAGEWARDEN_SECRET_KEY credentials.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["agent", "default_state_dir", "register"]

SYSTEM_STATE_DIR = Path("/var/lib/imagewarden-agent")


def default_state_dir() -> Path:
    if os.geteuid() == 0:
        return SYSTEM_STATE_DIR
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "imagewarden-agent"


def agent(
    server: Annotated[
        str, typer.Option("--server", help="the imagewarden server, http://HOST:PORT")
    ],
    secret_id: Annotated[
        str,
        typer.Option("--secret-id", envvar="IMAGEWARDEN_SECRET_ID", help="API SecretId"),
    ],
    secret_key: Annotated[
        str,
        typer.Option(
            "--secret-key",
            envvar="IMAGEWARDEN_SECRET_KEY",
            help="API SecretKey (prefer the environment variable: arguments are visible in ps)",
            show_default=False,
        ),
    ],
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="docker, podman, containerd or dir:PATH; repeat to combine; default: every "
            "engine whose socket exists",
        ),
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=1.0, help="seconds between snapshots")
    ] = 60.0,
    once: Annotated[
        bool, typer.Option("--once", help="send one snapshot and exit (non-zero on failure)")
    ] = False,
    retries: Annotated[
        int, typer.Option("--retries", min=1, help="delivery attempts with --once")
    ] = 5,
    retry_base: Annotated[
        float, typer.Option("--retry-base", min=0.0, help="first retry delay, seconds")
    ] = 1.0,
    retry_max: Annotated[
        float, typer.Option("--retry-max", min=0.0, help="longest retry delay, seconds")
    ] = 300.0,
    super_node: Annotated[
        bool, typer.Option("--super-node", help="report this host as a super node")
    ] = False,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            help=f"HostID and spool; default {SYSTEM_STATE_DIR} (root) or "
            "~/.local/state/imagewarden-agent",
        ),
    ] = None,
    hostname: Annotated[
        str | None, typer.Option("--hostname", help="host name to report (default: the system's)")
    ] = None,
    containerd_namespace: Annotated[
        list[str] | None,
        typer.Option(
            "--containerd-namespace", help="containerd namespaces (default k8s.io, default)"
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="engine and server timeout, seconds")
    ] = 30.0,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning")] = "info",
    scan: Annotated[
        bool,
        typer.Option(
            "--scan",
            help="also scan this host's images here and report the results "
            "(ReportImageScanResults; vulnerabilities are matched by the server)",
        ),
    ] = False,
    scanners: Annotated[
        str, typer.Option("--scanners", help="with --scan: vuln, virus, risk (comma-separated)")
    ] = "vuln,virus,risk",
    scan_retry: Annotated[
        float,
        typer.Option("--scan-retry", min=0.0, help="seconds before an unreadable image is retried"),
    ] = 3600.0,
    rescan_after: Annotated[
        float,
        typer.Option(
            "--rescan-after", min=0.0, help="seconds before a scanned image is re-scanned"
        ),
    ] = 7 * 86400.0,
) -> None:
    """Report this host's images and containers to an imagewarden server."""
    from imagewarden.agent import (
        Agent,
        AgentStateError,
        Backoff,
        EngineSettings,
        MultiCollector,
        Sender,
        StateDir,
        detect_sources,
        make_collector,
    )
    from imagewarden.agent.containerd import DEFAULT_NAMESPACES
    from imagewarden.agent.host import host_ips, host_name
    from imagewarden.agent.model import HostIdentity

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    env = os.environ
    settings = EngineSettings(
        docker_host=env.get("DOCKER_HOST") or None,
        docker_tls_verify=bool(env.get("DOCKER_TLS_VERIFY")),
        docker_cert_path=env.get("DOCKER_CERT_PATH") or str(Path.home() / ".docker"),
        podman_host=env.get("CONTAINER_HOST") or None,
        containerd_address=env.get("CONTAINERD_ADDRESS") or None,
        containerd_namespaces=tuple(containerd_namespace or DEFAULT_NAMESPACES),
        runtime_dir=env.get("XDG_RUNTIME_DIR") or None,
        rootless=os.geteuid() != 0,
        timeout=timeout,
    )
    specs = list(source or []) or detect_sources(settings)
    if not specs:
        _fail("no container engine found; name one with --source docker|podman|containerd|dir:PATH")
    try:
        collectors = [make_collector(s, settings) for s in specs]
        sender = Sender(server, secret_id, secret_key, timeout=timeout)
    except ValueError as exc:
        _fail(str(exc))
        return
    state = StateDir(state_dir or default_state_dir())
    try:
        state.lock()
        host_id = state.host_id()
    except AgentStateError as exc:
        _fail(str(exc))
        return
    name = hostname or host_name()

    def identity() -> HostIdentity:
        return HostIdentity(host_id, name, host_ips(), super_node)

    collector: Any = collectors[0] if len(collectors) == 1 else MultiCollector(collectors)
    scanner = None
    if scan:
        from imagewarden.agent.scanning import AgentScanner
        from imagewarden.scan.detect.registry import parse_categories

        try:
            categories = parse_categories(scanners)
        except ValueError as exc:
            _fail(str(exc))
            return
        scanner = AgentScanner(
            collector,
            sender,
            state,
            categories=sorted(categories),
            retry_after=scan_retry,
            rescan_after=rescan_after,
        )
    runner = Agent(
        collector,
        identity,
        sender,
        state,
        backoff=Backoff(retry_base, max(retry_base, retry_max)),
        scanner=scanner,
    )
    logging.getLogger(__name__).info(
        "agent for host %s (%s) reporting %s to %s", host_id, name, collector.name, server
    )
    try:
        if once:
            result = runner.run_once(retries)
            if not result.ok:
                typer.echo(f"agent: report not delivered: {result.error}", err=True)
                raise typer.Exit(1)
            resp = result.response or {}
            typer.echo(
                f"reported host {host_id}: {resp.get('ImageCount')} image(s), "
                f"{resp.get('ContainerCount')} container(s)"
            )
            if result.scans is not None:
                s = result.scans
                typer.echo(
                    f"scanned {s.scanned} image(s), {s.failed} unreadable (AgentError), "
                    f"{s.skipped} already scanned"
                )
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        runner.run_forever(interval, stop)
    finally:
        sender.close()
        state.unlock()


def _fail(message: str) -> None:
    typer.echo(f"agent: {message}", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add the ``agent`` command to ``app``."""
    app.command("agent")(agent)
