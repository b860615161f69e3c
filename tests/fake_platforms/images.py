"""What the fakes know of image files: the type a server finds in a file's first bytes (never
from its name or the type the client claims), and tiny valid images the tests make.

The fakes do not use metpost's own recognition (``metpost.media``): a server finds the type
for itself, so a client that labels a file wrongly is caught.
"""

from __future__ import annotations

import struct
import zlib

MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def sniffed_type(data: bytes) -> str | None:
    """The image type a server finds in ``data``, or None."""
    for magic, mime_type in MAGIC:
        if data.startswith(magic):
            return mime_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix"):
        return "image/heic"
    if data[4:8] == b"ftyp" and data[8:12] == b"avif":
        return "image/avif"
    return None


def png_bytes(width: int = 1, height: int = 1, padding: int = 0) -> bytes:
    """A valid PNG of ``width`` x ``height`` grey pixels; ``padding`` bytes of a private
    ancillary chunk make it as big as a test needs (and another such image differ)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    extra = chunk(b"prVt", b"\x00" * padding) if padding else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def jpeg_bytes(note: bytes = b"metpost") -> bytes:
    """A small JPEG: SOI, a comment (``note``, to tell two apart), a 1x1 baseline frame with
    its tables, and EOI. Servers in the fakes only look at its first bytes."""
    comment = b"\xff\xfe" + struct.pack(">H", len(note) + 2) + note
    quant = b"\xff\xdb\x00\x43\x00" + bytes([1] * 64)
    frame = b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00"
    huff_dc = b"\xff\xc4\x00\x14\x00" + bytes([1] + [0] * 15) + b"\x00"
    huff_ac = b"\xff\xc4\x00\x14\x10" + bytes([1] + [0] * 15) + b"\x00"
    scan = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00"
    return b"\xff\xd8" + comment + quant + frame + huff_dc + huff_ac + scan + b"\xff\xd9"


def png_size(data: bytes) -> tuple[int, int] | None:
    """A PNG's width and height, from its IHDR chunk."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height
