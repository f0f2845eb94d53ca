"""Metadata embedded in a file (EXIF, XMP, IPTC) or in its XMP sidecar, read with exiv2: the date taken with its
offset, camera, lens, GPS, software, resolution, title, caption, creator, rights, keywords, rating. Pure: no
Flask, no SQL. A file whose metadata cannot be read has none; it is never refused for that.

exiv2 was chosen over exiftool (bench/bench_metadata.py): ~0.5 ms a file in process against ~10 ms through a
long-running exiftool process (plus ~0.2 s to start one per worker), and no Debian package to install."""
import json
import math
import re
import struct

try:
    import exiv2
    exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)  # warnings about odd tags would flood the worker logs
except ImportError:  # pragma: no cover - depends on the platform
    exiv2 = None

# What is shown, in this order, with its label; keywords is a list, rating an int, the rest text.
FIELDS = {"taken_at": "Date taken", "camera": "Camera", "lens": "Lens", "software": "Scanner / software",
          "dpi": "Resolution (dpi)", "gps": "GPS", "title": "Title", "caption": "Caption", "creator": "Creator",
          "rights": "Rights", "keywords": "Keywords", "rating": "Rating"}
# Archival fields an empty value of which may be filled from the file: archival name -> embedded name.
FILLS = {"title": "title", "description": "caption", "creator": "creator", "rights": "rights",
         "subject": "keywords", "date": "taken_at"}
_EXIF_DATES = (("Exif.Photo.DateTimeOriginal", "Exif.Photo.OffsetTimeOriginal"),
               ("Exif.Photo.DateTimeDigitized", "Exif.Photo.OffsetTimeDigitized"),
               ("Exif.Image.DateTimeOriginal", None), ("Exif.Image.DateTime", "Exif.Photo.OffsetTime"))
_XMP_DATES = ("Xmp.photoshop.DateCreated", "Xmp.exif.DateTimeOriginal", "Xmp.xmp.CreateDate",
              "Xmp.exif.DateTimeDigitized")
_TEXT = {  # first found wins: XMP, then IPTC, then EXIF
    "title": ("Xmp.dc.title", "Iptc.Application2.ObjectName", "Exif.Image.XPTitle"),
    "caption": ("Xmp.dc.description", "Iptc.Application2.Caption", "Exif.Image.ImageDescription"),
    "creator": ("Xmp.dc.creator", "Iptc.Application2.Byline", "Exif.Image.Artist"),
    "rights": ("Xmp.dc.rights", "Iptc.Application2.Copyright", "Exif.Image.Copyright"),
    "lens": ("Exif.Photo.LensModel", "Xmp.exifEX.LensModel", "Xmp.aux.Lens"),
    "software": ("Exif.Image.Software", "Xmp.xmp.CreatorTool"),
}
_KEYWORDS = ("Xmp.dc.subject", "Iptc.Application2.Keywords", "Xmp.lr.hierarchicalSubject")
_WANTED = ({key for pair in _EXIF_DATES for key in pair if key} | set(_XMP_DATES) | set(_KEYWORDS)
           | {key for keys in _TEXT.values() for key in keys}
           | {"Exif.Image.Make", "Exif.Image.Model", "Xmp.tiff.Make", "Xmp.tiff.Model", "Exif.Image.XResolution",
              "Exif.Image.ResolutionUnit", "Xmp.tiff.XResolution", "Xmp.tiff.ResolutionUnit", "Xmp.xmp.Rating",
              "Exif.Image.Rating", "Iptc.Application2.DateCreated", "Iptc.Application2.TimeCreated",
              "Exif.GPSInfo.GPSLatitude", "Exif.GPSInfo.GPSLatitudeRef", "Exif.GPSInfo.GPSLongitude",
              "Exif.GPSInfo.GPSLongitudeRef", "Xmp.exif.GPSLatitude", "Xmp.exif.GPSLongitude"})


