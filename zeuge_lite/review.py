"""The review screen's work on a group: member details, keep-best, place together, not duplicates,
metadata consolidation. Plain functions on a connection; no Flask here."""
import io
import itertools
from dataclasses import dataclass

from PIL import Image

from zeuge_lite import analysis, catalogue, queries, trash
from zeuge_lite import queries_review as qr
from zeuge_lite.db import transaction
from zeuge_lite.metadata import embedded
from zeuge_lite.report import TIER_LABELS
from zeuge_lite.similarity import exact
from zeuge_lite.similarity.decode import decode_rgb, open_image
from zeuge_lite.similarity.grouping import RELATED_COSINE, Thresholds
from zeuge_lite.similarity.keeper import Candidate, sharpness, suggest_keeper

COMPARE_FIELDS = queries.ITEM_FIELDS + ("taken_at", "camera", "orientation", "width", "height", "format",
                                        "bit_depth", "dpi", "size")
EMBEDDED_PREFIX = "embedded:"  # compare rows of values read from the file, beside the archival ones
# Embedded values that "copy to keeper" can put into the keeper's archival field (caption -> description ...).
COPYABLE = queries.ITEM_FIELDS + tuple(EMBEDDED_PREFIX + name for name in embedded.FILLS.values())


def group_key(item_ids):
    """A stable name for a set of items (sorted ids joined by '-'), used in URLs and the audit log."""
    return "-".join(str(i) for i in sorted(set(item_ids)))


def parse_key(text):
    """Item ids from a group key or a comma list; ValueError for anything else."""
    ids = sorted({int(part) for part in text.replace(",", "-").split("-") if part.strip()})
    if not ids:
        raise ValueError("no items")
    return ids


def group_members(conn, batch_id, item_ids):
    """The batch's items among item_ids, in batch order, each with its 1-based position."""
    return queries.items_by_ids(conn, batch_id, set(item_ids))


def with_sharpness(storage, members):
    """Members with their sharpness: recorded at upload, or measured on the stored preview for older files."""
    for member in members:
        if member.get("sharpness") is not None:
            continue
        try:
            with Image.open(storage.derived_path("preview", member["sha256"])) as preview:
                member["sharpness"] = round(sharpness(preview), 1)
        except OSError:
            member["sharpness"] = None
    return members


def cards(conn, batch_id, found):
    """Group cards (group, tier label, members in batch order with positions, key) for [(Group, item ids)]."""
    wanted = {i for _group, ids in found for i in ids}
    items = {item["id"]: item for item in queries.items_by_ids(conn, batch_id, wanted)}
    built = []
    for group, ids in found:
        members = sorted((items[i] for i in ids if i in items), key=lambda item: item["position_number"])
        if len(members) > 1:
            built.append({"group": group, "tier_label": TIER_LABELS[group.tier], "members": members,
                          "key": group_key(m["id"] for m in members)})
    return built


def expanded_card(conn, storage, model, archive_id, members, thresholds):
    """What an expanded card shows: members with sharpness, the suggested keeper and why, score, tier, signal."""
    members = with_sharpness(storage, members)
    keep_id, reasons = keeper(members) if len(members) > 1 else (None, [])
    summary = analysis.describe_members(conn, model, [m["id"] for m in members], thresholds,
                                        qr.dismissed_pairs(conn, archive_id))
    return {"members": members, "key": group_key(m["id"] for m in members), "keep_id": keep_id,
            "reasons": reasons, "summary": summary, "tier_label": TIER_LABELS.get(summary.tier) if summary else None,
            "series": summary is not None and summary.tier == "similar"}  # similar is not a copy: nothing ticked


def side_by_side_pair(members, keep_id, ticked):
    """[(role, member)] for two panes: the two ticked members, else the keeper (or first) and the first other."""
    chosen = [m for m in members if m["id"] in ticked]
    if len(chosen) != 2:
        first = next((m for m in members if m["id"] == keep_id), members[0])
        chosen = [first, next(m for m in chosen + members if m is not first)]
    chosen.sort(key=lambda m: m["id"] != keep_id)  # the keeper on the left
    return [("suggested keeper" if m["id"] == keep_id else "candidate", m) for m in chosen]


def keeper(members):
    """(item id to keep, reasons) for a group's members."""
    return suggest_keeper([Candidate(m["id"], m["width"], m["height"], m["format"], m["bit_depth"],
                                     m.get("sharpness"), bool(m.get("plain"))) for m in members])


def together_order(order, members):
    """The batch order with members moved next to each other after the first of them.

    Members keep their capture-time order when every one has a date taken, else their current order."""
    index = {item_id: n for n, item_id in enumerate(order)}
    ids = [m["id"] for m in members]
    if all(m["taken_at"] for m in members):
        ids = [m["id"] for m in sorted(members, key=lambda m: (m["taken_at"], index[m["id"]]))]
    grouped = set(ids)
    first = min(index[i] for i in ids)
    rest = [i for i in order if i not in grouped]
    anchor = len([i for i in order[:first] if i not in grouped])
    return rest[:anchor] + ids + rest[anchor:]


