"""Online backup, restore and check of the database and the stored files. Plain functions; no Flask here.

A backup folder holds `zeuge.sqlite3` (a snapshot made with SQLite's backup API), `manifest.json` and
`storage/` in the live storage's layout (originals, thumbnails, previews). The snapshot is taken first, then
the files it names are copied: originals are immutable and named by their content hash, so the copy matches
the snapshot while the web process and the worker go on writing. Every file lands through a temp file that is
renamed into place, so an interrupted backup never leaves a short file that the next run would trust."""
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from zeuge_lite import __version__, ingest
from zeuge_lite import queries_backup as qb
from zeuge_lite.db import connect, migrate, sqlite, transaction
from zeuge_lite.schema import MIGRATIONS
from zeuge_lite.similarity.decode import ImageRejected
from zeuge_lite.storage import DERIVED_KINDS, Storage

FORMAT = 1
DB_NAME = "zeuge.sqlite3"
MANIFEST_NAME = "manifest.json"
STORAGE_NAME = "storage"
LOCK_NAME = ".backup.lock"
TEMP_SUFFIX = ".part"
STORED_KINDS = ("originals",) + DERIVED_KINDS
CHUNK = 1 << 20
SNAPSHOT_ATTEMPTS = 3
# Uploads write their files before their row commits: a younger unreferenced file may be an upload under way.
ORPHAN_GRACE_S = 3600
RESTORED_RUN_REASON = ("The backup was taken while this run was queued or running, and the job queue is not part "
                       "of a backup. Run the analysis again: photos analysed before the backup are kept.")


class BackupError(Exception):
    """A backup, restore or check that cannot go ahead; the message says why."""


class RestoreRefused(BackupError):
    """Restoring would overwrite data, or the backup is newer than this app."""


class Unusable(Exception):
    """A file that should be copied is missing or not a regular file."""


class Damaged(Unusable):
    """A file's content does not match the sha256 it is named by."""


@dataclass
class Copied:
    """One pass over files: how many were copied, already in place, or missing at the source."""
    copied: int = 0
    present: int = 0
    missing: int = 0
    bytes: int = 0


@dataclass
class BackupReport:
    """What a backup wrote; also the content of its manifest."""
    dest: Path
    created_at: str
    schema_version: int
    counts: dict
    originals: Copied
    derived: Copied
    problems: list
    snapshots: int = 1

    def manifest(self):
        """The manifest's JSON object."""
        return {"format": FORMAT, "created_at": self.created_at, "app_version": __version__,
                "schema_version": self.schema_version, "database": DB_NAME, "storage": STORAGE_NAME,
                "counts": self.counts, "originals": asdict(self.originals), "derived": asdict(self.derived),
                "problems": self.problems}


@dataclass
class RestoreReport:
    """What a restore put in place."""
    schema_version: int
    counts: dict
    originals: Copied
    derived: Copied
    problems: list
    failed_runs: int


@dataclass
class CheckReport:
    """What `zeuge check` found: problems only a person can mend, and those --fix can."""
    database: list = field(default_factory=list)
    missing_originals: list = field(default_factory=list)
    orphans: list = field(default_factory=list)
    temp_files: list = field(default_factory=list)
    missing_derived: list = field(default_factory=list)
    recent: list = field(default_factory=list)

    @property
    def fixable(self):
        """How many problems --fix can mend."""
        return len(self.orphans) + len(self.temp_files) + len(self.missing_derived)

    @property
    def problems(self):
        """How many problems there are in all."""
        return len(self.database) + len(self.missing_originals) + self.fixable


@dataclass
class FixReport:
    """What --fix did."""
    removed: list = field(default_factory=list)
    regenerated: int = 0
    failed: list = field(default_factory=list)


def _quiet(_stage, _done, _total):
    pass


# --- files ------------------------------------------------------------------------------------


