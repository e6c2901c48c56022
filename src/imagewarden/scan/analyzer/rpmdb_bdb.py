"""Values of a Berkeley DB *hash* database, read without libdb (rpm ``Packages``, CentOS 5–8).

Layout used (Berkeley DB 4.x–5.x, ``db_page.h``):

* page 0 is the metadata page: magic ``0x061561`` at byte 12 (its byte order gives the
  database's byte order), page size at 20, encryption algorithm at 24, page type at 25
  (8 = hash metadata), last page number at 32;
* every page starts with a 26-byte header: page number at 8, next page at 16, entry count
  (uint16) at 20, ``hf_offset`` (uint16) at 22, page type at 25;
* hash pages (type 13, or 2 for unsorted) hold ``entries`` uint16 offsets from byte 26, in
  key/value pairs; an item is one type byte and its payload.  An item ends where the item
  before it starts (the first ends at the end of the page).  Type 1 is an inline item; type
  3 is an off-page item (4 bytes of padding, first overflow page, total length);
* overflow pages (type 7) chain through "next page" and carry ``hf_offset`` bytes of data
  from byte 26.

Items come back as (key, value) pairs; rpm keys are 4-byte package numbers, and key 0 holds
a counter, not a package.  Loops, out-of-range pages and short chains raise ``BdbError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["BdbError", "iter_hash_items"]

_HASH_MAGIC = 0x061561
_PAGE_HEADER = 26
_P_HASH_UNSORTED = 2
_P_OVERFLOW = 7
_P_HASHMETA = 8
_P_HASH = 13
_H_KEYDATA = 1
_H_OFFPAGE = 3


class BdbError(ValueError):
    """The bytes are not a readable Berkeley DB hash database."""


def _byte_order(data: bytes) -> str:
    if len(data) < 512:
        raise BdbError(f"{len(data)} bytes is too short for a Berkeley DB file")
    for order in ("<", ">"):
        if struct.unpack_from(order + "I", data, 12)[0] == _HASH_MAGIC:
            return order
    raise BdbError("no Berkeley DB hash magic at byte 12")


def iter_hash_items(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield every (key, value) stored in the hash database ``data``, in page order."""
    order = _byte_order(data)
    u16, u32 = order + "H", order + "I"
    page_size = struct.unpack_from(u32, data, 20)[0]
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise BdbError(f"implausible page size {page_size}")
    if data[24] != 0:
        raise BdbError("encrypted Berkeley DB databases are not supported")
    if data[25] != _P_HASHMETA:
        raise BdbError(f"page 0 has type {data[25]}, not hash metadata")
    npages = len(data) // page_size
    last = struct.unpack_from(u32, data, 32)[0]
    if last >= npages:
        raise BdbError(f"last page {last} is beyond the end of the file ({npages} pages)")

    def overflow(pgno: int, total: int) -> bytes:
        out = bytearray()
        seen: set[int] = set()
        while len(out) < total:
            if pgno == 0 or pgno > last or pgno in seen:
                raise BdbError(f"broken overflow chain at page {pgno}")
            seen.add(pgno)
            base = pgno * page_size
            if data[base + 25] != _P_OVERFLOW:
                raise BdbError(f"page {pgno} in an overflow chain has type {data[base + 25]}")
            length = struct.unpack_from(u16, data, base + 22)[0]
            if length > page_size - _PAGE_HEADER:
                raise BdbError(f"overflow page {pgno} claims {length} bytes")
            out += data[base + _PAGE_HEADER : base + _PAGE_HEADER + length]
            pgno = struct.unpack_from(u32, data, base + 16)[0]
        if len(out) != total:
            raise BdbError(f"overflow chain holds {len(out)} bytes, item says {total}")
        return bytes(out)

    def item(pgno: int, base: int, start: int, end: int) -> bytes:
        if not _PAGE_HEADER <= start < end <= page_size:
            raise BdbError(f"hash page {pgno}: item at bad offset {start}")
        raw = data[base + start : base + end]
        if raw[0] == _H_KEYDATA:
            return raw[1:]
        if raw[0] == _H_OFFPAGE:
            if len(raw) < 12:
                raise BdbError(f"hash page {pgno}: short off-page item")
            first, total = struct.unpack_from(order + "II", raw, 4)
            return overflow(first, total)
        raise BdbError(f"hash page {pgno}: unsupported item type {raw[0]}")

    for pgno in range(1, last + 1):
        base = pgno * page_size
        if data[base + 25] not in (_P_HASH, _P_HASH_UNSORTED):
            continue
        entries = struct.unpack_from(u16, data, base + 20)[0]
        if _PAGE_HEADER + 2 * entries > page_size:
            raise BdbError(f"hash page {pgno} claims {entries} entries")
        offsets = struct.unpack_from(f"{order}{entries}H", data, base + _PAGE_HEADER)
        offsets = (page_size, *offsets)
        for i in range(0, entries - 1, 2):
            key = item(pgno, base, offsets[i + 1], offsets[i])
            value = item(pgno, base, offsets[i + 2], offsets[i + 1])
            yield key, value
