"""Snapshot and match registry of a league run, stored in ``runs/<name>/league.db``.

The database is SQLite (via ``sqlite_utils``) in WAL mode with a generous busy
timeout, so trainer, evaluators and dashboards can share it across processes.
Policy weights live next to it in content-addressed safetensors files
``weights/<sha256>.safetensors``; the hash is re-checked on every load.

A registry opened with ``read_only=True`` needs no write access to the run directory
(SQLite ``mode=ro``, or ``immutable=1`` where not even the ``-wal``/``-shm`` files can
be created): what the reading commands open, so that a read-only run reads as it is.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import sqlite_utils
import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save

from league.store.checkpoint import atomic_write_bytes, prepare_tensors_for_save
from matchmaking import BEST_RESPONSE, KINDS

__all__ = [
    "BUSY_TIMEOUT_S",
    "DB_NAME",
    "MATCH_KINDS",
    "SNAPSHOT_KINDS",
    "Registry",
    "RegistryError",
]

logger = logging.getLogger(__name__)

DB_NAME = "league.db"
WEIGHTS_DIR = "weights"
BUSY_TIMEOUT_S = 30.0
MATCH_KINDS = ("train", "eval")
SNAPSHOT_KINDS = (*KINDS, BEST_RESPONSE)
"""What kind of learning agent froze a snapshot (the ``kind`` column)."""
_MATCH_KEYS = frozenset({"iteration", "kind", "participants", "sides", "result", "length"})

_SNAPSHOTS_TABLE = """
    CREATE TABLE {if_not_exists}{name} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        role TEXT NOT NULL,
        agent TEXT NOT NULL,
        kind TEXT NOT NULL,
        iteration INTEGER NOT NULL,
        env_steps INTEGER NOT NULL,
        created REAL NOT NULL,
        file TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        parent INTEGER,
        config TEXT NOT NULL,
        UNIQUE (agent, iteration)
    )
"""
"""The snapshots table: one row per frozen policy, keyed by its agent and iteration."""
_OLD_SNAPSHOT_COLUMNS = "id, role, iteration, env_steps, created, file, sha256, parent, config"
"""The columns of the first schema (no agent/kind, unique per role and iteration)."""
_OLD_SNAPSHOTS_VIEW = (
    "CREATE TEMP VIEW snapshots AS SELECT id, role, role AS agent, 'main' AS kind, iteration, "
    "env_steps, created, file, sha256, parent, config FROM main.snapshots"
)
"""How a read-only registry shows a first-schema table (what the migration would make)."""

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS run (
        key TEXT PRIMARY KEY,
        value TEXT
    )
    """,
    _SNAPSHOTS_TABLE.format(if_not_exists="IF NOT EXISTS ", name="snapshots"),
    """
    CREATE TABLE IF NOT EXISTS matches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        iteration INTEGER NOT NULL,
        kind TEXT NOT NULL,
        participants TEXT NOT NULL,
        sides TEXT NOT NULL,
        result TEXT NOT NULL,
        length INTEGER NOT NULL,
        created REAL NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS scores (
        snapshot INTEGER NOT NULL,
        name TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (snapshot, name)
    )
    """,
    "CREATE INDEX IF NOT EXISTS matches_iteration ON matches (iteration)",
    "CREATE INDEX IF NOT EXISTS matches_kind ON matches (kind)",
)


def _check_same(
    existing: dict[str, Any], agent: str, iteration: int, kind: str, digest: str
) -> int:
    """The id of an existing snapshot row that holds these weights and kind, else a
    ValueError naming the difference."""
    if existing["sha256"] != digest:
        raise ValueError(
            f"snapshot for agent={agent!r} iteration={iteration} already exists "
            f"(id {existing['id']}) with different weights: "
            f"sha256 {existing['sha256']} != {digest}"
        )
    if existing["kind"] != kind:
        raise ValueError(
            f"snapshot for agent={agent!r} iteration={iteration} already exists "
            f"(id {existing['id']}) as kind {existing['kind']!r}, not {kind!r}"
        )
    return int(existing["id"])