def place_together(conn, batch, members, user_id):
    """Move a group's members next to each other in the batch order; log it; return their new positions."""
    with transaction(conn):
        order = queries.item_ids_in_order(conn, batch["id"])
        new_order = together_order(order, members)
        queries.set_order(conn, batch["id"], new_order)
        moved = [i for i, was in zip(new_order, order) if i != was]  # out of their old place
        _log(conn, batch, user_id, "place together", f"placed {_names(members)} next to each other", members,
             catalogue.order_undo(batch, order, moved))
    positions = [new_order.index(m["id"]) + 1 for m in members]
    return min(positions), max(positions)


def dismiss(conn, batch, members, user_id, member_id=None):
    """Mark a group (or one member against the rest) as not duplicates, by content hash; log it."""
    if member_id is None:
        pairs = itertools.combinations([m["sha256"] for m in members], 2)
        what = f"marked {_names(members)} as not duplicates of each other"
    else:
        one = next(m for m in members if m["id"] == member_id)
        pairs = [(one["sha256"], m["sha256"]) for m in members if m["id"] != member_id]
        what = f"marked “{one['filename']}” as not a duplicate of the rest of its group"
    pairs = [sorted(pair) for pair in pairs if pair[0] != pair[1]]
    with transaction(conn):
        new = [pair for pair in pairs if tuple(pair) not in qr.dismissed_pairs(conn, batch["archive_id"])]
        qr.dismiss_pairs(conn, batch["archive_id"], pairs, user_id)
        _log(conn, batch, user_id, "not duplicates", what, members, {"kind": "dismissal", "pairs": new})


def undo_dismissal(conn, batch, sha_a, sha_b, user_id):
    """Forget one "not duplicates" decision; log it by the files' names."""
    names = [queries.filename_of_content(conn, batch["id"], sha) or "a file no longer in this batch"
             for sha in (sha_a, sha_b)]
    with transaction(conn):
        qr.undo_dismissal(conn, batch["archive_id"], sha_a, sha_b)
        qr.log_action(conn, batch["archive_id"], batch["id"], user_id, "undo not duplicates",
                      f"undid “not duplicates” for “{names[0]}” and “{names[1]}”", [])


def not_a_duplicate_of(conn, batch, new, other, user_id):
    """Pre-accession check: a new item is not a duplicate of one the archive holds (remembered); log it."""
    with transaction(conn):
        qr.dismiss_pairs(conn, batch["archive_id"], [(new["sha256"], other["sha256"])], user_id)
        qr.log_action(conn, batch["archive_id"], batch["id"], user_id, "not duplicates",
                      f"pre-accession: “{new['filename']}” is not a duplicate of “{other['filename']}”",
                      [new["id"], other["id"]])


def delete_members(conn, storage, batch, members, user_id, group_members_all, days):
    """Move some members of a group to the trash (or delete them permanently when days is 0), logged against
    their group."""
    return trash.remove_items(conn, storage, batch["archive_id"], members, user_id, days, " from a group card",
                              group_key(m["id"] for m in group_members_all))


@dataclass
class Resolution:
    """How one group would be resolved: keep the suggested keeper, trash the other members."""
    group: object
    keep: dict
    doomed: list


def resolutions(conn, storage, batch_id, found, tiers):
    """The groups of these tiers among found [(Group, ids)] with their suggested keeper and the rest."""
    chosen = [(group, ids) for group, ids in found if group.tier in tiers]
    rows = {row["id"]: row for row in with_sharpness(storage, queries.items_by_ids(
        conn, batch_id, {i for _group, ids in chosen for i in ids}))}
    plans = []
    for group, ids in chosen:
        members = [rows[i] for i in ids if i in rows]
        if len(members) > 1:
            keep_id, _reasons = keeper(members)
            plans.append(Resolution(group, next(m for m in members if m["id"] == keep_id),
                                    [m for m in members if m["id"] != keep_id]))
    return plans


def overview(plans):
    """Per tier: groups, photos involved, photos that resolving would trash and the bytes it would free."""
    tiers = {}
    for plan in plans:
        row = tiers.setdefault(plan.group.tier, {"groups": 0, "photos": 0, "doomed": 0, "bytes": 0})
        row["groups"] += 1
        row["photos"] += 1 + len(plan.doomed)
        row["doomed"] += len(plan.doomed)
        row["bytes"] += sum(m["size"] or 0 for m in plan.doomed)
    return tiers


def resolve(conn, storage, batch, plans, user_id, days):
    """Trash every plan's doomed members in one transaction, one audit entry per group; return the count."""
    return trash.remove_groups(conn, storage, batch["archive_id"],
                               [(plan.doomed, group_key([plan.keep["id"]] + [m["id"] for m in plan.doomed]))
                                for plan in plans], user_id, days, " by “resolve all”, keeping the suggested keeper")


