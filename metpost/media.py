"""Images to attach to posts: found, read, recognised and described before anything is sent.

An image comes from the command line (``--image PATH --alt TEXT``, paired in order) or from a
template's front matter (``images: [{path: parts/map.png, alt: "..."}]``, paths relative to
``templates/`` and confined to it as includes are). Each is read once: its type is recognised
from its first bytes, never from its name, and its SHA-256 and size are kept, so that the
broadcast's idempotency key covers the image itself and a retry can tell that the file is still
the one that was checked. Alt text is required unless the person sending says ``--no-alt``.

Whether a platform takes an image (type, size, count, alt length) is the platform's to say
(``Platform.media_problems``); this module only makes ``Media`` of files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from metpost.errors import MetpostError
from metpost.platforms.api import Media

# Read no further: no platform takes an image anywhere near this big, and a mistaken path (a
# video, a disk image) must not fill memory before it is refused.
MAX_READ_BYTES = 64 * 1024 * 1024

# The signatures of the image formats platforms take: (offset, bytes, MIME type).
SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
)
# ISO base media files (HEIF, AVIF) name their brand at offset 8, after "ftyp" at offset 4.
FTYP_BRANDS = {b"heic": "image/heic", b"heix": "image/heic", b"heim": "image/heic",
               b"heis": "image/heic", b"hevc": "image/heic", b"hevx": "image/heic",
               b"mif1": "image/heif", b"msf1": "image/heif",
               b"avif": "image/avif", b"avis": "image/avif"}


@dataclass(frozen=True)
class ImageSpec:
    """An image a person asked for: where, what it shows (None if not said), and who asked
    (``--image`` or a template file), for messages."""

    path: str
    alt: str | None
    origin: str


def image_type(head: bytes) -> str | None:
    """The MIME type of an image whose file starts with ``head``, or None if it is none that
    metpost knows."""
    for offset, signature, mime_type in SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            return mime_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return FTYP_BRANDS.get(head[8:12])
    return None


FORMAT_NAMES = {"image/png": "a PNG", "image/gif": "a GIF", "image/webp": "a WebP",
                "image/jpeg": "a JPEG", "image/bmp": "a BMP", "image/heic": "a HEIF",
                "image/heif": "a HEIF", "image/avif": "an AVIF"}
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC
JPEG_END = b"\xff\xd9"  # the end-of-image marker
JPEG_SCAN = 0xDA  # the start-of-scan marker's second byte
SCAN_CHUNK = 1 << 20


def whole_image(mime_type: str, stream: BinaryIO, size: int) -> bool:
    """Whether the image in ``stream`` (``size`` bytes, read from its start) is whole as far as
    its format's structure says. A file cut short (a download that stopped) fails, as a
    platform would refuse it for every account, mid-broadcast.

    - PNG: its first chunk is its header, with a width and a height, and its last is IEND;
    - GIF: it has a screen size and ends with its trailer;
    - WebP: its RIFF size is the file's;
    - JPEG: its segments are all there up to the first scan, and an end-of-image marker comes
      after that scan. It need not be at the very end: a phone's motion photo carries its
      video after the marker;
    - BMP: the file is at least the size its header gives (0 there means "not said");
    - HEIF and AVIF: every top-level box fits in the file.
    TIFF is taken as it starts: its directories may lie anywhere in the file.
    """
    head = stream.read(32)
    if mime_type == "image/png":
        stream.seek(max(0, size - len(PNG_END)))
        return (head[12:16] == b"IHDR" and int.from_bytes(head[16:20], "big") > 0
                and int.from_bytes(head[20:24], "big") > 0 and stream.read() == PNG_END)
    if mime_type == "image/gif":
        stream.seek(max(0, size - 1))
        return (size >= 14 and int.from_bytes(head[6:8], "little") > 0
                and int.from_bytes(head[8:10], "little") > 0 and stream.read() == b"\x3b")
    if mime_type == "image/webp":
        return int.from_bytes(head[4:8], "little") + 8 == size
    if mime_type == "image/jpeg":
        return _whole_jpeg(stream)
    if mime_type == "image/bmp":
        return int.from_bytes(head[2:6], "little") <= size
    if mime_type in ("image/heic", "image/heif", "image/avif"):
        return _whole_boxes(stream, size)
    return True


def _whole_jpeg(stream: BinaryIO) -> bool:
    """A JPEG's segments, from just after its start-of-image marker to its first scan, each
    within the file (every segment there has a length); then an end-of-image marker somewhere
    after that scan's header. The segments are stepped over by their lengths, not searched:
    an EXIF thumbnail inside one ends with an end-of-image marker of its own."""
    at = 2
    while True:
        stream.seek(at)
        marker = stream.read(2)
        while marker[:1] == b"\xff" and marker[1:] == b"\xff":  # fill bytes before a marker
            at += 1
            stream.seek(at)
            marker = stream.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:  # past the end, or not a segment: damaged
            return False
        at += 2 + int.from_bytes(stream.read(2), "big")
        if marker[1] == JPEG_SCAN:  # the coded data follows, then (at last) the end marker
            return _found_after(stream, at, JPEG_END)


def _found_after(stream: BinaryIO, at: int, wanted: bytes) -> bool:
    """Whether ``wanted`` occurs in ``stream`` at or after offset ``at``, read in chunks."""
    stream.seek(at)
    carried = b""
    while chunk := stream.read(SCAN_CHUNK):
        if wanted in carried + chunk:
            return True
        carried = chunk[-(len(wanted) - 1):]
    return False


def _whole_boxes(stream: BinaryIO, size: int) -> bool:
    """Whether an ISO base media file's top-level boxes (HEIF, AVIF) lie end to end within
    the file, as its box sizes say, with at least one box after the file-type box."""
    at, boxes = 0, 0
    while at < size:
        stream.seek(at)
        header = stream.read(16)
        if len(header) < 8:
            return False
        length = int.from_bytes(header[:4], "big")
        if length == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return False
            length = int.from_bytes(header[8:16], "big")
        elif length == 0:  # the box runs to the end of the file
            length = size - at
        if length < 8 or at + length > size:
            return False
        at += length
        boxes += 1
    return boxes >= 2


def file_digest(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (hex) and size, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def load_image(path: Path, alt: str, shown: str) -> Media:
    """``path`` as Media, or a MetpostError naming it as ``shown`` and saying what is wrong."""
    try:
        if not path.exists():
            raise MetpostError(f"{shown}: no such file")
        if not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file"
            raise MetpostError(f"{shown}: it is {kind}; give the path of an image file")
        if path.stat().st_size == 0:
            raise MetpostError(f"{shown}: the file is empty (0 bytes); save the image again")
        if path.stat().st_size > MAX_READ_BYTES:
            raise MetpostError(f"{shown}: {path.stat().st_size:,} bytes is far too big for an "
                               "image on any platform")
        with path.open("rb") as stream:
            mime_type = image_type(stream.read(32))
            if mime_type is None:
                raise MetpostError(f"{shown}: not an image metpost recognises (PNG, JPEG, "
                                   "GIF, WebP, BMP, TIFF, HEIF or AVIF)")
            stream.seek(0)
            whole = whole_image(mime_type, stream, path.stat().st_size)
        if not whole:
            raise MetpostError(f"{shown}: the file is cut short or damaged (it does not end as "
                               f"{FORMAT_NAMES.get(mime_type, 'an image')} does); save it again")
        sha256, size = file_digest(path)
    except OSError as error:
        raise MetpostError(f"{shown}: cannot read it: {error.strerror}") from None
    return Media(path=path.resolve(), mime_type=mime_type, alt_text=alt, sha256=sha256,
                 size=size)


def pair_images(paths: Sequence[str], alts: Sequence[str], *, no_alt: bool) -> list[ImageSpec]:
    """``--image`` and ``--alt`` paired in the order given: one ``--alt`` per ``--image``,
    unless ``--no-alt``, when fewer (or none) may be given and pair with the first images."""
    if len(alts) > len(paths):
        raise MetpostError(f"--alt is given {len(alts)} times for {len(paths)} --image; give "
                           "one --alt after each --image, in the same order")
    if len(alts) < len(paths) and not no_alt:
        missing = paths[len(alts)]
        raise MetpostError(f"--image {missing} has no --alt: describe each image for people "
                           "who cannot see it (one --alt per --image, in the same order), or "
                           "add --no-alt to send images without")
    return [ImageSpec(path=path, alt=alts[index] if index < len(alts) else None,
                      origin="--image") for index, path in enumerate(paths)]


def command_line_images(specs: Iterable[ImageSpec], *, require_alt: bool,
                        cwd: Path | None = None) -> list[Media]:
    """The ``--image`` files (relative to the working folder), read and checked."""
    base = cwd or Path.cwd()
    found: list[Media] = []
    problems: list[str] = []
    for spec in specs:
        try:
            found.append(load_image(base / spec.path, _alt(spec, require_alt),
                                    f"--image {spec.path}"))
        except MetpostError as error:
            problems.extend(error.problems)
    if problems:
        raise MetpostError(*problems)
    return found


def template_images(specs: Iterable[ImageSpec], templates_dir: Path, *,
                    require_alt: bool) -> list[Media]:
    """A template's images (paths relative to ``templates_dir``, which they may not leave),
    read and checked."""
    from metpost.render import ReferenceRefused, referenced_file

    found: list[Media] = []
    problems: list[str] = []
    for spec in specs:
        shown = f"{spec.origin}: image {spec.path}"
        try:
            path = referenced_file(templates_dir, spec.path)
            if path is None:
                raise MetpostError(f"{shown}: no such file in {templates_dir}")
            found.append(load_image(path, _alt(spec, require_alt), shown))
        except ReferenceRefused as refused:
            problems.append(f"{shown}: {refused.reason}")
        except MetpostError as error:
            problems.extend(error.problems)
    if problems:
        raise MetpostError(*problems)
    return found


def repeated_images(images: Sequence[tuple[ImageSpec, Media]]) -> list[str]:
    """A problem for each image that comes again among ``images`` (those one post carries,
    each with what asked for it): the same bytes, by whatever name, would be shown twice."""
    first: dict[str, ImageSpec] = {}
    problems: list[str] = []
    for spec, media in images:
        if media.sha256 not in first:
            first[media.sha256] = spec
            continue
        earlier = first[media.sha256]
        problem = (f"{_named(spec)}: the same image as {_named(earlier)}; a post carries each "
                   "image once: leave one of them out")
        if problem not in problems:
            problems.append(problem)
    return problems


def _alt(spec: ImageSpec, require_alt: bool) -> str:
    alt = (spec.alt or "").strip()
    if alt or not require_alt:
        return alt
    where = "give it an --alt" if spec.origin == "--image" else (
        f"add alt: to it in {spec.origin}")
    raise MetpostError(f"{_named(spec)} has no alt text: {where} describing it for people who "
                       "cannot see it, or add --no-alt to send images without")


def _named(spec: ImageSpec) -> str:
    return f"--image {spec.path}" if spec.origin == "--image" else (
        f"{spec.origin}: image {spec.path}")


def still_the_same(media: Media) -> str | None:
    """Why the file is no longer the image that was checked (moved, changed), or None."""
    try:
        sha256, size = file_digest(media.path)
    except OSError as error:
        return f"image {media.path} cannot be read any more: {error.strerror}"
    if (sha256, size) != (media.sha256, media.size):
        return (f"image {media.path} has changed since the broadcast was recorded; put the "
                "original back, or send it as a new broadcast")
    return None