def _write_weights(path: Path, data: bytes, digest: str) -> bool:
    """Write a content-addressed weights file unless an intact copy already exists;
    return whether a new file was made (not a repair of a corrupt one)."""
    try:
        if _sha256(path.read_bytes()) == digest:
            return False
        logger.warning("weights file %s is corrupt; rewriting it", path)
        atomic_write_bytes(path, data)
        return False
    except FileNotFoundError:
        pass
    atomic_write_bytes(path, data)
    return True


def _decode_snapshot(row: dict[str, Any]) -> dict[str, Any]:
    """A snapshot row with its config decoded."""
    row["config"] = json.loads(row["config"])
    return row


def _open_read_only(db_path: Path) -> sqlite3.Connection:
    """Connect to the database for reading only; nothing in it is changed.

    ``mode=ro`` reads a live database (a trainer may be writing it; SQLite makes its
    ``-wal`` and ``-shm`` files beside it where the directory allows).  Where the
    directory is read-only and those files do not exist, SQLite cannot open it that
    way, and ``immutable=1`` reads the database file as it is.  A first-schema table
    is shown through a temporary view, missing tables as empty temporary ones.
    """
    if not db_path.is_file():
        raise RegistryError(f"{db_path}: cannot open the run's database (no such database file)")
    uri = db_path.resolve().as_uri()
    try:
        try:
            conn = _connect(f"{uri}?mode=ro")
        except sqlite3.OperationalError:
            conn = _connect(f"{uri}?immutable=1")
            logger.info("%s: read as an immutable file (read-only directory)", db_path)
    except sqlite3.Error as err:
        raise RegistryError(f"{db_path}: cannot open the run's database ({err})") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        for statement in _SCHEMA:
            name = re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", statement)
            if name and name[1] not in tables:
                conn.execute(statement.replace("CREATE TABLE", "CREATE TEMP TABLE", 1))
        columns = {row[1] for row in conn.execute("PRAGMA main.table_info(snapshots)")}
        if columns and "agent" not in columns:
            conn.execute(_OLD_SNAPSHOTS_VIEW)
    except sqlite3.Error as err:
        conn.close()
        raise RegistryError(f"{db_path}: cannot read the run's database ({err})") from None
    return conn


class RegistryError(RuntimeError):
    """Signal a registry inconsistency, e.g. a missing or tampered weights file."""


