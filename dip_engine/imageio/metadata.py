"""EXIF, XMP and IPTC: read from the source, carried unchanged except the fields that must
change (orientation, pixel sizes, history) and our recipe, which goes into XMP.

EXIF blocks are patched in place, never rebuilt: maker notes use absolute offsets.
"""

from __future__ import annotations

import binascii
import datetime
import hashlib
import io
import json
import struct
import xml.etree.ElementTree as ET
import zlib

from PIL import Image

EXIF_HEADER = b"Exif\x00\x00"
ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
# Tags of a TIFF's first IFD that describe the photo rather than the file's layout.
TIFF_PHOTO_TAGS = (0x010E, 0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x013C, 0x8298)
TIFF_SUB_IFDS = (0x8769, 0x8825)  # Exif and GPS sub-IFDs
TIFF_XMP, TIFF_IPTC, TIFF_ICC = 700, 33723, 34675
DNG_VERSION = 50706
SETTINGS_KEY = "dip-studio"  # PNG text keyword; TIFF ImageDescription JSON key (older files)
PNG_XMP_KEY = "XML:com.adobe.xmp"
PNG_IPTC_KEY = "Raw profile type iptc"  # ImageMagick's and exiftool's convention

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "xmpNote": "http://ns.adobe.com/xmp/note/",
    "dipstudio": "https://dip-studio.invalid/ns/1.0/",
}
_PACKET_START = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_PACKET_END = '\n<?xpacket end="w"?>'


# ---------------------------------------------------------------------------------- EXIF


def exif_of_ifd(ifd: Image.Exif) -> bytes | None:
    """EXIF to keep from a TIFF-like first IFD (TIFF, DNG, most RAW): the photo's tags and
    its Exif and GPS sub-IFDs, not the file's layout; orientation reset to 1."""
    kept = Image.Exif()
    for tag in TIFF_PHOTO_TAGS:
        if tag in ifd:
            kept[tag] = ifd[tag]
    for tag in TIFF_SUB_IFDS:
        if tag in ifd:
            sub = dict(ifd.get_ifd(tag))
            sub.pop(0x927C, None)  # a maker note's offsets point into the source file
            kept[tag] = sub
    if ORIENTATION in kept:
        kept[ORIENTATION] = 1
    return kept.tobytes() if len(kept) else None


def with_exif_header(raw: bytes) -> bytes:
    return raw if raw.startswith(EXIF_HEADER) else EXIF_HEADER + raw


def strip_exif_header(exif: bytes) -> bytes:
    return exif.removeprefix(EXIF_HEADER)


def fit_exif(exif: bytes, width: int, height: int) -> bytes:
    """`exif` with IFD0's Orientation set to 1 and the Exif IFD's PixelX/YDimension set to
    width x height, where present; patched in place, any other byte unchanged."""
    out = bytearray(exif)
    base = len(EXIF_HEADER) if exif.startswith(EXIF_HEADER) else 0
    tiff = memoryview(out)[base:]
    end = "<" if bytes(tiff[:2]) == b"II" else ">"
    try:
        (ifd0,) = struct.unpack_from(end + "I", tiff, 4)
        entries = dict(_entries(tiff, end, ifd0))
        _set_short_or_long(tiff, end, entries.get(ORIENTATION), 1)
        if _EXIF_IFD in entries:
            pos, typ, _ = entries[_EXIF_IFD]
            (sub,) = struct.unpack_from(end + "I", tiff, pos + 8)
            sub_entries = dict(_entries(tiff, end, sub))
            _set_short_or_long(tiff, end, sub_entries.get(_PIXEL_X), width)
            _set_short_or_long(tiff, end, sub_entries.get(_PIXEL_Y), height)
    except struct.error:
        pass  # malformed: keep the block as it is
    finally:
        tiff.release()
    return bytes(out)


def _entries(tiff, end: str, offset: int):
    (count,) = struct.unpack_from(end + "H", tiff, offset)
    for i in range(count):
        pos = offset + 2 + 12 * i
        tag, typ, n = struct.unpack_from(end + "HHI", tiff, pos)
        yield tag, (pos, typ, n)


def _set_short_or_long(tiff, end: str, entry, value: int) -> None:
    if entry is None:
        return
    pos, typ, n = entry
    if n == 1 and typ == 3 and value <= 0xFFFF:
        struct.pack_into(end + "H", tiff, pos + 8, value)
    elif n == 1 and typ == 4:
        struct.pack_into(end + "I", tiff, pos + 8, value)