def read_tags(data):
    """{exiv2 key: text or list of texts} of the metadata fields we use, from a file's bytes; {} when exiv2
    cannot read them (an unknown container, damaged metadata)."""
    if exiv2 is None or not data:
        return {}
    try:
        image = exiv2.ImageFactory.open(bytes(data))
        image.readMetadata()
        return _tags_of(image)
    except Exception:  # noqa: BLE001 - exiv2 raises Exiv2Error and others on damaged data: no metadata then
        return {}


def read_blocks(exif=None, xmp=None):
    """read_tags of the EXIF and XMP blocks a decoder found (exiv2 misses some containers' boxes, such as the
    EXIF item of a HEIC edited by exiftool): they are read from a minimal JPEG wrapped around them."""
    segments = b""
    if exif:
        segments += _segment(0xE1, exif if exif.startswith(b"Exif\0\0") else b"Exif\0\0" + exif)
    if xmp:
        segments += _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + (xmp if isinstance(xmp, bytes) else
                                                                         xmp.encode()))
    return read_tags(b"\xff\xd8" + segments + b"\xff\xd9") if segments else {}


def _segment(marker, payload):
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload if len(payload) < 65534 \
        else b""


def _tags_of(image):
    tags = {}
    for datum in (*image.exifData(), *image.iptcData()):
        key = datum.key()
        if key in _WANTED:
            value = _text(datum)
            if key.startswith("Iptc.") and key in tags:  # IPTC repeats a dataset for each keyword
                tags[key] = (tags[key] if isinstance(tags[key], list) else [tags[key]]) + [value]
            else:
                tags[key] = value
    for datum in image.xmpData():
        if datum.key() in _WANTED:
            tags[datum.key()] = _xmp_value(datum)
    return tags


def _text(datum):
    if datum.key().startswith("Exif.Image.XP"):  # Windows' UCS-2 tags
        return bytes(int(b) for b in str(datum.value()).split()).decode("utf-16-le", "replace").rstrip("\0")
    return str(datum.value()).strip("\0 ")


def _xmp_value(datum):
    value, kind = datum.value(), datum.typeName()
    if kind == "LangAlt":
        langs = dict(value)
        return langs.get("x-default") or next(iter(langs.values()), "")
    if kind in ("XmpBag", "XmpSeq", "XmpAlt"):
        return [value.toString(i) for i in range(value.count())]
    return str(value)


def embedded_metadata(tags):
    """The FIELDS of a file from its read_tags (empty ones left out): what is shown and compared."""
    found = {
        **_taken_at(tags), "camera": camera(_first(tags, "Exif.Image.Make", "Xmp.tiff.Make"),
                                            _first(tags, "Exif.Image.Model", "Xmp.tiff.Model")),
        "dpi": _dpi(tags), "gps": _gps(tags), "keywords": _keywords(tags), "rating": _rating(tags),
        **{name: _joined(_first(tags, *keys)) for name, keys in _TEXT.items()},
    }
    return {name: value for name, value in found.items() if value not in (None, "", [])}


def file_metadata(data, exif_block=None, xmp_block=None):
    """embedded_metadata of a file's bytes; the EXIF and XMP blocks its decoder found are read instead when
    exiv2 finds neither in the container."""
    tags = read_tags(data)
    if not any(key.startswith(("Exif.", "Xmp.")) for key in tags) and (exif_block or xmp_block):
        tags = {**read_blocks(exif_block, xmp_block), **tags}
    return embedded_metadata(tags)


def sidecar_metadata(data):
    """embedded_metadata of an XMP sidecar's bytes; None when they are not XMP."""
    if exiv2 is None or not data or b"<x:xmpmeta" not in data[:4096] and b"<rdf:RDF" not in data[:4096]:
        return None
    try:
        image = exiv2.ImageFactory.open(bytes(data))
        image.readMetadata()
        if image.mimeType() != "application/rdf+xml":
            return None
        # exiv2 also converts a sidecar's XMP to EXIF, losing the date's offset: read the XMP itself
        return embedded_metadata({k: v for k, v in _tags_of(image).items() if k.startswith("Xmp.")})
    except Exception:  # noqa: BLE001 - a damaged sidecar is refused as not XMP
        return None


