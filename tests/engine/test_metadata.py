"""XMP and IPTC of the source travel to every output format unchanged, except orientation,
pixel sizes and history; our recipe is an XMP entry of its own namespace. Checked with
independent readers: Pillow's IPTC parser and ElementTree always, exiftool when installed."""

import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image, IptcImagePlugin

from dip_engine.imageio import Photo, load_image, read_metadata, save_image
from dip_engine.imageio.metadata import fit_exif, updated_xmp

EXIFTOOL = shutil.which("exiftool")
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
XMP = "http://ns.adobe.com/xap/1.0/"
TIFF = "http://ns.adobe.com/tiff/1.0/"
EXIF = "http://ns.adobe.com/exif/1.0/"
MM = "http://ns.adobe.com/xap/1.0/mm/"
PS = "http://ns.adobe.com/photoshop/1.0/"

SOURCE_XMP = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">
 <rdf:RDF xmlns:rdf="{RDF}">
  <rdf:Description rdf:about="" xmlns:dc="{DC}" xmlns:xmp="{XMP}" xmlns:tiff="{TIFF}"
    xmlns:exif="{EXIF}" xmlns:xmpMM="{MM}" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmlns:photoshop="{PS}" xmp:Rating="4" tiff:Orientation="6" exif:PixelXDimension="48"
    exif:PixelYDimension="64" photoshop:Credit="Zoë Photographer">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour at dawn</rdf:li></rdf:Alt></dc:title>
   <dc:subject><rdf:Bag><rdf:li>harbour</rdf:li><rdf:li>boats</rdf:li></rdf:Bag></dc:subject>
   <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">© 2026 Zoë</rdf:li></rdf:Alt></dc:rights>
   <xmpMM:History><rdf:Seq><rdf:li stEvt:action="saved" stEvt:softwareAgent="Adobe Lightroom"/></rdf:Seq></xmpMM:History>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def iim(record: int, dataset: int, value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack(">BBBH", 0x1C, record, dataset, len(data)) + data


SOURCE_IPTC = (
    iim(1, 90, "\x1b%G")  # coded character set: UTF-8
    + iim(2, 120, "Boats in the harbour at dawn")
    + iim(2, 25, "harbour")
    + iim(2, 25, "boats")
    + iim(2, 116, "© 2026 Zoë")
)


def camera_exif(orientation: int, width: int, height: int) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2026:06:01 12:00:00"
    sub[0xA002], sub[0xA003] = width, height
    return exif.tobytes()


def app13(iptc: bytes) -> bytes:
    """Photoshop's APP13 segment, built here from the specification, not by the code under test."""
    body = iptc + b"\0" * (len(iptc) % 2)
    payload = b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0" + struct.pack(">I", len(iptc)) + body
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


@pytest.fixture
def source(tmp_path):
    """A 64x48 JPEG stored sideways (orientation 6) with EXIF, XMP and IPTC, as a camera plus
    an editor would leave it."""
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[..., 0] = np.linspace(0, 255, 64)[None, :].astype(np.uint8)
    stored[:10, :20] = 250
    path = tmp_path / "source.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=camera_exif(6, 64, 48), xmp=SOURCE_XMP)
    jpeg = path.read_bytes()
    path.write_bytes(jpeg[:2] + app13(SOURCE_IPTC) + jpeg[2:])
    return path


def xmp_tree(photo_or_bytes) -> ET.Element:
    data = photo_or_bytes if isinstance(photo_or_bytes, bytes) else photo_or_bytes.xmp
    return ET.fromstring(data.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0])


def prop(root, ns, name):
    """A property's value whether written as an attribute or as an element."""
    for desc in root.iter(f"{{{RDF}}}Description"):
        if f"{{{ns}}}{name}" in desc.attrib:
            return desc.attrib[f"{{{ns}}}{name}"]
        node = desc.find(f"{{{ns}}}{name}")
        if node is not None:
            return node.text
    return None


def test_source_metadata_is_read(source):
    photo = load_image(source)
    assert photo.data.shape == (64, 48, 3)  # upright
    assert photo.iptc == SOURCE_IPTC
    root = xmp_tree(photo)
    assert prop(root, XMP, "Rating") == "4" and prop(root, PS, "Credit") == "Zoë Photographer"


SETTINGS = {"dip:task": "sr", "dip:scale": "2", "dip:seed": "7"}


@pytest.mark.parametrize("ext", ["png", "tif", "jpg", "webp", "heic", "avif"])
def test_xmp_iptc_exif_survive_super_resolution(tmp_path, source, ext):
    photo = load_image(source)
    big = Photo.from_float(np.kron(photo.pixels, np.ones((2, 2, 1), np.float32)), like=photo)
    assert (big.width, big.height) == (96, 128)
    out = save_image(big, tmp_path / f"out.{ext}", metadata=SETTINGS)
    back = load_image(out)
    assert back.data.shape == (128, 96, 3)  # no second rotation
    root = xmp_tree(back)
    # unchanged
    assert root.find(f".//{{{DC}}}title//{{{RDF}}}li").text == "Harbour at dawn"
    assert [li.text for li in root.find(f".//{{{DC}}}subject").iter(f"{{{RDF}}}li")] == ["harbour", "boats"]
    assert prop(root, XMP, "Rating") == "4" and prop(root, PS, "Credit") == "Zoë Photographer"
    # changed: orientation, pixel size, history; our recipe added
    assert prop(root, TIFF, "Orientation") == "1"
    assert (prop(root, EXIF, "PixelXDimension"), prop(root, EXIF, "PixelYDimension")) == ("96", "128")
    events = root.find(f".//{{{MM}}}History/{{{RDF}}}Seq").findall(f"{{{RDF}}}li")
    assert len(events) == 2 and "DIP Studio" in ET.tostring(events[1], encoding="unicode")
    assert read_metadata(out) == SETTINGS
    # EXIF: sizes and orientation fixed, the rest kept
    exif = Image.open(out).getexif()
    assert exif[0x0112] == 1 and exif[0x010F] == "Canon"
    assert (exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003]) == (96, 128)
    assert exif.get_ifd(0x8769)[0x9003] == "2026:06:01 12:00:00"
    if ext in ("png", "tif", "jpg"):
        assert back.iptc == SOURCE_IPTC
    if ext in ("tif", "jpg"):  # Pillow's own IPTC parser reads what we wrote
        info = IptcImagePlugin.getiptcinfo(Image.open(out))
        assert info[(2, 120)] == b"Boats in the harbour at dawn"
        assert info[(2, 25)] == [b"harbour", b"boats"]