def file_sha256(path):
    """Hex sha256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def copy_atomic(source, target, expect_sha256=None):
    """Copy through a synced temp file renamed into place, checking the content hash on the way if given."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
    try:
        digest, size = hashlib.sha256(), 0
        with open(source, "rb") as src, os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())  # else a crash soon after the rename can leave an empty file under the name
        if expect_sha256 and digest.hexdigest() != expect_sha256:
            raise Damaged(f"{source}: its content does not match its sha256")
        shutil.copystat(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size


def _is_regular(path):
    """True for a regular file (reading a FIFO or a device would hang or never end)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except FileNotFoundError:
        return False


def _same_file(source_stat, target):
    """A copy with the source's size and modification time is taken to be the same file."""
    try:
        kept = target.stat()
    except FileNotFoundError:
        return False
    return kept.st_size == source_stat.st_size and int(kept.st_mtime) == int(source_stat.st_mtime)


def _write_json_atomic(path, data):
    tmp = path.with_name(path.name + TEMP_SUFFIX)
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(folder):
    """Hold the folder's lock: one backup or restore at a time uses a backup folder."""
    if not os.access(folder, os.W_OK):  # a read-only backup medium: nobody can be writing to it either
        yield
        return
    with open(Path(folder) / LOCK_NAME, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"Another backup or restore is using {folder} right now.") from None
        yield


def remove_temp_files(folder):
    """Delete temp files an interrupted backup left in its own folder; return how many."""
    leftovers = list(Path(folder).rglob(f"*{TEMP_SUFFIX}"))
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def _read_only(path):
    """A read-only connection to a snapshot (it is never changed in the backup folder)."""
    import sqlite_vec
    conn = sqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    conn.row_factory = sqlite.Row
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    return contextlib.closing(conn)


# --- backup -----------------------------------------------------------------------------------


def backup(db_path, storage, dest, verify=False, progress=None):
    """Back up the live database and the files it names into dest, copying only what is new; return a report."""
    progress = progress or _quiet
    if not Path(db_path).is_file():
        raise BackupError(f"There is no database at {db_path}.")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with _locked(dest):
        remove_temp_files(dest)
        snapshot, target = dest / (DB_NAME + TEMP_SUFFIX), Storage(dest / STORAGE_NAME)
        for attempt in range(1, SNAPSHOT_ATTEMPTS + 1):
            progress("database", 0, 1)
            files = _snapshot(db_path, snapshot)
            originals, missing = _copy_originals(storage, target, files, verify, progress)
            if not missing or attempt == SNAPSHOT_ATTEMPTS or not _deleted_since(db_path, missing):
                break
        derived = _copy_derived(storage, target, files, progress)
        report = _finish(dest, snapshot, originals, derived, list(missing.values()), attempt)
    return report


def _snapshot(db_path, part):
    """Copy the live database into part with the backup API; return the stored files it names."""
    part.unlink(missing_ok=True)
    live, copy = connect(db_path), sqlite.connect(str(part))
    try:
        live.backup(copy)  # one step: a single read transaction, which WAL lets the writers pass
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        copy.close()
        live.close()
    with _read_only(part) as conn:
        problems = qb.integrity_problems(conn, quick=True)
        files = qb.stored_files(conn)
    if problems:
        part.unlink()
        raise BackupError("The live database fails SQLite's integrity check, so the previous backup was left as "
                          "it was. Run `flask --app app zeuge check`. " + "; ".join(problems[:5]))
    return files


def _copy_originals(storage, target, files, verify, progress):
    """Copy originals the backup lacks (checking their sha256); return (counts, {sha256: problem})."""
    counts, missing = Copied(), {}
    for n, row in enumerate(files):
        progress("originals", n, len(files))
        source = storage.original_path(row["sha256"], row["ext"])
        try:
            copied = _backup_original(source, target.original_path(row["sha256"], row["ext"]), row, verify)
        except (Unusable, FileNotFoundError) as exc:
            counts.missing += 1
            missing[row["sha256"]] = f"original {'damaged' if isinstance(exc, Damaged) else 'missing'}: {source}"
            continue
        counts.copied += copied is not None
        counts.present += copied is None
        counts.bytes += copied or 0
    return counts, missing


def _backup_original(source, kept, row, verify):
    """Bytes copied, or None when a sound copy is already there; raises Unusable for a bad live original."""
    if _is_regular(kept) and kept.stat().st_size == row["size"] and (
            not verify or file_sha256(kept) == row["sha256"]):
        return None
    if not _is_regular(source):
        raise Unusable(str(source))
    return copy_atomic(source, kept, row["sha256"])


def _deleted_since(db_path, missing):
    """True if some missing original's row is gone from the live database (deleted after the snapshot)."""
    conn = connect(db_path)
    try:
        return len(qb.still_stored(conn, missing)) < len(missing)
    finally:
        conn.close()


def _copy_derived(storage, target, files, progress):
    """Copy thumbnails and previews that are new or changed; missing ones are only counted (they can be remade)."""
    counts = Copied()
    for n, row in enumerate(files):
        progress("derived", n, len(files))
        for kind in DERIVED_KINDS:
            source = storage.derived_path(kind, row["sha256"])
            kept = target.derived_path(kind, row["sha256"])
            try:
                source_stat = source.stat()
                if _same_file(source_stat, kept):
                    counts.present += 1
                    continue
                if not stat.S_ISREG(source_stat.st_mode):
                    raise FileNotFoundError(source)
                counts.bytes += copy_atomic(source, kept)
                counts.copied += 1
            except FileNotFoundError:
                counts.missing += 1
    return counts


def _finish(dest, snapshot, originals, derived, problems, snapshots):
    """Put the snapshot in place, then the manifest: both describe files that are already there."""
    with _read_only(snapshot) as conn:
        counts, version = qb.table_counts(conn), qb.schema_version(conn)
    _fsync(snapshot)
    os.replace(snapshot, dest / DB_NAME)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    report = BackupReport(dest, created, version, counts, originals, derived, problems, snapshots)
    _write_json_atomic(dest / MANIFEST_NAME, report.manifest())
    return report


# --- restore ----------------------------------------------------------------------------------


def read_manifest(src):
    """The manifest of a backup folder; BackupError if src is not one."""
    src = Path(src)
    if not (src / MANIFEST_NAME).is_file() or not (src / DB_NAME).is_file():
        raise BackupError(f"{src} is not a Zeuge Lite backup (it needs {MANIFEST_NAME} and {DB_NAME}).")
    return json.loads((src / MANIFEST_NAME).read_text(encoding="utf-8"))


def database_holds_data(db_path):
    """True if db_path holds an archive's data (or is a file SQLite cannot read, to be safe)."""
    path = Path(db_path)
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        conn = connect(path)
    except sqlite.DatabaseError:
        return True
    try:
        return qb.holds_data(conn)
    except sqlite.DatabaseError:
        return True
    finally:
        conn.close()


def restore(src, db_path, storage, force=False, progress=None):
    """Restore a backup into db_path and storage: originals verified by sha256, then the migrated database."""
    progress, src = progress or _quiet, Path(src)
    manifest = read_manifest(src)
    if manifest.get("schema_version", 0) > len(MIGRATIONS):
        raise RestoreRefused(f"The backup has schema version {manifest['schema_version']}, newer than this app's "
                             f"{len(MIGRATIONS)}: install the newer Zeuge Lite first.")
    if not force and database_holds_data(db_path):
        raise RestoreRefused(f"{db_path} already holds data. Restoring replaces it: stop the app and run again "
                             "with --force if that is what you want.")
    with _locked(src):
        source = Storage(src / STORAGE_NAME)
        with _read_only(src / DB_NAME) as conn:
            files, counts = qb.stored_files(conn), qb.table_counts(conn)
        originals, problems = _restore_originals(source, storage, files, progress)
        derived = _copy_derived(source, storage, files, progress)
        progress("database", 0, 1)
        version, failed_runs = _install_database(src / DB_NAME, Path(db_path))
    return RestoreReport(version, counts, originals, derived, problems, failed_runs)


def _restore_originals(source, storage, files, progress):
    """Copy each original back after checking its sha256; return (counts, problems)."""
    counts, problems = Copied(), []
    for n, row in enumerate(files):
        progress("originals", n, len(files))
        kept = source.original_path(row["sha256"], row["ext"])
        live = storage.original_path(row["sha256"], row["ext"])
        if _is_regular(live) and file_sha256(live) == row["sha256"]:
            counts.present += 1
        elif not _is_regular(kept):
            counts.missing += 1
            problems.append(f"original missing from the backup: {kept}")
        else:
            try:
                counts.bytes += copy_atomic(kept, live, row["sha256"])
                counts.copied += 1
            except Damaged:
                counts.missing += 1
                problems.append(f"original damaged in the backup (its content does not match its sha256): {kept}")
    return counts, problems


def _install_database(snapshot, db_path):
    """Copy the snapshot beside db_path, migrate it, fail its orphaned runs, then move it into place."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    part = db_path.with_name(db_path.name + TEMP_SUFFIX)
    copy_atomic(snapshot, part)
    conn = connect(part)
    try:
        version = migrate(conn)
        with transaction(conn):
            failed_runs = qb.fail_active_runs(conn, RESTORED_RUN_REASON)
        conn.execute("PRAGMA journal_mode=DELETE")  # fold its log into the file before the file moves
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):  # an old database's log beside the new file would be replayed into it
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    os.replace(part, db_path)
    return version, failed_runs


# --- check ------------------------------------------------------------------------------------


def check(conn, storage, now=None, grace_s=ORPHAN_GRACE_S):
    """Check the database and the storage against each other; change nothing."""
    on_disk = _files_on_disk(storage)  # first: a file written later belongs to a row read below
    report = CheckReport(database=qb.integrity_problems(conn) + qb.foreign_key_problems(conn))
    expected = _check_rows(conn, storage, report)
    now = time.time() if now is None else now
    for path, mtime in on_disk:
        if path in expected:
            continue
        if now - mtime < grace_s:
            report.recent.append(path)
        elif path.name.endswith(TEMP_SUFFIX):
            report.temp_files.append(path)
        else:
            report.orphans.append(path)
    return report


def _check_rows(conn, storage, report):
    """Note missing originals and derived images in report; return every path the rows name."""
    expected, missing = set(), {}
    for row in qb.stored_files(conn):
        sha256, original = row["sha256"], storage.original_path(row["sha256"], row["ext"])
        derived = {kind: storage.derived_path(kind, sha256) for kind in DERIVED_KINDS}
        expected.update([original, *derived.values()])
        if not _is_regular(original):
            missing[sha256] = (original, "missing")
        elif original.stat().st_size != row["size"]:
            missing[sha256] = (original, "damaged (its size is not the size recorded at upload)")
        elif absent := [kind for kind, path in derived.items() if not _is_regular(path)]:
            report.missing_derived.append((sha256, row["ext"], absent))
    still = qb.still_stored(conn, missing) if missing else set()  # not deleted while we looked
    items = qb.items_with_content(conn, still) if still else []
    report.missing_originals = [{"path": path, "reason": reason,
                                 "items": [dict(i) for i in items if i["sha256"] == sha256]}
                                for sha256, (path, reason) in missing.items() if sha256 in still]
    return expected


def _files_on_disk(storage):
    """(path, modification time) of every file under the storage's originals, thumb and preview folders."""
    found = []
    for kind in STORED_KINDS:
        for folder, _dirs, names in os.walk(Path(storage.root) / kind):
            for name in names:
                path = Path(folder) / name
                with contextlib.suppress(FileNotFoundError):
                    found.append((path, path.lstat().st_mtime))
    return found


def fix(conn, storage, limits, report):
    """Remove orphans and leftover temp files, make missing derived images again; never touch data rows."""
    done = FixReport()
    claimed = qb.still_stored(conn, {_sha_of(p) for p in report.orphans})  # an upload may have reused one since
    for path in report.temp_files + [p for p in report.orphans if _sha_of(p) not in claimed]:
        path.unlink(missing_ok=True)
        done.removed.append(path)
    for sha256, ext, _kinds in report.missing_derived:
        try:
            ingest.regenerate_derived(storage, limits, sha256, ext)
            done.regenerated += 1
        except (ImageRejected, OSError) as exc:
            done.failed.append(f"{sha256}.{ext}: {exc}")
    return done


def _sha_of(path):
    return path.name.split(".", 1)[0]
