"""ZIP containers, shared by NPZ arrays (:mod:`.arrays`) and image ZIPs (:mod:`.images`).

:func:`_zip_total` opens a ZIP from bytes and refuses it from its directory alone, before anything
is decompressed: more than MAX_ARCHIVE_MEMBERS (100,000) entries (read from the end-of-central-directory
record before zipfile builds one object per entry), more than ``max_bytes`` unpacked, one member
over ``max_member_bytes``, or one member over 1 MiB compressed more than ``max_ratio`` (a likely zip
bomb).  :func:`_read_member` turns a damaged, encrypted or unsupported member into a sentence naming
the archive and the member.

Errors: ``ValueError`` (:class:`_MemberError` for one unreadable member).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Optional

from bait_core.common.quoting import quote as _quote


# Limits on archives and images.  An upload's bytes say nothing about the work it causes: a 30 KB ZIP
# can hold 100 PNGs of 12000×12000 pixels each (347 s and 1.1 GB to decode before these limits).
# Every limit is checked from headers (the ZIP directory, each image's header, each .npy header)
# before anything is decompressed or decoded, and a refusal names the file inside the archive.
MAX_ARCHIVE_MEMBERS = 100_000         # entries in a ZIP / NPZ (dirs and skipped files included)


def _declared_entries(raw: bytes) -> Optional[int]:
    """The entry count a ZIP's end-of-central-directory record declares (zip64 too), read before
    zipfile builds one object per entry; None when the record is not found (zipfile then decides)."""
    tail_start = max(0, len(raw) - (2**16 + 22 + 20 + 56))
    tail = raw[tail_start:]
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    n = struct.unpack_from("<H", tail, at + 10)[0]
    if n == 0xFFFF:                                            # zip64: the count is in the zip64 record
        at64 = tail.rfind(b"PK\x06\x06", 0, at)
        if at64 >= 0 and at64 + 40 <= len(tail):
            return int(struct.unpack_from("<Q", tail, at64 + 32)[0])
    return int(n)


def _zip_total(raw: bytes, name: str, kind: str, max_bytes: int,
               max_member_bytes: Optional[int] = None, max_ratio: Optional[float] = None) -> zipfile.ZipFile:
    """Open a ZIP (or NPZ) and refuse it, from its directory alone, when it has more than
    MAX_ARCHIVE_MEMBERS entries, its uncompressed contents exceed max_bytes, one member exceeds
    `max_member_bytes`, or one member over 1 MiB unpacks to more than `max_ratio` × its compressed size.

    zipfile never returns more than the size a member declares (it stops there and fails the CRC), so
    these declared sizes bound the work and the memory of reading the archive."""
    n_declared = _declared_entries(raw)
    if n_declared is not None and n_declared > MAX_ARCHIVE_MEMBERS:
        raise ValueError(f"{_quote(name)} holds {n_declared} entries; {kind} archives with more than "
                         f"{MAX_ARCHIVE_MEMBERS} are refused")
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
            NotImplementedError, struct.error) as e:
        raise ValueError(f"{_quote(name)} is not a valid {kind} archive (could not open it as a ZIP: {e})") from None
    infos = zf.infolist()
    try:
        if len(infos) > MAX_ARCHIVE_MEMBERS:
            raise ValueError(f"{_quote(name)} holds {len(infos)} entries; {kind} archives with more than "
                             f"{MAX_ARCHIVE_MEMBERS} are refused")
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise ValueError(f"{_quote(name)} unpacks to {total / 2**20:.1f} MiB; the limit is "
                             f"{max_bytes / 2**20:.0f} MiB")
        for i in infos:
            if max_member_bytes is not None and i.file_size > max_member_bytes:
                raise ValueError(f"{_quote(name)}: {_quote(i.filename)} unpacks to {i.file_size / 2**20:.1f} MiB; files "
                                 f"over {max_member_bytes / 2**20:.0f} MiB inside a {kind} are refused")
            if (max_ratio is not None and i.file_size > 2**20
                    and i.file_size > max_ratio * max(i.compress_size, 1)):
                raise ValueError(f"{_quote(name)}: {_quote(i.filename)} unpacks to {i.file_size / 2**20:.1f} MiB from "
                                 f"{i.compress_size / 2**10:.1f} KiB (ratio "
                                 f"{i.file_size / max(i.compress_size, 1):.0f}:1); files over 1 MiB "
                                 f"compressed more than {max_ratio:.0f}:1 are refused as a likely zip bomb")
    except ValueError:
        zf.close()
        raise
    return zf


# everything reading one ZIP member can raise on a damaged, encrypted or exotic archive
ZIP_READ_ERRORS = (zlib.error, NotImplementedError, RuntimeError, EOFError, zipfile.BadZipFile,
                   zipfile.LargeZipFile, OSError, struct.error, ValueError)


class _MemberError(ValueError):
    """A ZIP member that could not be read; its message names the archive and the member."""


def _zip_failure(e: BaseException, name: str, member: str) -> ValueError:
    """The sentence for a ZIP member that could not be read (corrupt, encrypted, unknown method)."""
    if isinstance(e, NotImplementedError):
        why = "it uses a compression method this reader does not support (use plain deflate, the usual ZIP)"
    elif isinstance(e, RuntimeError) and "encrypted" in str(e):
        why = "it is encrypted (password-protected archives are not read; zip it again without a password)"
    else:
        why = f"its data are damaged ({_quote(str(e))}); create the archive again and upload it"
    return _MemberError(f"{_quote(name)}: could not extract {_quote(member)}: {why}")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """The bytes of one ZIP member, any read failure turned into a sentence naming the member."""
    try:
        return zf.read(info)
    except ZIP_READ_ERRORS as e:
        raise _zip_failure(e, name, info.filename) from None