def first_tiff_ifd(data: bytes) -> Image.Exif | None:
    """IFD0 of a classic TIFF file's bytes (TIFF, DNG, most RAW), parsed by Pillow, else None.
    Offsets in a TIFF count from the file's start, so the whole file is handed over."""
    try:
        if data[:4] not in (b"II*\x00", b"MM\x00*"):
            return None  # not TIFF-based, or BigTIFF (64-bit offsets)
        ifd = Image.Exif()
        ifd.load(data)
        return ifd
    except Exception:  # damaged metadata must not stop the photo from loading
        return None


# ---------------------------------------------------------------------------------- XMP


def updated_xmp(
    xmp: bytes | None, width: int, height: int, settings: dict[str, str] | None, software: str
) -> bytes | None:
    """The source's XMP packet with orientation 1, the new pixel sizes, a history entry and our
    recipe (`dipstudio:settings`, JSON) when `settings` is given; everything else unchanged.
    Without a source packet, a new one holding only the recipe (None without settings)."""
    root = _parse(xmp) if xmp else None
    if root is None:
        if settings is None:
            return xmp or None  # nothing to add, or an unparsable packet kept as it was
        root = ET.Element(f"{{{NS['x']}}}xmpmeta")
        ET.SubElement(ET.SubElement(root, _q("rdf", "RDF")), _q("rdf", "Description"),
                      {_q("rdf", "about"): ""})
    rdf = root if root.tag == _q("rdf", "RDF") else root.find(_q("rdf", "RDF"))
    if rdf is None:
        return xmp
    descriptions = rdf.findall(_q("rdf", "Description"))
    if not descriptions:
        descriptions = [ET.SubElement(rdf, _q("rdf", "Description"), {_q("rdf", "about"): ""})]
    fixed = {
        _q("tiff", "Orientation"): "1",
        _q("tiff", "ImageWidth"): str(width),
        _q("tiff", "ImageLength"): str(height),
        _q("exif", "PixelXDimension"): str(width),
        _q("exif", "PixelYDimension"): str(height),
    }
    for desc in descriptions:
        for name, value in fixed.items():
            if name in desc.attrib:
                desc.attrib[name] = value
            for node in desc.findall(name):
                node.text = value
        for node in list(desc):
            if node.tag.startswith(f"{{{NS['dipstudio']}}}"):
                desc.remove(node)
        for name in [k for k in desc.attrib if k.startswith(f"{{{NS['dipstudio']}}}")]:
            del desc.attrib[name]
    ours = descriptions[0]
    if settings is not None:
        ET.SubElement(ours, _q("dipstudio", "settings")).text = json.dumps(settings)
        ET.SubElement(ours, _q("dipstudio", "software")).text = software
    _add_history(descriptions, software, settings)
    return _serialise(root)


def _add_history(descriptions, software: str, settings: dict[str, str] | None) -> None:
    """Append a 'saved' event to xmpMM:History (the sequence Photoshop and Lightroom keep)."""
    seq = None
    for desc in descriptions:
        history = desc.find(_q("xmpMM", "History"))
        if history is not None:
            seq = history.find(_q("rdf", "Seq"))
            if seq is None:
                seq = ET.SubElement(history, _q("rdf", "Seq"))
            break
    if seq is None:
        seq = ET.SubElement(ET.SubElement(descriptions[0], _q("xmpMM", "History")), _q("rdf", "Seq"))
    event = ET.SubElement(seq, _q("rdf", "li"), {_q("rdf", "parseType"): "Resource"})
    task = (settings or {}).get("dip:task") or (settings or {}).get("task")
    fields = [("action", "saved"), ("softwareAgent", software), ("changed", "/"),
              ("when", datetime.datetime.now().astimezone().isoformat(timespec="seconds"))]
    if task:
        fields.append(("parameters", f"restored ({task})"))
    for name, value in fields:
        ET.SubElement(event, _q("stEvt", name)).text = value


def settings_from_xmp(xmp: bytes | str | None) -> str | None:
    root = _parse(xmp) if xmp else None
    if root is None:
        return None
    node = root.find(f".//{_q('dipstudio', 'settings')}")
    return None if node is None else node.text


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def _parse(xmp: bytes | str) -> ET.Element | None:
    """Parse an XMP packet, registering its own prefixes so they are written back the same."""
    data = xmp.encode() if isinstance(xmp, str) else bytes(xmp)
    data = data.strip(b"\x00 \t\r\n")
    try:
        for _, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
            if prefix and not prefix.startswith("ns"):
                try:
                    ET.register_namespace(prefix, uri)
                except ValueError:
                    pass  # a reserved prefix; ElementTree picks another
        return ET.fromstring(data)
    except ET.ParseError:
        return None


