"""java-archive analyzer: Debian's real jars packed into war/ear files, and hostile zips."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagewarden.scan.analyzer import java_archive
from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.java_archive import (
    JavaArchiveAnalyzer,
    parse_manifest,
    parse_properties,
)
from imagewarden.scan.model import ComponentType, LayerFacts

JAVA = Path("/usr/share/java")
# Debian jars with pom.properties (commons-io, guava) and a manifest-only one (javax.inject)
REAL = ("commons-io", "guava", "atinject-jsr330-api", "aopalliance")


def _analyze(files: dict[str, bytes]) -> LayerFacts:
    return JavaArchiveAnalyzer().analyze(
        {PurePosixPath(k): LayerFile(PurePosixPath(k), len(v), 0o644, v) for k, v in files.items()}
    )


def _zip(entries: dict[str, bytes | str], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, content in entries.items():
            z.writestr(name, content)
    return buf.getvalue()


def _real_jar(stem: str) -> tuple[bytes, str]:
    """A Debian jar and the upstream version its versioned file name in /usr/share/java says."""
    jar = JAVA / f"{stem}.jar"
    if not jar.exists():
        pytest.skip("apt-get install libcommons-io-java libguava-java libatinject-jsr330-api-java")
    for other in JAVA.glob(f"{stem}-*.jar"):
        m = re.fullmatch(re.escape(stem) + r"-(\d[\w.\-]*)\.jar", other.name)
        if m and other.samefile(jar):
            return jar.read_bytes(), m.group(1)
    pytest.skip(f"no versioned file name for {stem}.jar")


def test_wants_archives_by_suffix() -> None:
    a = JavaArchiveAnalyzer()
    for name in ("app.jar", "ROOT.war", "x.EAR", "plugin.hpi"):
        assert a.wants(PurePosixPath("opt", name), FileInfo(PurePosixPath(name), 1, 0o644))
    for name in ("app.zip", "jar", "x.jar.sha1"):
        assert not a.wants(PurePosixPath("opt", name), FileInfo(PurePosixPath(name), 1, 0o644))


def test_war_of_debian_jars() -> None:
    jars = {stem: _real_jar(stem) for stem in REAL}
    war = _zip(
        {
            "WEB-INF/web.xml": "<web-app/>",
            **{f"WEB-INF/lib/{stem}.jar": data for stem, (data, _) in jars.items()},
        }
    )
    facts = _analyze({"srv/app.war": war})
    assert facts.unknowns == ()
    got = {c.path.rsplit("/", 1)[1]: (c.name, c.version) for c in facts.components}
    assert got == {
        "commons-io.jar": ("commons-io:commons-io", jars["commons-io"][1]),
        "guava.jar": ("com.google.guava:guava", jars["guava"][1]),
        # no pom.properties: the manifest's Bundle-SymbolicName / Bundle-Version
        "atinject-jsr330-api.jar": ("javax.inject", "1.0.0"),
        # aopalliance's manifest names nothing: not reported
    }
    io_jar = next(c for c in facts.components if c.name == "commons-io:commons-io")
    assert io_jar.path == "srv/app.war!/WEB-INF/lib/commons-io.jar"
    assert io_jar.purl == f"pkg:maven/commons-io/commons-io@{jars['commons-io'][1]}"
    assert io_jar.type is ComponentType.MAVEN
    assert list(facts.components) == sorted(facts.components)


@pytest.mark.slow
def test_ear_built_with_jdk_jar_tool(tmp_path: Path) -> None:
    if shutil.which("jar") is None:
        pytest.skip("apt-get install default-jdk-headless")
    data, version = _real_jar("commons-io")
    lib = tmp_path / "war/WEB-INF/lib"
    lib.mkdir(parents=True)
    (lib / "commons-io.jar").write_bytes(data)
    (tmp_path / "ear").mkdir()
    subprocess.run(
        [
            "jar",
            "--create",
            "--file",
            str(tmp_path / "ear/web.war"),
            "-C",
            str(tmp_path / "war"),
            ".",
        ],
        check=True,
    )
    subprocess.run(
        ["jar", "--create", "--file", str(tmp_path / "app.ear"), "-C", str(tmp_path / "ear"), "."],
        check=True,
    )
    facts = _analyze({"opt/app.ear": (tmp_path / "app.ear").read_bytes()})
    assert [(c.path, c.name, c.version) for c in facts.components] == [
        ("opt/app.ear!/web.war!/WEB-INF/lib/commons-io.jar", "commons-io:commons-io", version)
    ]


def test_pom_properties_win_over_manifest_and_shaded_jars_report_all() -> None:
    jar = _zip(
        {
            "META-INF/MANIFEST.MF": "Manifest-Version: 1.0\nImplementation-Title: ignored\n"
            "Implementation-Version: 9\n",
            "META-INF/maven/org.example/app/pom.properties": "#Generated\n"
            "groupId=org.example\nartifactId=app\nversion=1.0\n",
            "META-INF/maven/com.fasterxml.jackson.core/jackson-databind/pom.properties": (
                "version: 2.9.10\ngroupId: com.fasterxml.jackson.core\nartifactId: jackson-databind\n"
            ),
        }
    )
    facts = _analyze({"app.jar": jar})
    assert [(c.name, c.version, c.path) for c in facts.components] == [
        ("com.fasterxml.jackson.core:jackson-databind", "2.9.10", "app.jar"),
        ("org.example:app", "1.0", "app.jar"),
    ]


def test_manifest_fallback() -> None:
    jar = _zip(
        {
            "META-INF/MANIFEST.MF": "Manifest-Version: 1.0\r\nBundle-SymbolicName: org.ex\r\n"
            " ample.lib;singleton:=true\r\nBundle-Version: 2.3.4\r\n"
            "Implementation-Vendor-Id: org.example\r\n\r\nName: sect\r\nBundle-Version: 0\r\n"
        }
    )
    (c,) = _analyze({"lib.jar": jar}).components
    assert (c.name, c.version, c.purl) == (
        "org.example:org.example.lib",
        "2.3.4",
        "pkg:maven/org.example/org.example.lib@2.3.4",
    )


def test_malformed_archives_are_unknowns() -> None:
    good_inner = _zip({"META-INF/maven/g/a/pom.properties": "groupId=g\nartifactId=a\nversion=1\n"})
    war = _zip(
        {
            "WEB-INF/lib/broken.jar": b"PK\x03\x04 this is not a zip",
            "WEB-INF/lib/good.jar": good_inner,
            "WEB-INF/lib/noversion.jar": _zip(
                {"META-INF/maven/g/b/pom.properties": "groupId=g\nartifactId=b\n"}
            ),
        }
    )
    facts = _analyze({"a.war": war, "b.jar": b"garbage", "c.jar": _zip({"x": "y"})[:-30]})
    assert [(c.name, c.path) for c in facts.components] == [("g:a", "a.war!/WEB-INF/lib/good.jar")]
    assert [u.path for u in facts.unknowns] == [
        "a.war!/WEB-INF/lib/broken.jar",
        "a.war!/WEB-INF/lib/noversion.jar",
        "b.jar",
        "c.jar",
    ]


def test_nesting_depth_and_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    inner = _zip({"META-INF/maven/g/deep/pom.properties": "groupId=g\nartifactId=deep\nversion=1"})
    for level in range(4):  # deep.jar inside 4 levels of jars: level 4 is beyond MAX_DEPTH
        inner = _zip({f"l{level}.jar": inner})
    facts = _analyze({"top.jar": inner})
    assert facts.components == ()
    assert [u.path for u in facts.unknowns] == ["top.jar!/l3.jar!/l2.jar!/l1.jar!/l0.jar"]
    assert "deeper" in facts.unknowns[0].reason

    monkeypatch.setattr(java_archive, "MAX_NESTED_BYTES", 1000)
    big = _zip(
        {"a.jar": _zip({"pad": b"\x00" * 5000}, zipfile.ZIP_STORED), "b.jar": _zip({"x": "y"})}
    )
    facts = _analyze({"big.jar": big})
    assert [u.path for u in facts.unknowns] == ["big.jar!/a.jar"]


def test_properties_and_manifest_parsers() -> None:
    assert parse_properties("# c\n! c\na=1\nb : 2\nc 3\nd=long\\\n   value\n") == {
        "a": "1",
        "b": "2",
        "c": "3",
        "d": "longvalue",
    }
    assert parse_manifest("A: 1\nB: x\n y\n\nA: 2\n") == {"A": "1", "B": "xy"}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.none() | st.integers(0, 10**6),
)
def test_mutated_archives_never_raise(flips: list[tuple[int, int]], cut: int | None) -> None:
    inner = _zip({"META-INF/maven/g/a/pom.properties": "groupId=g\nartifactId=a\nversion=1\n"})
    data = bytearray(
        _zip(
            {"WEB-INF/lib/x.jar": inner, "META-INF/MANIFEST.MF": "Bundle-SymbolicName: x\n"},
            zipfile.ZIP_STORED,
        )
    )
    for pos, value in flips:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    facts = _analyze({"a.war": bytes(data)})
    assert all(c.path.startswith("a.war") for c in facts.components)
    assert all(u.path.startswith("a.war") for u in facts.unknowns)
