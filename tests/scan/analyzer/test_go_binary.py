"""go-binary analyzer: binaries built by the real Go toolchain, Debian's docker-registry, and
hand-laid ELF files in the pre-1.18 pointer format (no toolchain that old is installable)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.go_binary import (
    MAGIC,
    MAX_SIZE,
    MIN_SIZE,
    GoBinaryAnalyzer,
    read_buildinfo,
)
from imagewarden.scan.model import ComponentType, LayerFacts

DOCKER_REGISTRY = Path("/usr/bin/docker-registry")
_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
_END = bytes.fromhex("f932433186182072008242104116d8f2")


def _analyze(files: dict[str, bytes]) -> LayerFacts:
    return GoBinaryAnalyzer().analyze(
        {PurePosixPath(k): LayerFile(PurePosixPath(k), len(v), 0o755, v) for k, v in files.items()}
    )


def _modinfo(lines: list[str]) -> bytes:
    return _START + ("\n".join(lines) + "\n").encode() + _END


def _pointer_elf(version: bytes, modinfo: bytes, *, is64: bool, big: bool) -> bytes:
    """An ELF executable whose only segment holds a Go 1.13–1.17 style build info block."""
    o = ">" if big else "<"
    ptr = "Q" if is64 else "I"
    psize = 8 if is64 else 4
    vaddr = 0x400000
    ehsize, phsize = (64, 56) if is64 else (52, 32)
    seg_off = 0x100
    # segment: [block 32][string header x2][version][modinfo]
    hdr_at = vaddr + 32
    v_at = hdr_at + 4 * psize
    m_at = v_at + len(version)
    block = MAGIC + bytes([psize, 1 if big else 0])
    block += struct.pack(o + ptr + ptr, hdr_at, hdr_at + 2 * psize).ljust(16, b"\0")
    headers = struct.pack(o + 4 * ptr, v_at, len(version), m_at, len(modinfo))
    segment = block + headers + version + modinfo
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 2 if big else 1, 1]) + b"\0" * 9
    if is64:
        eh = ident + struct.pack(
            o + "HHIQQQIHHHHHH", 2, 62, 1, vaddr, ehsize, 0, 0, ehsize, phsize, 1, 0, 0, 0
        )
        ph = struct.pack(o + "IIQQQQQQ", 1, 5, seg_off, vaddr, vaddr, len(segment), len(segment), 1)
    else:
        eh = ident + struct.pack(
            o + "HHIIIIIHHHHHH", 2, 3, 1, vaddr, ehsize, 0, 0, ehsize, phsize, 1, 0, 0, 0
        )
        ph = struct.pack(o + "IIIIIIII", 1, seg_off, vaddr, vaddr, len(segment), len(segment), 5, 1)
    return (eh + ph).ljust(seg_off, b"\0") + segment


def test_wants_executables_in_size_bounds() -> None:
    a = GoBinaryAnalyzer()
    p = PurePosixPath("usr/local/bin/app")
    assert a.wants(p, FileInfo(p, MIN_SIZE, 0o100755))
    assert a.wants(p, FileInfo(p, MAX_SIZE, 0o100711))
    assert not a.wants(p, FileInfo(p, MIN_SIZE - 1, 0o100755))
    assert not a.wants(p, FileInfo(p, MAX_SIZE + 1, 0o100755))
    assert not a.wants(p, FileInfo(p, 5 * MIN_SIZE, 0o100644))


@pytest.mark.parametrize(("is64", "big"), [(True, False), (False, True), (False, False)])
def test_pointer_format(is64: bool, big: bool) -> None:
    mod = _modinfo(
        [
            "path\texample.com/app/cmd/app",
            "mod\texample.com/app\tv1.4.0\th1:aaa=",
            "dep\tgithub.com/pkg/errors\tv0.9.1\th1:bbb=",
            "dep\tgolang.org/x/text\tv0.3.0",
            "=>\tgolang.org/x/text\tv0.3.7\th1:ccc=",
            "dep\texample.com/local\tv0.1.0",
            "=>\t../local\t",
        ]
    )
    elf = _pointer_elf(b"go1.16.15", mod, is64=is64, big=big)
    facts = _analyze({"app": elf})
    assert facts.unknowns == ()
    got = [(c.name, c.version, c.purl) for c in facts.components]
    assert got == [
        ("example.com/app", "v1.4.0", "pkg:golang/example.com/app@v1.4.0"),
        ("github.com/pkg/errors", "v0.9.1", "pkg:golang/github.com/pkg/errors@v0.9.1"),
        ("golang.org/x/text", "v0.3.7", "pkg:golang/golang.org/x/text@v0.3.7"),
        ("stdlib", "1.16.15", "pkg:golang/stdlib@1.16.15"),
    ]
    assert {c.type for c in facts.components} == {ComponentType.GOLANG}
    assert {c.path for c in facts.components} == {"app"}


def test_non_go_and_malformed_files() -> None:
    good = _pointer_elf(b"go1.15", _modinfo(["path\tx"]), is64=True, big=False)
    dangling = bytearray(good)
    pos = dangling.find(MAGIC)
    struct.pack_into("<Q", dangling, pos + 16, 0xDEAD0000)  # pointer outside any segment
    not_go_version = good.replace(b"go1.15", b"xx1.15")
    facts = _analyze(
        {
            "bin/script": b"#!/bin/sh\necho hi\n" * 100,
            "bin/plain-elf": b"\x7fELF\x02\x01\x01" + b"\0" * 2000,
            "bin/dangling": bytes(dangling),
            "bin/notgo": not_go_version,
            "bin/cut": good[:-10],
        }
    )
    assert facts.components == ()
    assert [u.path for u in facts.unknowns] == ["bin/cut", "bin/dangling", "bin/notgo"]
    assert all(u.analyzer == "go-binary" for u in facts.unknowns)


def test_inline_format_truncated_is_unknown() -> None:
    ident = b"\x7fELF\x02\x01\x01" + b"\0" * 57
    block = MAGIC + b"\x08\x02" + b"\0" * 16 + b"\x08go1.21.3\xff\xff\x03abc"
    facts = _analyze({"x": ident + b"\0" * 64 + block})
    assert facts.components == () and "past the end" in facts.unknowns[0].reason


def test_docker_registry_from_debian() -> None:
    if not DOCKER_REGISTRY.is_file():
        pytest.skip("apt-get install docker-registry")
    data = DOCKER_REGISTRY.read_bytes()
    info = read_buildinfo(data)
    assert info is not None
    assert info.main_path == "github.com/docker/distribution/cmd/registry"
    facts = _analyze({"usr/bin/docker-registry": data})
    stdlib = [c for c in facts.components if c.name == "stdlib"]
    assert len(stdlib) == 1 and stdlib[0].version == info.go_version.removeprefix("go")
    if shutil.which("go"):
        out = subprocess.run(
            ["go", "version", "-m", str(DOCKER_REGISTRY)], capture_output=True, text=True
        ).stdout
        assert out.splitlines()[0].endswith(": " + info.go_version)
        deps = {tuple(ln.split("\t")[2:4]) for ln in out.splitlines() if ln.startswith("\tdep\t")}
        assert {(c.name, c.version) for c in facts.components if c.name != "stdlib"} == deps


def _module_zip(proxy: Path, path: str, version: str, files: dict[str, str]) -> None:
    d = proxy / path / "@v"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{version}.info").write_text(f'{{"Version":"{version}"}}')
    (d / f"{version}.mod").write_text(files["go.mod"])
    with zipfile.ZipFile(d / f"{version}.zip", "w") as z:
        for name, text in files.items():
            z.writestr(f"{path}@{version}/{name}", text)
    with (d / "list").open("a") as fh:
        fh.write(version + "\n")


@pytest.mark.slow
def test_binary_built_by_go_toolchain(tmp_path: Path) -> None:
    """Modules served from a file:// GOPROXY; compared with ``go version -m``."""
    if shutil.which("go") is None:
        pytest.skip("apt-get install golang-go")
    proxy = tmp_path / "proxy"
    for version in ("v1.0.0", "v1.1.0"):
        _module_zip(
            proxy,
            "example.com/greet",
            version,
            {
                "go.mod": "module example.com/greet\n\ngo 1.17\n",
                "greet.go": f'package greet\n\nfunc Hi() string {{ return "{version}" }}\n',
            },
        )
    _module_zip(
        proxy,
        "example.com/words",
        "v0.2.0",
        {
            "go.mod": "module example.com/words\n\ngo 1.17\n",
            "words.go": 'package words\n\nconst W = "w"\n',
        },
    )
    (tmp_path / "local").mkdir()
    (tmp_path / "local/go.mod").write_text("module example.com/local\n\ngo 1.17\n")
    (tmp_path / "local/l.go").write_text('package local\n\nconst L = "l"\n')
    app = tmp_path / "app"
    app.mkdir()
    (app / "go.mod").write_text(
        "module example.com/iwapp\n\ngo 1.17\n\n"
        "require (\n\texample.com/greet v1.0.0\n\texample.com/words v0.2.0\n"
        "\texample.com/local v0.1.0\n)\n\n"
        "replace example.com/greet => example.com/greet v1.1.0\n"
        "replace example.com/local => ../local\n"
    )
    (app / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greet"\n\t"example.com/local"\n'
        '\t"example.com/words"\n)\n\nfunc main() { fmt.Println(greet.Hi(), words.W, local.L) }\n'
    )
    env = {
        **os.environ,
        "GOPROXY": proxy.as_uri(),
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=mod",
        "GOPATH": str(tmp_path / "gopath"),
        "GOCACHE": str(tmp_path / "cache"),
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }
    subprocess.run(
        ["go", "build", "-buildvcs=false", "-o", str(tmp_path / "iwapp"), "."],
        cwd=app,
        env=env,
        check=True,
        capture_output=True,
    )
    data = (tmp_path / "iwapp").read_bytes()
    listing = subprocess.run(
        ["go", "version", "-m", str(tmp_path / "iwapp")],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "=>\texample.com/greet\tv1.1.0" in listing  # the toolchain recorded the replacement
    go_version = listing.splitlines()[0].rsplit(" ", 1)[1]
    facts = _analyze({"usr/local/bin/iwapp": data})
    assert facts.unknowns == ()
    assert [(c.name, c.version) for c in facts.components] == [
        ("example.com/greet", "v1.1.0"),
        ("example.com/words", "v0.2.0"),
        ("stdlib", go_version.removeprefix("go")),
    ]
    info = read_buildinfo(data)
    assert info is not None and info.main is not None
    assert (info.main.path, info.main.version) == ("example.com/iwapp", "(devel)")
    local = next(d for d in info.deps if d.path == "example.com/local")
    assert local.replaced_by is not None and local.replaced_by.path == "../local"
    assert "=>\t../local\t" + local.replaced_by.version in listing


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.none() | st.integers(0, 10**6),
)
def test_mutated_binaries_never_raise(flips: list[tuple[int, int]], cut: int | None) -> None:
    mod = _modinfo(["path\tx/cmd", "mod\tx\tv1.0.0", "dep\ty/z\tv1.0.0", "=>\tz/w\tv2.0.0"])
    data = bytearray(_pointer_elf(b"go1.16", mod, is64=True, big=False))
    for pos, value in flips:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    facts = _analyze({"bin/x": bytes(data)})
    assert all(c.path == "bin/x" for c in facts.components)
    assert all(u.path == "bin/x" for u in facts.unknowns)
