"""Go modules compiled into ELF executables, from the Go build information block.

The linker writes a block starting with the 14-byte magic ``\\xff Go buildinf:`` (16-byte
aligned, in section ``.go.buildinfo``), then the pointer size (byte 14) and flags (byte 15):

* flags bit 2 set (Go ≥ 1.18): two strings follow inline at byte 32, each a uvarint length
  and its bytes: the Go version, then the module information;
* otherwise (Go 1.13–1.17): at byte 16 two pointers (``ptrsize`` bytes, big-endian when
  flags bit 1 is set) to Go string headers (data pointer, length) holding the same two
  strings; the addresses are translated through the ELF ``PT_LOAD`` program headers.

The module information is framed by 16 sentinel bytes at each end; inside, tab-separated
lines: ``path`` (main package), ``mod`` (main module), ``dep`` (a dependency) and ``=>``
(replaces the module on the line before).

Components: every ``dep`` (its replacement when there is one), the main module, and the
Go standard library as ``stdlib`` at the toolchain version (``go1.21.3`` → ``1.21.3``).
A module without a version (``(devel)`` main modules, local-directory replacements) is not
reported: there is nothing to match it against.

``wants`` is cheap: regular files with an execute bit between ``MIN_SIZE`` and ``MAX_SIZE``
(200 MiB); the walker's own per-file cap still applies.  Files that are not ELF or carry no
build information are ignored silently; a block that is present but unreadable becomes an
``Unknown``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import ClassVar

from packageurl import PackageURL

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.model import Component, ComponentType, LayerFacts, Unknown

__all__ = [
    "MAX_SIZE",
    "MIN_SIZE",
    "BuildInfo",
    "BuildInfoError",
    "GoBinaryAnalyzer",
    "Module",
    "read_buildinfo",
]

MIN_SIZE = 256 * 1024
MAX_SIZE = 200 * 1024 * 1024
MAGIC = b"\xff Go buildinf:"
_ELF = b"\x7fELF"
_FLAG_BIG_ENDIAN = 1
_FLAG_INLINE = 2
_SENTINEL = 16
_MAX_STRING = 16 * 1024 * 1024
_MODULE_PATH = re.compile(r"^[^\s/]+(?:/[^\s/]+)*$")
_MODULE_VERSION = re.compile(r"^\S+$")


class BuildInfoError(ValueError):
    """A Go build information block is present but cannot be read."""


@dataclass(frozen=True, order=True)
class Module:
    path: str
    version: str
    #: the module that replaces this one (``=>`` line), if any
    replaced_by: Module | None = None


@dataclass(frozen=True)
class BuildInfo:
    go_version: str
    main_path: str
    main: Module | None
    deps: tuple[Module, ...]


@dataclass(frozen=True)
class _Elf:
    data: bytes
    order: str  # "<" or ">"
    is64: bool

    def _header(self) -> tuple[int, int, int, int, int, int, int]:
        if self.is64:
            phoff, shoff = struct.unpack_from(self.order + "QQ", self.data, 32)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(
                self.order + "HHHHH", self.data, 54
            )
        else:
            phoff, shoff = struct.unpack_from(self.order + "II", self.data, 28)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(
                self.order + "HHHHH", self.data, 42
            )
        return phoff, phentsize, phnum, shoff, shentsize, shnum, shstrndx

    def segments(self) -> Iterator[tuple[int, int, int]]:
        """(vaddr, file offset, file size) of each PT_LOAD segment."""
        phoff, phentsize, phnum, *_ = self._header()
        for i in range(phnum):
            off = phoff + i * phentsize
            if off + (56 if self.is64 else 32) > len(self.data):
                return
            if self.is64:
                ptype, _f, poff, vaddr, _p, filesz = struct.unpack_from(
                    self.order + "IIQQQQ", self.data, off
                )
            else:
                ptype, poff, vaddr, _p, filesz = struct.unpack_from(
                    self.order + "IIIII", self.data, off
                )
            if ptype == 1:
                yield vaddr, poff, filesz

    def section(self, wanted: str) -> int | None:
        """File offset of the section named ``wanted``, if the section table has it."""
        _, _, _, shoff, shentsize, shnum, shstrndx = self._header()
        size = 64 if self.is64 else 40
        if shoff == 0 or shentsize < size or shstrndx >= shnum:
            return None
        if shoff + shnum * shentsize > len(self.data):
            return None

        def entry(i: int) -> tuple[int, int, int]:
            base = shoff + i * shentsize
            name = struct.unpack_from(self.order + "I", self.data, base)[0]
            if self.is64:
                offset, length = struct.unpack_from(self.order + "QQ", self.data, base + 24)
            else:
                offset, length = struct.unpack_from(self.order + "II", self.data, base + 16)
            return name, offset, length

        _, str_off, str_len = entry(shstrndx)
        names = self.data[str_off : str_off + str_len]
        target = wanted.encode() + b"\x00"
        for i in range(shnum):
            name, offset, _ = entry(i)
            if names[name : name + len(target)] == target:
                return offset
        return None

    def read(self, addr: int, size: int) -> bytes:
        for vaddr, poff, filesz in self.segments():
            if vaddr <= addr and addr + size <= vaddr + filesz:
                start = poff + addr - vaddr
                if start + size <= len(self.data):
                    return self.data[start : start + size]
        raise BuildInfoError(f"address {addr:#x} (+{size}) is not in a loaded segment")


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise BuildInfoError("truncated varint")


def _inline_strings(data: bytes, pos: int) -> tuple[bytes, bytes]:
    out = []
    for _ in range(2):
        length, pos = _uvarint(data, pos)
        if length > _MAX_STRING or pos + length > len(data):
            raise BuildInfoError(f"string of {length} bytes runs past the end of the file")
        out.append(data[pos : pos + length])
        pos += length
    return out[0], out[1]


def _pointer_strings(elf: _Elf, block: bytes) -> tuple[bytes, bytes]:
    ptr = block[14]
    if ptr not in (4, 8):
        raise BuildInfoError(f"pointer size {ptr}")
    order = ">" if block[15] & _FLAG_BIG_ENDIAN else "<"
    fmt = order + ("Q" if ptr == 8 else "I")
    out = []
    for i in range(2):
        addr = struct.unpack_from(fmt, block, 16 + i * ptr)[0]
        header = elf.read(addr, 2 * ptr)
        data_addr = struct.unpack_from(fmt, header, 0)[0]
        length = struct.unpack_from(fmt, header, ptr)[0]
        if length > _MAX_STRING:
            raise BuildInfoError(f"string of {length} bytes")
        out.append(elf.read(data_addr, length) if length else b"")
    return out[0], out[1]


def _module(fields: list[str], *, replacement: bool) -> Module:
    path = fields[1]
    version = fields[2] if len(fields) >= 3 else ""
    if replacement and path.startswith((".", "/")):  # a local directory: never versioned
        if version not in ("", "(devel)"):
            raise BuildInfoError(f"local replacement {path[:100]!r} with version {version!r}")
        return Module(path, version)
    if not _MODULE_PATH.match(path) or (version and not _MODULE_VERSION.match(version)):
        raise BuildInfoError(f"bad module line {chr(9).join(fields)[:200]!r}")
    return Module(path, version)


def _parse_modinfo(text: str) -> tuple[str, Module | None, tuple[Module, ...]]:
    main_path = ""
    main: Module | None = None
    deps: list[Module] = []
    for line in text.splitlines():
        fields = line.split("\t")
        kind = fields[0]
        if kind == "path" and len(fields) >= 2:
            main_path = fields[1]
        elif kind in ("mod", "dep") and len(fields) >= 2:
            mod = _module(fields, replacement=False)
            if kind == "mod":
                main = mod
            else:
                deps.append(mod)
        elif kind == "=>" and len(fields) >= 2:
            repl = _module(fields, replacement=True)
            if deps:
                deps[-1] = Module(deps[-1].path, deps[-1].version, repl)
            elif main is not None:
                main = Module(main.path, main.version, repl)
            else:
                raise BuildInfoError("'=>' line without a module before it")
    return main_path, main, tuple(deps)


def _candidates(elf: _Elf) -> Iterator[int]:
    offset = elf.section(".go.buildinfo")
    if offset is not None and elf.data[offset : offset + len(MAGIC)] == MAGIC:
        yield offset
    pos = elf.data.find(MAGIC)
    while pos >= 0:
        if pos % 16 == 0 and pos != offset:
            yield pos
        pos = elf.data.find(MAGIC, pos + 1)


def read_buildinfo(data: bytes) -> BuildInfo | None:
    """The Go build information of an ELF file, or None if it is not a Go binary."""
    if not data.startswith(_ELF) or len(data) < 64 or MAGIC not in data:
        return None
    if data[4] not in (1, 2) or data[5] not in (1, 2):
        raise BuildInfoError("bad ELF class or data encoding")
    elf = _Elf(data, "<" if data[5] == 1 else ">", data[4] == 2)
    error: BuildInfoError | None = None
    for pos in _candidates(elf):
        block = data[pos : pos + 32]
        if len(block) < 32:
            continue
        try:
            if block[15] & _FLAG_INLINE:
                raw_version, raw_mod = _inline_strings(data, pos + 32)
            else:
                raw_version, raw_mod = _pointer_strings(elf, block)
            version = raw_version.decode("utf-8")
            if not version.startswith(("go", "devel")):
                raise BuildInfoError(f"implausible Go version {version[:40]!r}")
            if len(raw_mod) >= 2 * _SENTINEL + 1 and raw_mod[-_SENTINEL - 1] == ord("\n"):
                raw_mod = raw_mod[_SENTINEL:-_SENTINEL]
            else:
                raw_mod = b""
            main_path, main, deps = _parse_modinfo(raw_mod.decode("utf-8", "replace"))
        except (BuildInfoError, UnicodeDecodeError, struct.error) as exc:
            error = exc if isinstance(exc, BuildInfoError) else BuildInfoError(str(exc))
            continue
        return BuildInfo(version, main_path, main, deps)
    if error is not None:
        raise error
    return None


def _purl(path: str, version: str) -> str:
    namespace, _, name = path.rpartition("/")
    return PackageURL(
        type="golang", namespace=namespace or None, name=name, version=version or None
    ).to_string()


def _stdlib_version(go_version: str) -> str:
    # "go1.21.3", "go1.20.5 X:boringcrypto", "devel go1.22-abcdef Tue ..."
    words = go_version.split()
    if words and words[0] == "devel":
        return ""
    return words[0].removeprefix("go") if words else ""


class GoBinaryAnalyzer:
    name: ClassVar[str] = "go-binary"
    version: ClassVar[int] = 1

    def wants(self, path: PurePosixPath, info: FileInfo) -> bool:
        return bool(info.mode & 0o111) and MIN_SIZE <= info.size <= MAX_SIZE

    def analyze(self, files: Mapping[PurePosixPath, LayerFile]) -> LayerFacts:
        components: list[Component] = []
        unknowns: list[Unknown] = []
        for p, f in sorted(files.items()):
            path = str(p)
            try:
                info = read_buildinfo(f.content)
            except BuildInfoError as exc:
                unknowns.append(Unknown(path, self.name, f"unreadable Go build info: {exc}"))
                continue
            if info is None:
                continue
            components.extend(self._components(path, info))
        return LayerFacts(
            components=tuple(sorted(set(components))), unknowns=tuple(sorted(unknowns))
        )

    def _components(self, path: str, info: BuildInfo) -> Iterator[Component]:
        def make(name: str, version: str) -> Component:
            return Component(
                type=ComponentType.GOLANG,
                name=name,
                version=version,
                path=path,
                purl=_purl(name, version),
                analyzer=self.name,
            )

        stdlib = _stdlib_version(info.go_version)
        if stdlib:
            yield make("stdlib", stdlib)
        for mod in (info.main, *info.deps):
            if mod is None:
                continue
            effective = mod.replaced_by or mod
            if effective.version and effective.version != "(devel)":
                yield make(effective.path, effective.version)