@dataclass
class Verdict:
    """What find-a-photo says first: whether the archive holds the photo, how alike its closest item is."""
    kind: str            # "exact", "near", "similar", "related" or "none"
    score: float | None  # similarity of the closest item (None: nothing analysed in scope)
    item: dict | None    # the closest item
    thumbnail: bytes     # the searched photo, small, as JPEG (shown beside; never stored)


def find_verdict(storage, data, max_pixels, found, thresholds=Thresholds()):
    """The verdict on an outside photo given its matches [(item row, similarity)], best first."""
    thumbnail, signature = _thumbnail_and_signature(data, max_pixels)
    if not found:
        return Verdict("none", None, None, thumbnail)
    row, score = found[0]
    if score >= thresholds.cosine_near:
        stored = exact.signature_of_file(storage.derived_path("thumb", row["sha256"]))
        kind = "exact" if exact.same_pixels(signature, stored) else "near"
    elif score >= thresholds.cosine_similar:
        kind = "similar"
    else:
        kind = "related" if score >= RELATED_COSINE else "none"
    return Verdict(kind, score, dict(row), thumbnail)


def _thumbnail_and_signature(data, max_pixels):
    """A 320-px JPEG of an image (through the guarded decode) and its exact-copy signature."""
    with open_image(data, max_pixels) as image:
        small = decode_rgb(image, 320, for_display=True)
    small.thumbnail((320, 320))
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=82)
    return buffer.getvalue(), exact.signature_of_file(buffer.getvalue())


def compare_rows(members):
    """Rows of the metadata compare table: field, values per member, whether they differ."""
    rows = []
    for field in COMPARE_FIELDS:
        values = [m[field] if m[field] not in (None, "") else "" for m in members]
        rows.append({"field": field, "cells": values, "differs": len({str(v) for v in values}) > 1})
    return rows + _embedded_rows(members)


def _embedded_rows(members):
    """Rows of the values read from the files (and sidecars), for the fields at least one member carries."""
    fields = [embedded.of_item(dict(m))[0] for m in members]
    rows = []
    for name, label in embedded.FIELDS.items():
        values = [embedded.display(f[name]) if name in f else "" for f in fields]
        if any(values):
            rows.append({"field": EMBEDDED_PREFIX + name, "label": f"{label} (in the file)", "cells": values,
                         "differs": len(set(values)) > 1})
    return rows


class NeedsChoice(Exception):
    """The target field already holds a value: replace it, append to it, or cancel."""

    def __init__(self, existing, value=""):
        super().__init__(existing)
        self.value = value  # what would be copied


def copy_field(conn, batch, members, field, source_id, target_id, user_id, mode=None):
    """Copy one archival field's value from one member to another (consolidation): into an empty field, or
    with mode "replace" or "append" over a value (NeedsChoice without a mode); log it with the value it
    overwrote, so the audit log can undo it. An embedded field ("embedded:caption") goes into the archival
    field it fills (description)."""
    if field not in COPYABLE:
        raise ValueError(f"{field} cannot be copied")
    source = next(m for m in members if m["id"] == source_id)
    target = next(m for m in members if m["id"] == target_id)
    field, new, origin = _copied(source, field)
    old = target[field] or ""
    if old and mode not in ("replace", "append"):
        raise NeedsChoice(old, new)
    value = f"{old}; {new}" if old and mode == "append" else new
    what = f"copied {field} “{new}”{origin} from “{source['filename']}” to “{target['filename']}”"
    what += {"replace": f", replacing “{old}”", "append": f", after “{old}”"}.get(mode if old else None, "")
    with transaction(conn):
        queries.update_item_fields(conn, target_id, {field: value})
        _log(conn, batch, user_id, "copy metadata", what, members,
             undo={"kind": "field", "item": target_id, "field": field, "value": old})


def _copied(source, field):
    """(archival field, value, where it came from) of a copy from source."""
    if not field.startswith(EMBEDDED_PREFIX):
        return field, source[field] or "", ""
    name = field[len(EMBEDDED_PREFIX):]
    archival = next(a for a, e in embedded.FILLS.items() if e == name)
    value = embedded.archival_values(embedded.of_item(dict(source))[0]).get(archival)
    if not value:
        raise ValueError(f"{name} is not in that file")
    return archival, value, " (read from the file)"


def _names(members):
    """“a.jpg”, “b.jpg” and “c.jpg”: the files an entry is about, by name."""
    quoted = [f"“{m['filename']}”" for m in members]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _log(conn, batch, user_id, action, detail, members, undo=None):
    ids = [m["id"] for m in members]
    qr.log_action(conn, batch["archive_id"], batch["id"], user_id, action, detail, ids, group_key(ids), undo)