def _connect(uri: str) -> sqlite3.Connection:
    """Open a SQLite URI and read from it once (a read-only open fails only on a read)."""
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_default(obj: Any) -> Any:
    """Make numpy scalars/arrays JSON-encodable; reject anything else."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def _dumps(value: Any, *, sort_keys: bool = False) -> str:
    return json.dumps(value, default=_json_default, sort_keys=sort_keys)


def _check_agent(role: str, agent: str, kind: str) -> None:
    """Refuse a kind outside :data:`SNAPSHOT_KINDS` or an agent key that is not ``role``
    or ``<role>/<name>`` (the learner key of a ``PlayerId``: no '/' or '@' in a name)."""
    if kind not in SNAPSHOT_KINDS:
        raise ValueError(f"snapshot kind {kind!r} is not one of {SNAPSHOT_KINDS}")
    owner, _, name = agent.partition("/")
    if owner != role or (agent != role and (not name or "/" in name or "@" in name)):
        raise ValueError(f"agent {agent!r} is not {role!r} or {role!r}/<name>")


def _snapshot_filter(
    role: str | None, agent: str | None, kind: str | None
) -> tuple[str, list[str]]:
    """Return the WHERE clause (or "") and parameters selecting snapshots by these columns."""
    if kind is not None and kind not in SNAPSHOT_KINDS:
        raise ValueError(f"snapshot kind {kind!r} is not one of {SNAPSHOT_KINDS}")
    given = {"role": role, "agent": agent, "kind": kind}
    columns = [col for col, value in given.items() if value is not None]
    if not columns:
        return "", []
    where = " WHERE " + " AND ".join(f"{col} = ?" for col in columns)
    return where, [value for value in given.values() if value is not None]


class Registry:
    """Record policy snapshots and match results of one run directory.

    ``Registry(run_dir)`` creates ``run_dir``, ``run_dir/weights`` and the
    tables if missing.  ``Registry(run_dir, read_only=True)`` opens an existing run's
    database for reading only: it creates and changes nothing, and every write raises
    :class:`RegistryError` saying so.  Use it as a context manager or call :meth:`close`.
    One instance wraps one SQLite connection and is meant for one thread;
    open one ``Registry`` per process/thread.
    """

    def __init__(self, run_dir: str | Path, *, read_only: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.weights_dir = self.run_dir / WEIGHTS_DIR
        self.db_path = self.run_dir / DB_NAME
        self.read_only = read_only
        if read_only:
            self.db = sqlite_utils.Database(_open_read_only(self.db_path))
            return
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as err:
            raise RegistryError(f"{self.db_path}: cannot open the run's database ({err})") from None
        try:
            self.db = sqlite_utils.Database(conn)
            self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self.db.enable_wal()
            if self.db.journal_mode != "wal":
                logger.warning(
                    "could not enable WAL journal mode for %s (got %r)",
                    self.db_path,
                    self.db.journal_mode,
                )
            with self._write():  # a crash leaves the old schema or the new, never half
                for statement in _SCHEMA:
                    self.db.execute(statement)
                self._migrate_snapshots()
        except sqlite3.Error as err:
            conn.close()
            raise RegistryError(f"{self.db_path}: cannot open the run's database ({err})") from None
        except BaseException:
            conn.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def _check_writable(self) -> None:
        if self.read_only:
            raise RegistryError(
                f"{self.db_path} is open read-only: cannot write the run's registry"
            )

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """Run the block in one ``BEGIN IMMEDIATE`` transaction (commit or roll back)."""
        self._check_writable()
        if self.db.conn.in_transaction:
            raise RegistryError("nested registry write transaction")
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.rollback()
                raise
            self.db.execute("COMMIT")
        except sqlite3.Error as err:  # read-only directory, full disk, ...: nothing written
            code = (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF  # the primary code
            if code == sqlite3.SQLITE_FULL:  # worded and caught as any other full disk
                raise OSError(
                    errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({err})", str(self.db_path)
                ) from None
            if code == sqlite3.SQLITE_READONLY:
                raise RegistryError(
                    f"{self.db_path} is read-only: cannot write the run's database ({err})"
                ) from None
            raise RegistryError(
                f"{self.db_path}: cannot write the run's database ({err})"
            ) from None

    def _query(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def _migrate_snapshots(self) -> None:
        """Upgrade a first-schema ``snapshots`` table (no agent/kind) in place; else nothing.

        Runs inside the caller's write transaction.  SQLite cannot change a UNIQUE
        constraint in place, so the table is rebuilt: every row keeps its id and becomes
        its role's main agent (agent = role, kind = main), and the AUTOINCREMENT counter
        is carried over so that the id of a rolled-back snapshot is never handed out again
        (match rows and checkpoints name snapshots by id).
        """
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(snapshots)")}
        if "agent" in columns:
            return
        sequence = self.db.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'snapshots'"
        ).fetchone()
        self.db.execute(_SNAPSHOTS_TABLE.format(if_not_exists="", name="snapshots_new"))
        self.db.execute(
            f"INSERT INTO snapshots_new ({_OLD_SNAPSHOT_COLUMNS}, agent, kind) "
            f"SELECT {_OLD_SNAPSHOT_COLUMNS}, role, 'main' FROM snapshots"
        )
        self.db.execute("DROP TABLE snapshots")
        self.db.execute("ALTER TABLE snapshots_new RENAME TO snapshots")
        if sequence is not None:
            self.db.execute("DELETE FROM sqlite_sequence WHERE name = 'snapshots'")
            self.db.execute(
                "INSERT INTO sqlite_sequence (name, seq) "
                "SELECT 'snapshots', max(?, coalesce(max(id), 0)) FROM snapshots",
                (sequence[0],),
            )
        logger.info("upgraded the snapshots table of %s (agent and kind columns)", self.db_path)

    def close(self) -> None:
        """Close the database connection. A writer that is the last one leaves the
        database in rollback-journal mode, with no -wal or -shm file beside it (a reader
        opening it later makes none either); the next writer turns WAL on again."""
        if not self.read_only:
            with contextlib.suppress(sqlite3.Error):  # another connection is open: keep WAL
                self.db.execute("PRAGMA journal_mode = DELETE")
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({str(self.run_dir)!r})"

    # ------------------------------------------------------------------ run meta

    def set_meta(self, key: str, value: Any) -> None:
        """Store JSON-encodable ``value`` under ``key`` in the ``run`` table (upsert)."""
        encoded = _dumps(value)
        with self._write():
            self.db.execute(
                "INSERT INTO run (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, encoded),
            )

    def get_meta(self, key: str, default: Any = None) -> Any:
        """Return the decoded value stored under ``key``, or ``default`` if absent."""
        rows = self._query("SELECT value FROM run WHERE key = ?", (key,))
        if not rows:
            return default
        return json.loads(rows[0]["value"])

    def mark_missing(self, snapshot_id: int) -> None:
        """Record that a snapshot's weights file is missing or corrupt (quarantined: no
        pool draws it again); `missing()` lists them."""
        self.set_meta("missing", sorted({*self.missing(), int(snapshot_id)}))

    def missing(self) -> list[int]:
        """The snapshots quarantined for a missing or corrupt weights file."""
        return list(self.get_meta("missing", []))

    # ------------------------------------------------------------------ snapshots

    def add_snapshot(
        self,
        *,
        role: str,
        iteration: int,
        env_steps: int,
        tensors: dict[str, torch.Tensor],
        parent: int | None,
        config: dict,
        agent: str | None = None,
        kind: str = "main",
    ) -> int:
        """Store a snapshot's weights and row; return its id.

        ``agent`` names the learning agent that froze it: ``role`` itself (the default)
        for the role's main agent, ``<role>/<name>`` for the others; ``kind`` is one of
        :data:`SNAPSHOT_KINDS`.  ``parent`` is the lineage: the snapshot this one
        continues from (another agent's, for an agent reset to its weights).

        Idempotent: re-adding the same (agent, iteration) with identical weights
        returns the existing id (and restores its weights file if it went missing or
        was corrupted).  Raises ``ValueError`` if that (agent, iteration) already holds
        different weights or another kind, if ``kind`` or ``agent`` is invalid, or if
        ``parent`` does not exist.
        """
        agent = role if agent is None else agent
        _check_agent(role, agent, kind)
        self._check_writable()
        iteration, env_steps = int(iteration), int(env_steps)
        parent = None if parent is None else int(parent)
        data = safetensors_save(prepare_tensors_for_save(tensors))
        digest = _sha256(data)
        rel = f"{WEIGHTS_DIR}/{digest}.safetensors"

        existing = self._find_snapshot(agent, iteration)
        if existing is not None:
            snapshot_id = _check_same(existing, agent, iteration, kind, digest)
            _write_weights(self.run_dir / rel, data, digest)  # repair if missing/corrupt
            return snapshot_id

        row = dict(role=role, agent=agent, kind=kind, iteration=iteration, env_steps=env_steps)
        row |= dict(created=time.time(), file=rel, sha256=digest, parent=parent)
        row["config"] = _dumps(config, sort_keys=True)
        snapshot_id = self._insert_snapshot(row, data)
        logger.info(
            "added snapshot %d (agent=%s, kind=%s, iteration=%d, sha256=%s)",
            snapshot_id,
            agent,
            kind,
            iteration,
            digest[:12],
        )
        return snapshot_id

    def _insert_snapshot(self, row: dict[str, Any], data: bytes) -> int:
        """Write a new snapshot's weights file and row in one transaction; return its id
        (an existing one's, for a race lost to another writer of the same weights)."""
        agent, iteration, digest = row["agent"], row["iteration"], row["sha256"]
        rel, parent = row["file"], row["parent"]
        wrote = False
        try:
            with self._write():
                existing = self._find_snapshot(agent, iteration)  # lost a race?
                if existing is not None:
                    return _check_same(existing, agent, iteration, row["kind"], digest)
                if parent is not None and not self._query(
                    "SELECT 1 FROM snapshots WHERE id = ?", (parent,)
                ):
                    raise ValueError(f"parent snapshot {parent} does not exist")
                # Written while this transaction holds the write lock: a sweep of files no
                # row names (`rollback_after`) holds it too, so it never sees a file whose
                # row is still to come.
                wrote = _write_weights(self.run_dir / rel, data, digest)
                columns = ", ".join(row)
                cursor = self.db.execute(
                    f"INSERT INTO snapshots ({columns}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()),
                )
                assert cursor.lastrowid is not None
                return cursor.lastrowid
        except BaseException:
            if wrote:  # no row names the new file (a full disk at the commit, a kill...)
                with contextlib.suppress(OSError):
                    (self.run_dir / rel).unlink()
            raise

    def _find_snapshot(self, agent: str, iteration: int) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT id, kind, sha256 FROM snapshots WHERE agent = ? AND iteration = ?",
            (agent, iteration),
        )
        return rows[0] if rows else None

    def load_snapshot(self, snapshot_id: int) -> dict[str, torch.Tensor]:
        """Return the snapshot's tensors (on CPU) after verifying the file's sha256.

        Raises :class:`RegistryError` if the weights file is missing, modified
        or corrupt, and ``KeyError`` if the id is unknown.
        """
        row = self.snapshot(snapshot_id)
        path = self.run_dir / row["file"]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RegistryError(
                f"weights file {path} for snapshot {snapshot_id} is missing"
            ) from None
        except OSError as exc:
            raise RegistryError(f"cannot read weights file {path}: {exc}") from exc
        actual = _sha256(data)
        if actual != row["sha256"]:
            raise RegistryError(
                f"weights file {path} was modified or corrupted: "
                f"expected sha256 {row['sha256']}, got {actual}"
            )
        try:
            return safetensors_load(data)
        except (SafetensorError, ValueError, RuntimeError) as exc:
            raise RegistryError(f"weights file {path} is not valid safetensors: {exc}") from exc

    def snapshot(self, snapshot_id: int) -> dict[str, Any]:
        """Return the snapshot row (``config`` decoded); raise ``KeyError`` if unknown."""
        rows = self._query("SELECT * FROM snapshots WHERE id = ?", (snapshot_id,))
        if not rows:
            raise KeyError(f"no snapshot with id {snapshot_id} in {self.db_path}")
        return _decode_snapshot(rows[0])

    def snapshots(
        self, role: str | None = None, *, agent: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Return snapshot rows ordered by id, optionally only those of ``role``,
        ``agent`` and/or ``kind``."""
        where, params = _snapshot_filter(role, agent, kind)
        rows = self._query(f"SELECT * FROM snapshots{where} ORDER BY id", params)
        return [_decode_snapshot(r) for r in rows]

    def latest_snapshot(
        self, role: str | None = None, *, agent: str | None = None, kind: str | None = None
    ) -> dict[str, Any] | None:
        """Return the most recently added snapshot row (highest id), or ``None``;
        optionally only among those of ``role``, ``agent`` and/or ``kind``."""
        where, params = _snapshot_filter(role, agent, kind)
        rows = self._query(f"SELECT * FROM snapshots{where} ORDER BY id DESC LIMIT 1", params)
        return _decode_snapshot(rows[0]) if rows else None

    # ------------------------------------------------------------------ matches

    def add_matches(self, rows: list[dict]) -> None:
        """Insert match rows in one transaction.

        Each row needs ``iteration``, ``kind`` (one of :data:`MATCH_KINDS`),
        ``participants``, ``sides``, ``result`` (JSON-encoded here) and
        ``length``; an optional ``created`` defaults to now.
        """
        now = time.time()
        values = []
        for i, row in enumerate(rows):
            missing = _MATCH_KEYS - row.keys()
            extra = row.keys() - _MATCH_KEYS - {"created"}
            if missing or extra:
                raise ValueError(
                    f"match row {i}: missing keys {sorted(missing)}, unknown keys {sorted(extra)}"
                )
            if row["kind"] not in MATCH_KINDS:
                raise ValueError(f"match row {i}: kind must be one of {MATCH_KINDS}")
            values.append(
                (
                    int(row["iteration"]),
                    row["kind"],
                    _dumps(row["participants"]),
                    _dumps(row["sides"]),
                    _dumps(row["result"]),
                    int(row["length"]),
                    float(row.get("created", now)),
                )
            )
        if not values:
            return
        with self._write():
            self.db.conn.executemany(
                "INSERT INTO matches "
                "(iteration, kind, participants, sides, result, length, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )

    def matches(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Return match rows ordered by id with JSON columns decoded, optionally by ``kind``."""
        if kind is None:
            rows = self._query("SELECT * FROM matches ORDER BY id")
        else:
            rows = self._query("SELECT * FROM matches WHERE kind = ? ORDER BY id", (kind,))
        for row in rows:
            for col in ("participants", "sides", "result"):
                row[col] = json.loads(row[col])
        return rows

    # ------------------------------------------------------------------ scores

    def set_score(self, snapshot_id: int, name: str, value: float) -> None:
        """Store one measure of a snapshot (e.g. its exact `exploitability`), replacing
        an earlier value of that name."""
        if not self._query("SELECT id FROM snapshots WHERE id = ?", (snapshot_id,)):
            raise KeyError(f"no snapshot with id {snapshot_id} in {self.db_path}")
        with self._write():
            self.db.execute(
                "INSERT OR REPLACE INTO scores (snapshot, name, value) VALUES (?, ?, ?)",
                (int(snapshot_id), name, float(value)),
            )

    def scores(self, name: str) -> dict[int, float]:
        """Snapshot id -> its stored measure `name`, for the snapshots that have one."""
        rows = self._query("SELECT snapshot, value FROM scores WHERE name = ?", (name,))
        return {int(r["snapshot"]): float(r["value"]) for r in rows}

    # ------------------------------------------------------------------ maintenance

    def rollback_after(self, iteration: int, *, agent: str | None = None) -> int:
        """Delete matches and the league's snapshots (of every agent, best responses
        excepted) with iteration > ``iteration``, and every weights file that no
        remaining row names; return rows deleted. With ``agent`` (a best response, which
        counts its own iterations), only that agent's snapshots.

        Used when resuming from a checkpoint taken at ``iteration``.  A weights file is
        content-addressed and may be shared, so a rolled-back snapshot's file goes only
        when no other row names it; so does the file of a snapshot whose row was never
        committed (a kill between the two) and any temporary file a kill left behind.
        """
        with self._write():
            if agent is not None:
                deleted = self.db.execute(
                    "DELETE FROM snapshots WHERE iteration > ? AND agent = ?", (iteration, agent)
                ).rowcount
            else:
                deleted = self.db.execute(
                    "DELETE FROM matches WHERE iteration > ?", (iteration,)
                ).rowcount
                # A best response (`league exploit`) counts its own iterations.
                deleted += self.db.execute(
                    "DELETE FROM snapshots WHERE iteration > ? AND kind != ?",
                    (iteration, BEST_RESPONSE),
                ).rowcount
            self.db.execute("DELETE FROM scores WHERE snapshot NOT IN (SELECT id FROM snapshots)")
            # The next snapshot takes the id the first rolled-back one had, as in a run never
            # interrupted (a resumed run replays exactly; its ids must match too).
            self.db.execute(
                "UPDATE sqlite_sequence SET seq = (SELECT COALESCE(MAX(id), 0) FROM snapshots) "
                "WHERE name = 'snapshots'"
            )
            # Listed while holding the write lock: every writer writes its file under it.
            orphans = self._orphan_files()
        for path in orphans:  # after the commit: a failed one leaves every file its rows name
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if deleted or orphans:
            logger.info(
                "rolled back %d registry rows after iteration %d and removed %d weights files "
                "no row names",
                deleted,
                iteration,
                len(orphans),
            )
        return deleted

    def _orphan_files(self) -> list[Path]:
        """The files in ``weights/`` that no snapshot row names: weights files and the
        temporary files of interrupted writes."""
        named = {row["file"] for row in self._query("SELECT DISTINCT file FROM snapshots")}
        if not self.weights_dir.is_dir():
            return []
        return sorted(
            path
            for path in self.weights_dir.iterdir()
            if path.is_file()
            and f"{WEIGHTS_DIR}/{path.name}" not in named
            and (path.suffix == ".safetensors" or path.name.endswith(".tmp"))
        )

    def integrity_ok(self) -> bool:
        """Return whether ``PRAGMA integrity_check`` reports ``ok``."""
        rows = self.db.execute("PRAGMA integrity_check").fetchall()
        return [tuple(r) for r in rows] == [("ok",)]