def archival_values(fields):
    """The archival fields (FILLS) the embedded fields can fill: keywords joined, the date taken's date part."""
    values = {}
    for archival, name in FILLS.items():
        value = fields.get(name)
        if name == "keywords":
            value = "; ".join(value or [])
        elif name == "taken_at" and value:
            value = value[:10]
        if value:
            values[archival] = str(value)
    return values


def fills(fields, current, filled):
    """{archival field: value} to set from embedded fields: fields that are empty, or still hold what an earlier
    fill put there (filled: {field: value}); what the archivist typed is never overwritten."""
    return {name: value for name, value in archival_values(fields).items()
            if not current.get(name) or filled.get(name) == current.get(name)}


def merged(file_fields, sidecar_fields):
    """A file's embedded fields with its XMP sidecar's on top (the sidecar is the newer word, as in Immich)."""
    return {**file_fields, **sidecar_fields}


def camera(make, model):
    """The camera as Immich shows it: the model, with the make in front only where the model lacks it
    ("Canon" + "Canon EOS R5" -> "Canon EOS R5", "PENTAX Corporation" + "PENTAX K10D" -> "PENTAX K10D")."""
    make, model = (_joined(make) or "").strip(), (_joined(model) or "").strip()
    if not model:
        return make or None
    brand = make.split()[0].lower() if make else ""
    return model if not brand or brand in model.lower() else f"{make} {model}"


def _first(tags, *keys):
    return next((tags[key] for key in keys if tags.get(key) not in (None, "", [])), None)


def _joined(value):
    return ", ".join(v for v in value if v) if isinstance(value, list) else value


_EXIF_DATE = re.compile(r"(\d{4})[:-](\d\d)[:-](\d\d)[ T](\d\d):(\d\d)(?::(\d\d))?")
_OFFSET = re.compile(r"([+-]\d\d):?(\d\d)$|Z$")


def _taken_at(tags):
    """{"taken_at": "YYYY-MM-DD HH:MM:SS[+HH:MM]", "taken_from": where} from EXIF, else XMP, else IPTC."""
    for date_key, offset_key in _EXIF_DATES:
        when = _exif_datetime(tags.get(date_key), tags.get(offset_key))
        if when:
            return {"taken_at": when, "taken_from": "EXIF"}
    for key in _XMP_DATES:
        when = _iso_datetime(_joined(tags.get(key)))
        if when:
            return {"taken_at": when, "taken_from": "XMP"}
    when = _iptc_datetime(tags.get("Iptc.Application2.DateCreated"), tags.get("Iptc.Application2.TimeCreated"))
    return {"taken_at": when, "taken_from": "IPTC"} if when else {}


def _exif_datetime(value, offset):
    match = _EXIF_DATE.match(value or "")
    if not match or match.group(1) == "0000":
        return None
    return _format(match) + (_offset(offset or "") or "")


def _iso_datetime(value):
    """An XMP date: full date-time with offset, or a date alone (YYYY, YYYY-MM or YYYY-MM-DD)."""
    value = (value or "").strip()
    match = _EXIF_DATE.match(value)
    if match:
        return _format(match) + (_offset(value[match.end():].split(".")[-1] if "." in value[match.end():]
                                         else value[match.end():]) or "")
    return value if re.fullmatch(r"\d{4}(-\d\d){0,2}", value) else None


def _iptc_datetime(date, time):
    date = _joined(date) or ""
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", date):
        return None
    match = re.match(r"(\d\d):(\d\d):(\d\d)(.*)", _joined(time) or "")
    return f"{date} {match.group(1)}:{match.group(2)}:{match.group(3)}{_offset(match.group(4)) or ''}" if match \
        else date


def _format(match):
    year, month, day, hour, minute, second = match.groups()
    return f"{year}-{month}-{day} {hour}:{minute}:{second or '00'}"


def _offset(text):
    match = _OFFSET.search(text.strip())
    if not match:
        return None
    return "+00:00" if match.group(0) == "Z" else f"{match.group(1)}:{match.group(2)}"


