"""Blobs of an rpm "ndb" package database (``Packages.db``, SUSE and rpm built with ndb).

Layout (rpm ``lib/backend/ndb/rpmpkg.c``; every integer little-endian):

* the file starts with slot pages of 4096 bytes.  The first 32 bytes are the database header:
  magic ``RpmP``, format version 0, generation, number of slot pages, next package index;
* after the header every 16 bytes is a slot: magic ``Slot``, package index, block offset,
  block count.  A slot with block offset 0 is free.  Blocks are 16 bytes;
* a blob starts at ``block offset * 16``: magic ``BlbS``, package index, timestamp, blob
  length, then the blob (an rpm header), padding, and a 12-byte tail (adler32, blob length,
  magic ``BlbE``) ending at the last of its blocks.

Slots are returned in block order; any inconsistency raises ``NdbError``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

__all__ = ["NdbError", "iter_ndb_blobs"]

_DB_MAGIC = b"RpmP"
_SLOT_MAGIC = b"Slot"
_HEAD_MAGIC = b"BlbS"
_TAIL_MAGIC = b"BlbE"
_PAGE = 4096
_SLOT = 16
_BLOCK = 16
_HEADER = 32
_BLOB_HEAD = 16
_BLOB_TAIL = 12


class NdbError(ValueError):
    """The bytes are not a readable ndb package database."""


def iter_ndb_blobs(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (package index, header blob) for every used slot of ``data``."""
    if len(data) < _PAGE or data[:4] != _DB_MAGIC:
        raise NdbError("no ndb magic 'RpmP'")
    version, _generation, npages = struct.unpack_from("<III", data, 4)
    if version != 0:
        raise NdbError(f"unsupported ndb version {version}")
    if npages == 0 or npages * _PAGE > len(data):
        raise NdbError(f"{npages} slot pages do not fit a {len(data)}-byte file")
    nblocks = len(data) // _BLOCK
    first_data_block = npages * _PAGE // _BLOCK
    slots: list[tuple[int, int, int]] = []
    for off in range(_HEADER, npages * _PAGE, _SLOT):
        if data[off : off + 4] != _SLOT_MAGIC:
            raise NdbError(f"bad slot magic at byte {off}")
        pkgidx, blkoff, blkcnt = struct.unpack_from("<III", data, off + 4)
        if blkoff == 0:
            continue
        if not pkgidx or not blkcnt or blkoff < first_data_block or blkoff + blkcnt > nblocks:
            raise NdbError(f"slot at byte {off} points outside the data area")
        slots.append((blkoff, blkcnt, pkgidx))
    for blkoff, blkcnt, pkgidx in sorted(slots):
        start = blkoff * _BLOCK
        end = start + blkcnt * _BLOCK
        if data[start : start + 4] != _HEAD_MAGIC:
            raise NdbError(f"package {pkgidx}: no blob magic at byte {start}")
        got_idx, _stamp, length = struct.unpack_from("<III", data, start + 4)
        if got_idx != pkgidx:
            raise NdbError(f"package {pkgidx}: blob belongs to package {got_idx}")
        if (_BLOB_HEAD + length + _BLOB_TAIL + _BLOCK - 1) // _BLOCK != blkcnt:
            raise NdbError(f"package {pkgidx}: blob length {length} does not fill {blkcnt} blocks")
        adler, tail_len = struct.unpack_from("<II", data, end - _BLOB_TAIL)
        if data[end - 4 : end] != _TAIL_MAGIC or tail_len != length:
            raise NdbError(f"package {pkgidx}: bad blob tail")
        if zlib.adler32(data[start : end - _BLOB_TAIL]) != adler:
            raise NdbError(f"package {pkgidx}: adler32 mismatch")
        yield pkgidx, data[start + _BLOB_HEAD : start + _BLOB_HEAD + length]
