"""Which files are read and written, by extension (lower case, with the dot)."""

from __future__ import annotations

# Camera RAW files developed with LibRaw (rawpy). LibRaw reads many more; these are the
# extensions the Open dialog offers and that are sent to LibRaw without asking Pillow first.
RAW_SUFFIXES = (
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
    ".rw2", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mef", ".mos", ".mrw",
    ".raw", ".rwl",
)
PICTURE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".heic", ".heif", ".hif", ".avif",
)
READ_SUFFIXES = PICTURE_SUFFIXES + RAW_SUFFIXES

# extension -> format written
SAVE_FORMATS = {
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".heic": "HEIF",
    ".heif": "HEIF",
    ".avif": "AVIF",
}
SAVE_SUFFIXES = tuple(SAVE_FORMATS)

# for messages: what a user may open, and what a result may be saved as
READABLE = "PNG, JPEG, TIFF, WebP, BMP, HEIC/HEIF, AVIF or camera RAW (DNG, CR2, CR3, NEF, ARW, RAF, ORF, ...)"
WRITABLE = ".png, .tif, .jpg, .webp, .heic or .avif"
