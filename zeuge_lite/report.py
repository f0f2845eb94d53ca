"""The one builder of duplicates.json, duplicates.csv and the self-contained duplicates.html, for `flask zeuge
scan` and the web export alike. Plain data in, text out; no Flask here."""
import base64
import csv
import html
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, UTC

TIER_LABELS = {"exact": "exact copy", "near": "near-duplicate", "similar": "similar"}

# A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def percent(score):
    """A similarity as the whole percent an archivist reads, rounded down: only an identical picture reads 100 %
    (a turned copy at 0.9996 reads 99 %), and a score at a threshold reads the threshold."""
    return max(0, min(100, math.floor(score * 100 + 1e-6)))


def csv_cell(value):
    """A value safe to open in a spreadsheet: text that would start a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_cells(values):
    """csv_cell over a row: a list, or a dict's values (for DictWriter)."""
    if isinstance(values, dict):
        return {name: csv_cell(value) for name, value in values.items()}
    return [csv_cell(value) for value in values]


@dataclass
class ReportItem:
    """One member of a group as a report shows it."""
    path: str
    width: int
    height: int
    uniqueness: float | None = None
    pages: int = 1
    thumbnail: bytes | None = None  # JPEG, for the HTML report
    item_id: int | None = None      # web exports: the item's id and batch position
    position: int | None = None
    keeper: bool = False            # the suggested keeper of its group (web exports)
    thumbnail_href: str | None = None  # a thumbnail file the report links, beside it (a report ZIP)


@dataclass
class ReportGroup:
    """A group: its tier (kind), score, the signal that joined it, and its members."""
    kind: str
    score: float
    signal: str
    items: list


class StreamedGroups:
    """A report's groups made while it is written: how many and how many photos they hold come first, from
    counts() -> (groups, photos); the ReportGroups themselves from make(), as they are written."""

    def __init__(self, counts, make):
        self._counts, self._make = counts, make

    def __len__(self):
        return self._counts()[0]

    @property
    def photos(self):
        """How many photos the groups hold."""
        return self._counts()[1]

    def __iter__(self):
        return iter(self._make())


@dataclass
class Report:
    """Everything a report says; keys of its JSON may be added, never changed (DESIGN §5)."""
    title: str
    model: str
    thresholds: object
    items: int
    groups: list | StreamedGroups
    errors: list = field(default_factory=list)   # {"path", "error"}
    skipped: list = field(default_factory=list)  # {"path", "reason"}
    plain: list = field(default_factory=list)    # paths of blank or plain pages
    made_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def to_json(report):
    """The public duplicates.json shape."""
    return dict(_json_head(report), groups=[_json_group(g) for g in report.groups])


def _json_head(report):
    return {"model": report.model, "threshold": report.thresholds.cosine_similar, "level": report.thresholds.level,
            "made_at": report.made_at, "items": report.items, "errors": report.errors,
            "skipped": sorted(report.skipped, key=lambda s: s["path"]), "plain": report.plain}


_GROUPS_MARK = "\0groups\0"  # stands for the groups in the dumped head; no path or name holds a NUL


def json_chunks(report, dumps=json.dumps):
    """to_json's document as dumps(document) writes it (dumps without indent), in chunks: the groups are dumped
    one at a time as report.groups yields them, so a large batch's report is never held whole."""
    head, tail = dumps(dict(_json_head(report), groups=_GROUPS_MARK)).split(dumps(_GROUPS_MARK))
    between = dumps([0, 0])[2:-2]  # the item separator dumps writes: "," or ", "
    yield head + "["
    yield from _joined((between if n else "") + dumps(_json_group(g)) for n, g in enumerate(report.groups))
    yield "]" + tail


def _json_group(group):
    return {"kind": group.kind, "score": group.score, "signal": group.signal,
            "items": [_json_item(i) for i in group.items]}


def _json_item(item):
    found = {"path": item.path, "width": item.width, "height": item.height, "uniqueness": item.uniqueness}
    if item.pages > 1:
        found["pages"] = item.pages  # a multi-page file: page 1 was compared
    if item.item_id is not None:
        found.update(item_id=item.item_id, position=item.position, suggested_keeper=item.keeper)
    return found


CHUNK_CHARS = 1 << 16  # a streamed report is written in pieces of about this size, not one per row


def _joined(texts):
    """texts gathered into chunks of about CHUNK_CHARS characters."""
    parts, size = [], 0
    for text in texts:
        parts.append(text)
        size += len(text)
        if size >= CHUNK_CHARS:
            yield "".join(parts)
            parts, size = [], 0
    if parts:
        yield "".join(parts)


def to_csv(report):
    """One row per group member: group, item id, path, score, tier, suggested keeper (formula cells made safe)."""
    return "".join(csv_chunks(report))