def _rational(text):
    """A number written "n" or "n/d"; ValueError unless finite ("inf", "1e400" and "nan" are not figures)."""
    numerator, _, denominator = str(text).partition("/")
    value = float(numerator) / float(denominator or 1)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def _dpi(tags):
    try:
        value = _rational(_first(tags, "Exif.Image.XResolution", "Xmp.tiff.XResolution"))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    unit = str(_first(tags, "Exif.Image.ResolutionUnit", "Xmp.tiff.ResolutionUnit") or "2")
    dpi = round(value * 2.54) if unit == "3" else round(value)
    return dpi if unit in ("2", "3") and 1 < dpi < 1_000_000 else None  # unit 1 means "no unit": no figure


def _gps(tags):
    """"lat, lon" in decimal degrees from EXIF (degrees minutes seconds and N/S/E/W) or XMP ("52,30.0N")."""
    try:
        lat = _exif_degrees(tags.get("Exif.GPSInfo.GPSLatitude"), tags.get("Exif.GPSInfo.GPSLatitudeRef"))
        lon = _exif_degrees(tags.get("Exif.GPSInfo.GPSLongitude"), tags.get("Exif.GPSInfo.GPSLongitudeRef"))
        if lat is None or lon is None:
            lat, lon = (_xmp_degrees(tags.get(key)) for key in ("Xmp.exif.GPSLatitude", "Xmp.exif.GPSLongitude"))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return f"{lat:.6f}, {lon:.6f}"


def _exif_degrees(value, ref):
    if not value or not ref:
        return None
    parts = [_rational(part) for part in str(value).split()]
    degrees = sum(part / 60 ** i for i, part in enumerate(parts[:3]))
    return -degrees if str(ref).upper()[:1] in ("S", "W") else degrees


def _xmp_degrees(value):
    match = re.fullmatch(r"(\d+),(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?([NSEW])", str(value or "").strip())
    if not match:
        return None
    degrees = float(match.group(1)) + float(match.group(2)) / 60 + float(match.group(3) or 0) / 3600
    return -degrees if match.group(4) in "SW" else degrees


def _keywords(tags):
    """Keywords of XMP dc:subject, IPTC and Lightroom's hierarchy (its leaves), each once, in order found."""
    found = []
    for key in _KEYWORDS:
        value = tags.get(key) or []
        for keyword in value if isinstance(value, list) else [value]:
            leaf = keyword.split("|")[-1].strip() if key == "Xmp.lr.hierarchicalSubject" else keyword.strip()
            if leaf and leaf.lower() not in {k.lower() for k in found}:
                found.append(leaf)
    return found


def _rating(tags):
    try:
        rating = int(_rational(_joined(_first(tags, "Xmp.xmp.Rating", "Exif.Image.Rating")) or ""))
    except (ValueError, ZeroDivisionError):
        return None
    return rating if 1 <= rating <= 5 else None  # 0 means unrated, -1 rejected: neither is a rating to show


def of_item(item):
    """(merged fields, sidecar fields) of an item row carrying files.embedded and items.sidecar as JSON."""
    own = json.loads(item.get("embedded") or "{}")
    sidecar = json.loads(item.get("sidecar") or "{}")
    return merged(own, sidecar), sidecar


def display(value):
    """One embedded value as text (keywords joined)."""
    if isinstance(value, list):
        return "; ".join(value)
    return str(value)


def rows(item):
    """[(label, text, from the sidecar?)] of an item's embedded fields in FIELDS order, for the item page."""
    fields, sidecar = of_item(item)
    return [(label, display(fields[name]) + (f" (from {fields['taken_from']})" if name == "taken_at" else ""),
             name in sidecar) for name, label in FIELDS.items() if name in fields]


def filled_fields(item):
    """{archival field: value} that was filled from the file's metadata and still holds that value."""
    filled = json.loads(item.get("filled") or "{}")
    return {name: value for name, value in filled.items() if item.get(name) == value}
