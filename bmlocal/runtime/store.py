"""SQLite persistence: the only module that speaks SQL. Short transactions, parameters only."""
import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from bmlocal.errors import ApiError
from bmlocal.runtime.jobcache import JobCache
from bmlocal.runtime.spec import JobSpec
from bmlocal.runtime.status import JobPhase, Status, can_be_in, can_move

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    pool TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    create_time REAL NOT NULL,
    start_time REAL,
    end_time REAL,
    phase TEXT NOT NULL DEFAULT 'queued',
    end_status TEXT,
    stop_reason TEXT,
    grant TEXT,
    output_note TEXT,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_live_name ON jobs(project, name) WHERE deleted = 0;
CREATE INDEX IF NOT EXISTS jobs_by_project ON jobs(project, deleted, id);
-- SQLite uses a partial index only where a query repeats its WHERE terms: one on
-- status IN ('PENDING', 'RUNNING') served no query, and every pass scanned the table.
DROP INDEX IF EXISTS jobs_active;
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, phase, pool, id);
CREATE INDEX IF NOT EXISTS jobs_undelivered ON jobs(deleted) WHERE output_note IS NOT NULL;
CREATE TABLE IF NOT EXISTS nodes (
    job_id INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    handle TEXT NOT NULL,
    exit_code INTEGER,
    PRIMARY KEY (job_id, rank)
);
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY,
    ak TEXT NOT NULL,
    expires REAL NOT NULL
);
"""

SCHEMA_VERSION = 1


class StoreError(RuntimeError):
    """A database this version of bmlocal cannot use."""


COLUMNS = ("id, project, name, spec, status, status_reason, create_time, start_time, "
           "end_time, phase, end_status, stop_reason, grant, output_note")

# A page of `list` is read as one row: the sqlite3 module lets go of the GIL at each row it
# steps to, and while jobs start each release waits to take it back (list's p99 under churn
# was 2-3 ms over detail's). SQLite's JSON writes a REAL with 15 digits; printf's '%!.17g'
# gives back every bit of a time (tests/unit/test_store_page.py; SQLite 3.40's can miss the
# last bit only above 1e100). The array's order is not promised: `page` sorts it.
TIMES = ("create_time", "start_time", "end_time")
NAMES = COLUMNS.split(", ")
EXACT_COLUMNS = ", ".join(f"iif({c} IS NULL, NULL, printf('%!.17g', {c}))" if c in TIMES
                          else c for c in NAMES)
PAGE = ("SELECT (SELECT COUNT(*) FROM jobs WHERE project=?1 AND deleted=0), "
        f"(SELECT json_group_array(json_array({EXACT_COLUMNS})) FROM (SELECT {COLUMNS} "
        "FROM jobs WHERE project=?1 AND deleted=0 ORDER BY id DESC LIMIT ?2 OFFSET ?3))")
TIME_INDEXES = [NAMES.index(c) for c in TIMES]
# A PENDING job in these phases is under way: its start began, or a cluster queues it.
STARTED = (JobPhase.STARTING, JobPhase.SUBMITTED)
UNDER_WAY = ("status='RUNNING' OR (status='PENDING' AND phase IN "
             f"({', '.join(repr(p.value) for p in STARTED)}))")


def _page_row(values: list[Any]) -> tuple:
    for i in TIME_INDEXES:
        if values[i] is not None:
            values[i] = float(values[i])
    return tuple(values)


@dataclass(frozen=True)  # shared between threads by the store's cache
class Job:
    id: int
    project: str
    name: str
    spec: JobSpec
    status: Status
    status_reason: str
    create_time: float
    start_time: float | None
    end_time: float | None
    phase: JobPhase
    end_status: Status | None  # set once the runtime began ending the job: where it ends
    stop_reason: str | None
    grant: dict[str, Any] = field(default_factory=dict)
    output_note: str | None = None

    @property
    def under_way(self) -> bool:
        """Whether `Store.running` reads it: RUNNING, or PENDING with its start begun or in
        a cluster's queue."""
        return self.status == Status.RUNNING or (
            self.status == Status.PENDING and self.phase in STARTED)