def csv_chunks(report):
    """to_csv's text in chunks, a group's rows at a time as report.groups yields them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["group", "item_id", "path", "score", "tier", "suggested_keeper"])
    yield drain(buffer)
    yield from _joined(_csv_rows(writer, buffer, report.groups))


def _csv_rows(writer, buffer, groups):
    for number, group in enumerate(groups, start=1):
        for item in group.items:
            writer.writerow(csv_cells([number, item.item_id if item.item_id is not None else "", item.path,
                                       group.score, group.kind, "yes" if item.keeper else ""]))
        yield drain(buffer)


def drain(buffer):
    """What was written to a StringIO since the last drain (a CSV writer's rows, streamed)."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


MAX_THUMBNAILS = 1000  # inline thumbnails (~10 KB each) in one HTML report; later groups list names only


def to_html(report):
    """A one-file report (inline styles and thumbnails): when, with which settings, every group with its
    suggested keeper, then the files not analysed. Thumbnails stop after MAX_THUMBNAILS, so a report of a
    huge batch stays a file a browser opens (about 10 MB), and says so."""
    return "".join(html_chunks(report))


def html_chunks(report, linked=False):
    """to_html's page in chunks: the head before the groups are counted, then the cards as report.groups
    yields them, then the files not analysed. linked: every photo shows its thumbnail_href (files beside the
    page, loaded as they are scrolled to) instead of the first MAX_THUMBNAILS inline."""
    yield _HEAD.format(title=html.escape(report.title))
    t = report.thresholds
    settings = (f"model {html.escape(report.model)}; groups at the “{html.escape(t.level)}” level, visual "
                f"similarity ≥ {round(t.cosine_similar * 100)} %, near-duplicate hash ≤ {t.hash_near} bits")
    if not linked and _photos(report.groups) > MAX_THUMBNAILS:
        settings += (f". Thumbnails are shown for the first {MAX_THUMBNAILS:,} photos; later groups list names "
                     f"(duplicates.csv has every one)")
    yield _INTRO.format(made_at=report.made_at, settings=settings, items=report.items, groups=len(report.groups))
    budget, wrote = [MAX_THUMBNAILS], False
    for chunk in _joined(("\n" if n > 1 else "") + _group_html(n, g, budget)
                         for n, g in enumerate(report.groups, start=1)):
        wrote = True
        yield chunk
    yield ("" if wrote else "<p>No duplicates or similar photos found.</p>") + _rest_html(report) + _END


def _photos(groups):
    """How many photos the groups hold, counted before they are made if they are StreamedGroups."""
    return groups.photos if isinstance(groups, StreamedGroups) else sum(len(g.items) for g in groups)


def _group_html(number, group, budget):
    figures = "".join(_figure_html(item, budget) for item in group.items)
    return (f'<section class="group"><h2>Group {number}: {len(group.items)} photos · {percent(group.score)}% '
            f'alike · <span class="tier {group.kind}">{TIER_LABELS.get(group.kind, group.kind)}</span> '
            f'<small>({html.escape(group.signal)})</small></h2><div class="row">{figures}</div></section>')


def _figure_html(item, budget):
    image = ""
    if item.thumbnail_href:
        image = f'<img alt="" loading="lazy" src="{html.escape(item.thumbnail_href)}">'
    elif item.thumbnail and budget[0] > 0:
        budget[0] -= 1
        image = f'<img alt="" src="data:image/jpeg;base64,{base64.b64encode(item.thumbnail).decode()}">'
    where = f", position {item.position}" if item.position else ""
    keeper = '<br><strong class="keep">suggested keeper</strong>' if item.keeper else ""
    return (f"<figure>{image}<figcaption>{html.escape(item.path)}<br>{item.width}×{item.height}{where}{keeper}"
            f"</figcaption></figure>")


def _rest_html(report):
    parts = []
    if report.errors:
        parts.append("<h2>Files that could not be read</h2><ul>" + "".join(
            f"<li><code>{html.escape(e['path'])}</code>: {html.escape(e['error'])}</li>" for e in report.errors)
            + "</ul>")
    others = [s for s in report.skipped if not s["reason"].startswith("unreadable: ")]
    if others:
        parts.append("<h2>Files not analysed</h2><ul>" + "".join(
            f"<li><code>{html.escape(s['path'])}</code>: {html.escape(s['reason'])}</li>" for s in others) + "</ul>")
    if report.plain:
        parts.append(f"<h2>{len(report.plain)} blank or plain pages (not grouped by likeness)</h2><ul>"
                     + "".join(f"<li><code>{html.escape(p)}</code></li>" for p in report.plain) + "</ul>")
    return "".join(parts)


_HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1d2327}} .group{{border:1px solid #d9dee2;
border-radius:8px;padding:.5rem 1rem;margin:1rem 0}} .row{{display:flex;flex-wrap:wrap;gap:.75rem}}
figure{{margin:0;width:170px;font-size:.8rem;word-break:break-all}} img{{max-width:160px;max-height:160px}}
.tier{{padding:0 .4rem;border-radius:4px;background:#e8edf1}} .exact{{background:#fbe0dc}} .near{{background:#fff0c9}}
.keep{{color:#1d6b2f}} h2{{font-size:1.05rem}}</style></head><body><h1>{title}</h1>
"""
_INTRO = "<p>Made {made_at}; {settings}. {items} photos analysed; {groups} groups.</p>"
_END = "</body></html>"