def _serialise(root: ET.Element) -> bytes:
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    body = ET.tostring(root, encoding="unicode")
    return (_PACKET_START + body + _PACKET_END).encode("utf-8")


# JPEG holds at most 64 KB per segment: a longer packet goes into "extended XMP" segments (XMP
# specification part 3, 1.1.3.1), which exiftool and Adobe's readers merge back.
_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\0"
_EXT_APP1 = b"http://ns.adobe.com/xmp/extension/\0"
JPEG_XMP_MAX = 65502 - len(_XMP_APP1)
_EXT_CHUNK = 65000


def split_jpeg_xmp(xmp: bytes) -> tuple[bytes, list[bytes]]:
    """(main packet, extended APP1 segments) for a packet too long for one JPEG segment.
    The main packet keeps our recipe and points to the whole packet by its MD5 (the GUID)."""
    guid = hashlib.md5(xmp).hexdigest().upper()
    settings = settings_from_xmp(xmp)
    root = ET.Element(_q("x", "xmpmeta"))
    desc = ET.SubElement(ET.SubElement(root, _q("rdf", "RDF")), _q("rdf", "Description"),
                         {_q("rdf", "about"): "", _q("xmpNote", "HasExtendedXMP"): guid})
    if settings is not None:
        ET.SubElement(desc, _q("dipstudio", "settings")).text = settings
    segments = []
    for offset in range(0, len(xmp), _EXT_CHUNK):
        body = _EXT_APP1 + guid.encode() + struct.pack(">II", len(xmp), offset) + xmp[offset : offset + _EXT_CHUNK]
        segments.append(b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body)
    return _serialise(root), segments


def extended_xmp(applist: list) -> bytes | None:
    """The whole packet stored in a JPEG's extended XMP segments (Pillow's im.applist), if any."""
    parts, total = {}, None
    for marker, data in applist:
        if marker == "APP1" and data.startswith(_EXT_APP1):
            head = len(_EXT_APP1) + 32
            total, offset = struct.unpack_from(">II", data, head)
            parts[offset] = data[head + 8 :]
    if not parts:
        return None
    whole = b"".join(parts[k] for k in sorted(parts))
    return whole if len(whole) == total else None


# ---------------------------------------------------------------------------------- IPTC


def iptc_from_photoshop(resources: dict | None) -> bytes | None:
    """IPTC-IIM records from a JPEG's Photoshop APP13 resources (Pillow's info['photoshop'])."""
    data = (resources or {}).get(0x0404)
    return bytes(data) if data else None


def iptc_from_tiff(ifd, raw_tagdata: dict | None = None) -> bytes | None:
    """IPTC-IIM records of TIFF tag 33723 (often typed LONG by Photoshop: take the raw bytes)."""
    if raw_tagdata is not None and TIFF_IPTC in raw_tagdata:
        return bytes(raw_tagdata[TIFF_IPTC]) or None
    value = ifd.get(TIFF_IPTC) if ifd is not None else None
    if isinstance(value, bytes):
        return value or None
    return None


def photoshop_app13(iptc: bytes) -> bytes:
    """A JPEG APP13 segment holding `iptc` as Photoshop's IPTC resource (0x0404)."""
    body = iptc + (b"\0" if len(iptc) % 2 else b"")
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", len(iptc)) + body
    payload = b"Photoshop 3.0\0" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def insert_jpeg_segment(jpeg: bytes, segment: bytes) -> bytes:
    """`segment` inserted after the APPn segments that follow SOI (JPEG's own layout rules)."""
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF and 0xE0 <= jpeg[pos + 1] <= 0xEF:
        (length,) = struct.unpack_from(">H", jpeg, pos + 2)
        pos += 2 + length
    return jpeg[:pos] + segment + jpeg[pos:]


def png_raw_profile(iptc: bytes) -> bytes:
    """ImageMagick's 'Raw profile type iptc' text: name, length, then hex in lines of 72."""
    hexed = binascii.hexlify(iptc).decode("ascii")
    lines = "\n".join(hexed[i : i + 72] for i in range(0, len(hexed), 72))
    return f"\niptc\n{len(iptc):8d}\n{lines}\n".encode("latin-1")


def iptc_from_png_text(value: str | None) -> bytes | None:
    if not value:
        return None
    try:
        _, length, *lines = value.split()
        data = binascii.unhexlify("".join(lines))
        return data[: int(length)] or None
    except (ValueError, binascii.Error):
        return None


def png_ztxt(key: str, value: bytes) -> tuple[bytes, bytes]:
    """(chunk type, body) of a compressed text chunk."""
    return b"zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(value)
