"""One item's features from one decode: size, eight dihedral pHashes, embeddings upright and canonically turned."""
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from zeuge_lite.similarity.decode import (
    decode_rgb,
    displayed_size,
    exif_orientation,
    frame_count,
    open_image,
    read_exif,
)
from zeuge_lite.similarity.hashing import dihedral_phashes, hash_input
from zeuge_lite.similarity.orientation import canonical_turns, text_lines_turn
from zeuge_lite.similarity.plain import is_plain
from zeuge_lite.similarity.verify import looks_like_paper

ANALYSIS_SIDE = 320  # enough for a 224-px model and a 32-px hash; JPEG draft decoding aims here


@dataclass
class Features:
    """What the similarity stages need of one image."""
    width: int
    height: int
    hashes: np.ndarray   # 8 uint64: upright, turns, mirrors
    vectors: np.ndarray  # 3 x dim float32, L2-normalised: upright, canonical turn, second canonical turn (_turns)
    thumbnail: bytes | None = None  # small JPEG from the same decode, when asked for
    page_hint: int = 0  # 1: may be a page of text (verify.looks_like_paper); see verification.first_pass_hint
    pages: int = 1  # pages or frames the file holds; the first is the one compared
    plain: bool = False  # a blank or plain page (similarity/plain.py): never joined by hash or embedding alone
    record: bytes | None = None  # its verification record, when the worker made it from the same file (pages)


def extract_features(source, embedder, max_pixels, thumbnail_side=None):
    """Decode once (reduced, upright, RGB), hash and embed it; raises ImageRejected for bad files."""
    image = open_image(source, max_pixels)
    width, height = displayed_size(image, exif_orientation(read_exif(image)))
    rgb = decode_rgb(image, ANALYSIS_SIDE)
    thumbnail = _jpeg_thumbnail(rgb, thumbnail_side) if thumbnail_side else None
    gray = hash_input(rgb)
    luma = np.asarray(rgb.convert("L"))  # once, for the paper and the text-line cues
    paper = looks_like_paper(luma)
    vectors = embedder.embed_views(rgb, _turns(luma, gray, paper))
    return Features(width, height, dihedral_phashes(rgb, gray), vectors, thumbnail, int(paper),
                    frame_count(image), is_plain(rgb))


def _turns(luma, gray, paper):
    """The quarter turns embedded (upright, canonical, second canonical): a page whose lines of text clearly run
    one way is embedded once, turned so that they run across (docs-dev: 1.31 model passes a file instead of 2.04,
    the same groups; a page upside down stays at cosine >= 0.76 of itself, against the 0.55 candidate floor)."""
    across = text_lines_turn(luma) if paper else None
    return (across,) * 3 if across is not None else (0, *canonical_turns(gray))


def _jpeg_thumbnail(rgb, side):
    scale = min(1.0, side / max(rgb.size))
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    small = rgb.resize(size, Image.Resampling.BOX) if size != rgb.size else rgb  # an area average: about 2x smaller
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()