def _job(row: tuple) -> Job:
    (id_, project, name, spec, status, reason, created, started, ended, phase, end_status,
     stop, grant, note) = row
    return Job(id_, project, name, JobSpec.from_json(spec), Status(status), reason, created,
               started, ended, JobPhase(phase), Status(end_status) if end_status else None, stop,
               (json.loads(grant) if grant else None) or {}, note)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._cache = JobCache()
        db = self._db()
        (version,) = db.execute("PRAGMA user_version").fetchone()
        tables = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type='table'").fetchone()
        if version != SCHEMA_VERSION and (version != 0 or tables[0]):
            raise StoreError(f"{path} holds schema version {version}; this bmlocal uses "
                             f"{SCHEMA_VERSION}: start it with another --data-dir")
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def _changing(self, job_id: int | None) -> Iterator[sqlite3.Connection]:
        """A transaction that writes job `job_id` (every job: None); the cache forgets it
        once the transaction committed."""
        with self._tx() as db:
            yield db
        self._cache.forget(job_id)

    # --- jobs -------------------------------------------------------------------------

    def create(self, spec: JobSpec, now: float, max_jobs: int | None,
               last_check: Callable[[], None] = lambda: None) -> int:
        """Insert a PENDING job; 406026 for a live name, 406035 past the project's quota,
        then whatever `last_check` raises, all in one transaction."""
        with self._tx() as db:
            taken = db.execute("SELECT 1 FROM jobs WHERE project=? AND name=? AND deleted=0",
                               (spec.project, spec.name)).fetchone()
            if taken:
                raise ApiError(406026)
            if max_jobs is not None:
                (count,) = db.execute("SELECT COUNT(*) FROM jobs WHERE project=? AND deleted=0",
                                      (spec.project,)).fetchone()
                if count >= max_jobs:
                    raise ApiError(406035)
            last_check()
            try:
                cursor = db.execute(
                    "INSERT INTO jobs (project, name, pool, spec, status, create_time) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (spec.project, spec.name, spec.pool_key, spec.to_json(),
                     Status.PENDING.value, now))
            except sqlite3.IntegrityError:
                raise ApiError(406026) from None
            return int(cursor.lastrowid)

    def get(self, job_id: int, project: str | None = None) -> Job | None:
        job = self._cache.get(job_id)
        if job is None:
            mark = self._cache.mark()
            row = self._db().execute(f"SELECT {COLUMNS} FROM jobs WHERE id=? AND deleted=0",
                                     (job_id,)).fetchone()
            if row is None:
                return None
            job = _job(row)
            self._cache.keep(job, mark)
        return job if project is None or job.project == project else None

    def page(self, project: str, start: int, num: int) -> tuple[int, list[Job]]:
        total, page = self._db().execute(PAGE, (project, num, start)).fetchone()
        jobs = [_job(_page_row(values)) for values in json.loads(page)]
        return total, sorted(jobs, key=lambda job: job.id, reverse=True)

    def running(self) -> list[Job]:
        """RUNNING jobs and PENDING ones whose start began (or that wait in a cluster's
        queue), oldest first."""
        rows = self._db().execute(f"SELECT {COLUMNS} FROM jobs WHERE {UNDER_WAY} "
                                  "ORDER BY id").fetchall()
        return [_job(r) for r in rows]

    def undelivered(self, deleted: bool = False) -> list[Job]:
        """Ended jobs (deleted ones, or the others) whose outputs did not all reach their
        store."""
        rows = self._db().execute(f"SELECT {COLUMNS} FROM jobs WHERE deleted=? AND "
                                  "output_note IS NOT NULL AND status IN "
                                  "('SUCCESSED', 'FAILED', 'STOPPED')", (int(deleted),)
                                  ).fetchall()
        return [_job(r) for r in rows]

    def queued(self, limit: int) -> list[Job]:
        """The oldest `limit` waiting jobs of each pool, in submission order."""
        return sorted((_job(r) for r in self._queued(COLUMNS, limit)), key=lambda job: job.id)

    def queued_specs(self, limit: int) -> list[tuple[int, JobSpec]]:
        """The same jobs' ids and specs only: what admission needs, read at every pass."""
        return sorted(((id_, JobSpec.from_json(spec))
                       for id_, spec in self._queued("id, spec", limit)), key=lambda r: r[0])

    def _queued(self, columns: str, limit: int) -> list[tuple]:
        db = self._db()
        pools = [p for (p,) in db.execute("SELECT DISTINCT pool FROM jobs WHERE "
                                          "status='PENDING' AND phase='queued'")]
        rows = []
        for pool in pools:
            rows += db.execute(f"SELECT {columns} FROM jobs WHERE status='PENDING' AND "
                               "phase='queued' AND pool=? ORDER BY id LIMIT ?",
                               (pool, limit)).fetchall()
        return rows

    def move(self, job_id: int, old: Status, new: Status, when_phase: JobPhase | None = None,
             **values: Any) -> bool:
        """Move a job from `old` (and `when_phase`, if given) to `new`; False if another
        actor won."""
        if not can_move(old, new):
            raise ValueError(f"{old.value} -> {new.value} is not an allowed transition")
        sets, args = self._assignments({"status": new.value, **values}, new)
        sql = f"UPDATE jobs SET {sets} WHERE id=? AND status=?"
        args += [job_id, old.value]
        if when_phase is not None:
            sql += " AND phase=?"
            args.append(when_phase)
        with self._changing(job_id) as db:
            return db.execute(sql, args).rowcount == 1

    def update(self, job_id: int, status: Status, **values: Any) -> bool:
        """Set fields of a job that is still in `status`."""
        sets, args = self._assignments(values, status)
        with self._changing(job_id) as db:
            cursor = db.execute(f"UPDATE jobs SET {sets} WHERE id=? AND status=?",
                                (*args, job_id, status.value))
        return cursor.rowcount == 1

    def request_end(self, job_id: int, status: Status, end_status: Status, reason: str) -> bool:
        """Record that a job in `status` is being ended, and how; False if it already was."""
        with self._changing(job_id) as db:
            cursor = db.execute("UPDATE jobs SET end_status=?, stop_reason=? WHERE id=? AND "
                                "status=? AND end_status IS NULL",
                                (end_status.value, reason, job_id, status.value))
        return cursor.rowcount == 1

    def delete(self, job_id: int) -> bool:
        """Soft-delete an ended job; False if it is not ended (or already gone)."""
        with self._changing(job_id) as db:
            cursor = db.execute("UPDATE jobs SET deleted=1 WHERE id=? AND deleted=0 AND status "
                                "IN ('SUCCESSED', 'FAILED', 'STOPPED')", (job_id,))
        return cursor.rowcount == 1

    # --- read-only views for the dashboard and metrics (bmlocal/runtime/views.py) --------

    def search(self, projects: list[str] | None, status: str | None, text: str | None,
               start: int, num: int) -> tuple[int, list[Job]]:
        """Live jobs of `projects` (None: all), newest first, by status and a name part."""
        where, args = ["deleted=0"], []
        if projects is not None:
            where.append(f"project IN ({', '.join('?' * len(projects))})")
            args += projects
        if status:
            where.append("status=?")
            args.append(status)
        if text:
            where.append("instr(lower(name), lower(?)) > 0")
            args.append(text)
        sql = " AND ".join(where)
        db = self._db()
        (total,) = db.execute(f"SELECT COUNT(*) FROM jobs WHERE {sql}", args).fetchone()
        rows = db.execute(f"SELECT {COLUMNS} FROM jobs WHERE {sql} ORDER BY id DESC "
                          "LIMIT ? OFFSET ?", (*args, num, start)).fetchall()
        return total, [_job(r) for r in rows]

    def projects(self) -> list[str]:
        return [p for (p,) in self._db().execute(
            "SELECT DISTINCT project FROM jobs WHERE deleted=0 ORDER BY project")]

    def status_counts(self) -> list[tuple[str, str, int]]:
        """(project, status, live jobs) for every pair that has any."""
        return self._db().execute("SELECT project, status, COUNT(*) FROM jobs WHERE "
                                  "deleted=0 GROUP BY project, status").fetchall()

    def queue_summary(self) -> list[tuple[str, int, float]]:
        """(pool, waiting jobs, create time of the oldest) for each pool with a queue."""
        return self._db().execute("SELECT pool, COUNT(*), MIN(create_time) FROM jobs WHERE "
                                  "status='PENDING' AND phase='queued' GROUP BY pool"
                                  ).fetchall()

    def run_times(self) -> list[tuple[str, float]]:
        """(final status, seconds run) of every job that ran and ended, deleted ones too:
        the run time histogram only grows."""
        return self._db().execute(
            "SELECT status, end_time - start_time FROM jobs WHERE start_time IS NOT NULL "
            "AND end_time IS NOT NULL AND status IN ('SUCCESSED', 'FAILED', 'STOPPED')"
        ).fetchall()

    ALLOWED_FIELDS = frozenset({"status", "status_reason", "start_time", "end_time", "phase",
                                "end_status", "stop_reason", "grant", "output_note"})

    def _assignments(self, values: dict[str, Any], status: Status) -> tuple[str, list[Any]]:
        unknown = set(values) - self.ALLOWED_FIELDS
        if unknown:
            raise ValueError(f"unknown job fields {sorted(unknown)}")
        if "phase" in values and not can_be_in(status, JobPhase(values["phase"])):
            raise ValueError(f"a {status.value} job cannot be in phase {values['phase']}")
        # a grant taken back (None) is stored as NULL, read back as no grant ({})
        args = [json.dumps(v) if k == "grant" and v is not None
                else v.value if isinstance(v, Status) else v for k, v in values.items()]
        return ", ".join(f"{k}=?" for k in values), args

    # --- nodes ------------------------------------------------------------------------

    def save_node(self, job_id: int, rank: int, handle: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO nodes (job_id, rank, handle) VALUES (?, ?, ?)",
                       (job_id, rank, json.dumps(handle)))

    def nodes(self, job_id: int) -> list[tuple[int, dict[str, Any], int | None]]:
        rows = self._db().execute("SELECT rank, handle, exit_code FROM nodes WHERE job_id=? "
                                  "ORDER BY rank", (job_id,)).fetchall()
        return [(rank, json.loads(handle), code) for rank, handle, code in rows]

    def set_exit(self, job_id: int, rank: int, code: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE nodes SET exit_code=? WHERE job_id=? AND rank=?",
                       (code, job_id, rank))

    def forget_nodes(self, job_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM nodes WHERE job_id=?", (job_id,))

    def remove_all_jobs(self) -> tuple[list[int], list[dict[str, Any]]]:
        """Empty the jobs and their nodes in one transaction (bmlocal's admin reset): the
        ids removed and the handles of nodes not seen to end. Ids are not reused after it
        (AUTOINCREMENT), so an old id never names a new job; tokens are kept."""
        with self._changing(None) as db:
            ids = [i for (i,) in db.execute("SELECT id FROM jobs")]
            handles = [json.loads(h) for (h,) in
                       db.execute("SELECT handle FROM nodes WHERE exit_code IS NULL")]
            db.execute("DELETE FROM nodes")
            db.execute("DELETE FROM jobs")
        return ids, handles

    # --- tokens -----------------------------------------------------------------------

    def save_token(self, digest: str, ak: str, expires: float) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO tokens (digest, ak, expires) VALUES (?, ?, ?)",
                       (digest, ak, expires))

    def token(self, digest: str) -> tuple[str, float] | None:
        row = self._db().execute("SELECT ak, expires FROM tokens WHERE digest=?",
                                 (digest,)).fetchone()
        return (row[0], row[1]) if row else None