def test_recipe_alone_makes_a_packet_and_strip_removes_everything(tmp_path):
    plain = Photo(np.zeros((16, 16, 3), np.uint8))
    for ext in ("png", "jpg", "tif", "webp", "heic"):
        out = save_image(plain, tmp_path / f"a.{ext}", metadata={"seed": "1"})
        assert read_metadata(out) == {"seed": "1"}
        assert load_image(save_image(plain, tmp_path / f"b.{ext}")).xmp is None
    photo = Photo(np.zeros((16, 16, 3), np.uint8), xmp=SOURCE_XMP, iptc=SOURCE_IPTC)
    for ext in ("png", "jpg", "tif"):
        back = load_image(save_image(photo, tmp_path / f"s.{ext}", metadata={"a": "b"}, strip_metadata=True))
        assert back.xmp is None and back.iptc is None


def test_fit_exif_patches_in_place():
    exif = camera_exif(8, 64, 48)
    fixed = fit_exif(exif, 480, 640)
    assert len(fixed) == len(exif)
    parsed = Image.Exif()
    parsed.load(fixed)
    assert parsed[0x0112] == 1 and parsed.get_ifd(0x8769)[0xA002] == 480
    assert fit_exif(b"Exif\0\0garbage", 1, 1) == b"Exif\0\0garbage"


def test_unparsable_xmp_is_kept_as_it_was():
    assert updated_xmp(b"<not xml", 10, 10, None, "x") == b"<not xml"
    assert updated_xmp(None, 10, 10, None, "x") is None





@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (Debian: libimage-exiftool-perl)")
@pytest.mark.parametrize("ext", ["png", "tif", "jpg", "webp", "heic"])
def test_exiftool_reads_what_we_wrote(tmp_path, source, ext):
    photo = load_image(source)
    big = Photo.from_float(np.kron(photo.pixels, np.ones((2, 2, 1), np.float32)), like=photo)
    out = save_image(big, tmp_path / f"out.{ext}", metadata=SETTINGS)
    run = subprocess.run([EXIFTOOL, "-j", "-G1", "-n", "-struct", str(out)], capture_output=True,
                         text=True, check=True, timeout=60)
    (tags,) = json.loads(run.stdout)
    assert not tags.get("ExifTool:Warning"), tags.get("ExifTool:Warning")
    assert tags["XMP-dc:Title"] == "Harbour at dawn"
    assert tags["XMP-dc:Subject"] == ["harbour", "boats"]
    assert tags["XMP-xmp:Rating"] == 4
    assert tags["XMP-tiff:Orientation"] == 1
    assert (tags["XMP-exif:ExifImageWidth"], tags["XMP-exif:ExifImageHeight"]) == (96, 128)
    assert (tags["ExifIFD:ExifImageWidth"], tags["ExifIFD:ExifImageHeight"]) == (96, 128)
    assert tags["IFD0:Orientation"] == 1 and tags["IFD0:Make"] == "Canon"
    assert json.loads(tags["XMP-dipstudio:Settings"]) == SETTINGS
    if ext in ("png", "tif", "jpg"):
        assert tags["IPTC:Caption-Abstract"] == "Boats in the harbour at dawn"
        assert tags["IPTC:Keywords"] == ["harbour", "boats"]


def test_xmp_longer_than_a_jpeg_segment_goes_into_extended_xmp(tmp_path):
    long_text = "ripples " * 20000  # 160 KB: more than the 64 KB one JPEG segment holds
    xmp = SOURCE_XMP.replace(b"Harbour at dawn", long_text.encode())
    photo = Photo(np.zeros((16, 16, 3), np.uint8), xmp=xmp)
    out = save_image(photo, tmp_path / "long.jpg", metadata={"seed": "3"})
    assert read_metadata(out) == {"seed": "3"}  # the main packet keeps the recipe
    back = load_image(out)
    assert root_title(back) == long_text and prop(xmp_tree(back), XMP, "Rating") == "4"
    if EXIFTOOL:
        run = subprocess.run([EXIFTOOL, "-j", "-G1", str(out)], capture_output=True, text=True,
                             check=True, timeout=60)
        (tags,) = json.loads(run.stdout)
        assert tags["XMP-dc:Title"] == long_text and tags["XMP-xmp:Rating"] == 4


def root_title(photo) -> str:
    return xmp_tree(photo).find(f".//{{{DC}}}title//{{{RDF}}}li").text
