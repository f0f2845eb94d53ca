"""Make tests/corpus/: small real-world-like files, each written by its format's own encoder (Pillow, libavif,
libheif, libjxl) and its metadata by exiftool, as cameras, phones, scanners, Picasa and Lightroom leave it.

Run once by hand (needs exiftool: Debian's libimage-exiftool-perl); the tests only read the files it made, so
CI needs no exiftool. Pictures: the Kodak suite in zeuge_lite/demo_photos (released for unrestricted use)."""
import subprocess
import sys
from pathlib import Path

from PIL import Image
import pillow_heif
import pillow_jxl  # noqa: F401 - registers JPEG XL

pillow_heif.register_heif_opener()
ROOT = Path(__file__).resolve().parent.parent
PHOTOS, OUT = ROOT / "zeuge_lite" / "demo_photos", ROOT / "tests" / "corpus"
CANON = ["-EXIF:Make=Canon", "-EXIF:Model=Canon EOS R5", "-EXIF:DateTimeOriginal=2021:06:05 14:03:02",
         "-EXIF:OffsetTimeOriginal=+02:00", "-EXIF:LensModel=RF24-105mm F4 L IS USM",
         "-GPSLatitude=52.516", "-GPSLatitudeRef=N", "-GPSLongitude=13.377", "-GPSLongitudeRef=E",
         "-XMP-dc:Title=Harbour at noon", "-XMP-dc:Description=Boats in the harbour", "-XMP-dc:Creator=Ann Example",
         "-XMP-dc:Rights=CC BY 4.0 Ann Example", "-XMP-xmp:Rating=4", "-IPTC:Keywords=boats",
         "-IPTC:Keywords=harbour", "-XMP-dc:Subject=boats", "-XMP-dc:Subject=harbour"]


def photo(name, size=(240, 160)):
    """A small RGB copy of a demo photo."""
    image = Image.open(PHOTOS / name).convert("RGB")
    image.thumbnail(size)
    return image


def exiftool(path, *args):
    """Write tags with exiftool in place (-m: JPEG XL boxes are written as minor warnings)."""
    subprocess.run(["exiftool", "-q", "-q", "-m", "-overwrite_original", *args, str(path)], check=True)


def main():
    OUT.mkdir(exist_ok=True)
    photo("kodak-kodim05.png").save(OUT / "canon-r5.jpg", quality=85)
    exiftool(OUT / "canon-r5.jpg", *CANON)
    # Stored landscape, shown portrait: the sensor's 240 x 160 with "rotate 90 CW" (orientation 6).
    photo("kodak-kodim13.png").save(OUT / "pentax-rotated.jpg", quality=85)
    exiftool(OUT / "pentax-rotated.jpg", "-EXIF:Make=PENTAX Corporation", "-EXIF:Model=PENTAX K10D",
             "-EXIF:Orientation#=6", "-EXIF:DateTimeOriginal=2008:07:14 09:30:00")
    photo("kodak-kodim23.png").save(OUT / "xmp-date-only.jpg", quality=85)
    exiftool(OUT / "xmp-date-only.jpg", "-XMP-photoshop:DateCreated=1987:05:01 10:00:00-05:00",
             "-XMP-dc:Subject=parrots")
    photo("kodak-kodim15.png").save(OUT / "picasa-iptc.jpg", quality=85)
    exiftool(OUT / "picasa-iptc.jpg", "-IPTC:DateCreated=1999:12:31", "-IPTC:TimeCreated=23:59:00+01:00",
             "-IPTC:Keywords=family", "-IPTC:Keywords=New Year", "-IPTC:ObjectName=Party",
             "-IPTC:By-line=Picasa User", "-IPTC:CopyrightNotice=All rights reserved")
    photo("kodak-kodim22.png").save(OUT / "lightroom.jpg", quality=85)
    (OUT / "lightroom.xmp").unlink(missing_ok=True)
    subprocess.run(["exiftool", "-q", "-q", "-o", str(OUT / "lightroom.xmp"), "-XMP-dc:Title=Barn in winter",
                    "-XMP-photoshop:DateCreated=2015:01:20 08:15:00+01:00", "-XMP-lr:HierarchicalSubject=Places|Farm",
                    "-XMP-lr:HierarchicalSubject=Seasons|Winter", "-XMP-xmp:Rating=5", str(OUT / "lightroom.jpg")],
                   check=True)
    iphone = photo("kodak-kodim07.png")
    exif = Image.Exif()
    exif.update({0x010F: "Apple", 0x0110: "iPhone 12"})
    exif.get_ifd(0x8769).update({0x9003: "2022:03:04 18:20:00", 0x9011: "-05:00"})
    iphone.save(OUT / "iphone.heic", quality=60, exif=exif.tobytes())
    photo("kodak-kodim20.png").save(OUT / "photo.avif", quality=60)
    exiftool(OUT / "photo.avif", *CANON[:4])
    photo("kodak-kodim19.png", (160, 240)).save(OUT / "photo.jxl", quality=80)
    exiftool(OUT / "photo.jxl", "-EXIF:Make=FUJIFILM", "-EXIF:Model=X-T4", "-EXIF:DateTimeOriginal=2020:10:10 10:10:10")
    photo("kodak-kodim08.png").save(OUT / "photo.webp", quality=80)
    exiftool(OUT / "photo.webp", "-EXIF:Make=NIKON CORPORATION", "-EXIF:Model=NIKON D70",
             "-EXIF:DateTimeOriginal=2004:08:01 12:00:00")
    photo("kodak-kodim01.png").save(OUT / "scan-600dpi.tif", compression="tiff_lzw", dpi=(600, 600))
    exiftool(OUT / "scan-600dpi.tif", "-EXIF:Make=EPSON", "-EXIF:Model=Perfection V600", "-EXIF:Software=EPSON Scan",
             "-XMP-dc:Title=Letter, page 1")
    pages = [photo(n, (120, 80)) for n in ("kodak-kodim03.png", "kodak-kodim12.png", "kodak-kodim05.png")]
    pages[0].save(OUT / "album-3-pages.tif", save_all=True, append_images=pages[1:], compression="tiff_lzw")
    photo("kodak-kodim12.png").save(OUT / "png-exif.png", exif=_exif("SONY", "ILCE-7M3", "2019:05:05 05:05:05"))
    Image.new("RGB", (200, 280), (252, 251, 248)).save(OUT / "blank-verso.jpg", quality=90)
    Image.new("L", (120, 160), 0).save(OUT / "lens-cap.png")
    Image.new("RGB", (64, 64), (40, 120, 200)).save(OUT / "colour-target.png")
    photo("kodak-kodim03.png", (48, 32)).save(OUT / "drawing.bmp")
    data = (OUT / "canon-r5.jpg").read_bytes()
    (OUT / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (OUT / "notes.txt").write_text("Box 4: letters 1921-1923, album pages, blank versos.\n")


def _exif(make, model, taken):
    exif = Image.Exif()
    exif.update({0x010F: make, 0x0110: model})
    exif.get_ifd(0x8769).update({0x9003: taken})
    return exif.tobytes()


if __name__ == "__main__":
    sys.exit(main())
