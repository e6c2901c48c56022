"""The rpm header blob, as stored in every rpm database backend.

A blob is ``il`` and ``dl`` (big-endian uint32), then ``il`` index entries of 16 bytes
(tag, type, offset, count; big-endian) and a data store of ``dl`` bytes the offsets point
into.  A blob read from a ``.rpm`` file has an 8-byte magic in front (``8e ad e8 01`` plus 4
reserved bytes); database blobs do not, but both are accepted.

Only the few tags a scanner needs are decoded: the package identity, and on request
(``with_files``) its file list, BASENAMES[i] in directory DIRNAMES[DIRINDEXES[i]] (or
OLDFILENAMES, the full paths packages built by rpm < 4.0 carry).  Every offset, length and
index is checked against the blob, so a corrupt blob raises ``HeaderError`` and never reads
out of bounds.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["HeaderError", "RpmHeader", "parse_header"]

_MAGIC = b"\x8e\xad\xe8\x01"
_MAX_INDEX = 0xFFFF  # rpm's own limit on index entries
_MAX_DATA = 256 * 1024 * 1024  # and on the data store

# tag numbers (rpmtag.h)
TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_VENDOR = 1011
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_SOURCERPM = 1044
TAG_OLDFILENAMES = 1027
TAG_DIRINDEXES = 1116
TAG_BASENAMES = 1117
TAG_DIRNAMES = 1118
_FILE_ARRAYS = (TAG_OLDFILENAMES, TAG_BASENAMES, TAG_DIRNAMES)

_STRING_TAGS = (
    TAG_NAME,
    TAG_VERSION,
    TAG_RELEASE,
    TAG_VENDOR,
    TAG_LICENSE,
    TAG_ARCH,
    TAG_SOURCERPM,
)

# data types
_INT32 = 4
_STRING = 6
_STRING_ARRAY = 8
_I18NSTRING = 9


class HeaderError(ValueError):
    """The blob is not a well-formed rpm header."""


@dataclass(frozen=True)
class RpmHeader:
    """The fields of one installed package that the rpm analyzer reports."""

    name: str
    version: str
    release: str
    epoch: int | None
    arch: str
    sourcerpm: str
    vendor: str
    license: str
    #: absolute paths of the package's files and directories (only with ``with_files``)
    files: tuple[str, ...] = ()


def _cstring(store: bytes, offset: int) -> str:
    end = store.find(b"\x00", offset)
    if end < 0:
        raise HeaderError(f"string at {offset} is not NUL-terminated")
    return store[offset:end].decode("utf-8", "replace")


def _string_array(store: bytes, tag: int, offset: int, count: int) -> list[str]:
    if count > len(store) - offset:  # every string takes at least its NUL
        raise HeaderError(f"tag {tag}: {count} strings cannot fit in the data store")
    out: list[str] = []
    for _ in range(count):
        end = store.find(b"\x00", offset)
        if end < 0:
            raise HeaderError(f"tag {tag}: string at {offset} is not NUL-terminated")
        out.append(store[offset:end].decode("utf-8", "replace"))
        offset = end + 1
    return out


def _file_list(arrays: dict[int, list[str]], indexes: tuple[int, ...]) -> tuple[str, ...]:
    basenames = arrays.get(TAG_BASENAMES)
    if basenames is None:
        return tuple(arrays.get(TAG_OLDFILENAMES, ()))
    dirnames = arrays.get(TAG_DIRNAMES, [])
    if len(indexes) != len(basenames):
        raise HeaderError(f"{len(basenames)} BASENAMES but {len(indexes)} DIRINDEXES")
    out: list[str] = []
    for base, index in zip(basenames, indexes, strict=True):
        if not 0 <= index < len(dirnames):
            raise HeaderError(f"DIRINDEXES entry {index} outside {len(dirnames)} DIRNAMES")
        out.append(dirnames[index] + base)
    return tuple(out)


def parse_header(blob: bytes, *, with_files: bool = False) -> RpmHeader:
    """Decode NAME, VERSION, RELEASE, EPOCH, ARCH, SOURCERPM, VENDOR, LICENSE of a header
    (and the file list when ``with_files``)."""
    view = memoryview(blob)
    if view[:4] == _MAGIC:
        view = view[8:]
    if len(view) < 8:
        raise HeaderError(f"header blob of {len(blob)} bytes is too short")
    il, dl = struct.unpack_from(">II", view, 0)
    if not 0 < il <= _MAX_INDEX or dl > _MAX_DATA:
        raise HeaderError(f"implausible header sizes: {il} index entries, {dl} data bytes")
    index_end = 8 + 16 * il
    if index_end + dl > len(view):
        raise HeaderError(f"header needs {index_end + dl} bytes, blob has {len(view)}")
    store = bytes(view[index_end : index_end + dl])
    strings: dict[int, str] = {}
    arrays: dict[int, list[str]] = {}
    indexes: tuple[int, ...] = ()
    epoch: int | None = None
    for i in range(il):
        tag, typ, offset, count = struct.unpack_from(">IIiI", view, 8 + 16 * i)
        if offset < 0 or offset > dl:
            raise HeaderError(f"tag {tag}: offset {offset} outside the {dl}-byte data store")
        wanted_file_tag = with_files and (tag in _FILE_ARRAYS or tag == TAG_DIRINDEXES)
        if tag not in _STRING_TAGS and tag != TAG_EPOCH and not wanted_file_tag:
            continue
        if offset == dl:
            raise HeaderError(f"tag {tag}: offset {offset} at the end of the data store")
        if tag == TAG_DIRINDEXES:
            if typ != _INT32 or offset + 4 * count > dl:
                raise HeaderError(f"tag {tag}: bad DIRINDEXES entry (type {typ}, count {count})")
            indexes = struct.unpack_from(f">{count}i", store, offset)
        elif tag in _FILE_ARRAYS:
            if typ != _STRING_ARRAY:
                raise HeaderError(f"tag {tag}: type {typ} where a string array was expected")
            arrays[tag] = _string_array(store, tag, offset, count)
        elif tag == TAG_EPOCH:
            if typ != _INT32 or count < 1 or offset + 4 > dl:
                raise HeaderError(f"tag {tag}: bad EPOCH entry (type {typ}, count {count})")
            epoch = struct.unpack_from(">i", store, offset)[0]
        elif typ in (_STRING, _STRING_ARRAY, _I18NSTRING):
            strings[tag] = _cstring(store, offset)
        else:
            raise HeaderError(f"tag {tag}: type {typ} where a string was expected")
    return RpmHeader(
        name=strings.get(TAG_NAME, ""),
        version=strings.get(TAG_VERSION, ""),
        release=strings.get(TAG_RELEASE, ""),
        epoch=epoch,
        arch=strings.get(TAG_ARCH, ""),
        sourcerpm=strings.get(TAG_SOURCERPM, ""),
        vendor=strings.get(TAG_VENDOR, ""),
        license=strings.get(TAG_LICENSE, ""),
        files=_file_list(arrays, indexes) if with_files else (),
    )
