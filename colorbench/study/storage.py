"""A study's votes: SQLite in WAL mode, one transaction per vote, committed (and
synced: ``synchronous=FULL``) before the server acknowledges it, so a vote the
participant's page was told of survives a killed server or a power cut.

A participant's plan (which pairs, in which order, which image first) is stored
when they start, so every vote is checked against what that participant was
shown. (participant, trial) is the key of a vote: a repeated submission (a retry
after a lost reply) counts once. The session token is stored as its SHA-256
only: the database alone lets nobody vote.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS participants (
    id INTEGER PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    seed INTEGER NOT NULL,            -- drew this participant's plan (colorbench.study.plan)
    started TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    participant INTEGER NOT NULL REFERENCES participants(id),
    n INTEGER NOT NULL,               -- the order shown, from 0
    phase TEXT NOT NULL CHECK (phase IN ('practice', 'test', 'vigilance')),
    photo TEXT NOT NULL,
    method TEXT,                      -- NULL for a vigilance pair
    first TEXT NOT NULL,              -- image id shown first (sequential) or on the left
    second TEXT NOT NULL,
    fake TEXT NOT NULL CHECK (fake IN ('first', 'second')),
    PRIMARY KEY (participant, n)
);
CREATE TABLE IF NOT EXISTS votes (
    participant INTEGER NOT NULL,
    n INTEGER NOT NULL,
    answer TEXT NOT NULL CHECK (answer IN ('first', 'second')),  -- which one they called fake
    response_ms INTEGER,
    at TEXT NOT NULL,
    PRIMARY KEY (participant, n),
    FOREIGN KEY (participant, n) REFERENCES trials (participant, n)
);
"""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@contextmanager
def connect(path: Path):
    """A connection in autocommit mode (transactions are explicit), closed after use."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection):
    """BEGIN IMMEDIATE (the write lock up front: no deadlock between readers turned writers) ... COMMIT."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def initialise(path: Path, fingerprint: str) -> None:
    """Create the tables (WAL mode is a property of the file: set once, kept); the
    database belongs to one study: ``fingerprint`` (its manifest's sha256) must match."""
    with connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
        with transaction(conn):
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('study_sha256', ?)", (fingerprint,))
            stored = conn.execute("SELECT value FROM meta WHERE key = 'study_sha256'").fetchone()[0]
    if stored != fingerprint:
        raise ValueError(f"{path} holds the votes of another version of this study (study.json changed since)")


def add_participant(conn: sqlite3.Connection, token: str, seed: int, plan) -> int:
    """A new participant and their plan (``plan(index)`` -> trial rows), in one transaction."""
    with transaction(conn):
        index = conn.execute("SELECT COUNT(*) FROM participants").fetchone()[0]
        pid = conn.execute(
            "INSERT INTO participants (token_sha256, seed, started) VALUES (?, ?, ?)", (token_hash(token), seed, _now())
        ).lastrowid
        conn.executemany(
            "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(pid, n, t["phase"], t["photo"], t["method"], t["first"], t["second"], t["fake"]) for n, t in enumerate(plan(index))],
        )
    return pid


def participant(conn: sqlite3.Connection, token: str) -> int | None:
    row = conn.execute("SELECT id FROM participants WHERE token_sha256 = ?", (token_hash(token),)).fetchone()
    return row[0] if row else None


TRIAL_COLUMNS = ("n", "phase", "photo", "method", "first", "second", "fake")


def next_trial(conn: sqlite3.Connection, pid: int) -> dict | None:
    """The participant's first unanswered trial, or None when they are done."""
    row = conn.execute(
        "SELECT t.n, t.phase, t.photo, t.method, t.first, t.second, t.fake FROM trials t "
        "LEFT JOIN votes v ON v.participant = t.participant AND v.n = t.n "
        "WHERE t.participant = ? AND v.n IS NULL ORDER BY t.n LIMIT 1",
        (pid,),
    ).fetchone()
    return dict(zip(TRIAL_COLUMNS, row)) if row else None


def counts(conn: sqlite3.Connection, pid: int) -> dict[str, int]:
    """{phase: planned trials} of a participant, vigilance counted with test (the page cannot tell them apart)."""
    found = {"practice": 0, "test": 0}
    for phase, n in conn.execute("SELECT phase, COUNT(*) FROM trials WHERE participant = ? GROUP BY phase", (pid,)):
        found["practice" if phase == "practice" else "test"] += n
    return found


class VoteRefused(Exception):
    """A vote that does not fit the participant's plan; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def record_vote(conn: sqlite3.Connection, pid: int, n: int, answer: str, response_ms: int | None) -> tuple[dict, bool]:
    """Store a vote on trial ``n`` (which must be the participant's next, or one they
    answered: a repeat, counted once); (the trial, whether this call stored it)."""
    with transaction(conn):
        row = conn.execute(
            "SELECT t.n, t.phase, t.photo, t.method, t.first, t.second, t.fake, v.answer FROM trials t "
            "LEFT JOIN votes v ON v.participant = t.participant AND v.n = t.n WHERE t.participant = ? AND t.n = ?",
            (pid, n),
        ).fetchone()
        if row is None:
            raise VoteRefused(f"no trial {n} for this participant", 404)
        trial, stored = dict(zip(TRIAL_COLUMNS, row[:-1])), row[-1]
        if stored is not None:
            if stored != answer:
                raise VoteRefused(f"trial {n} was already answered, differently", 409)
            return trial, False
        following = next_trial(conn, pid)
        if following is None or following["n"] != n:
            raise VoteRefused(f"trial {n} is not the next one (that is {following['n'] if following else 'none: all are answered'})", 409)
        conn.execute("INSERT INTO votes VALUES (?, ?, ?, ?, ?)", (pid, n, answer, response_ms, _now()))
    return trial, True


def fingerprint_of(path: Path) -> str | None:
    """The manifest sha256 the votes were cast under (None: no votes yet)."""
    if not Path(path).is_file():
        return None
    with connect(path) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'study_sha256'").fetchone()
    return row[0] if row else None


def every_trial(path: Path) -> list[dict]:
    """Every planned trial of every participant with its vote (None if unanswered), in order."""
    if not Path(path).is_file():
        return []
    with connect(path) as conn:
        rows = conn.execute(
            "SELECT t.participant, p.started, t.n, t.phase, t.photo, t.method, t.first, t.second, t.fake, "
            "v.answer, v.response_ms, v.at FROM trials t JOIN participants p ON p.id = t.participant "
            "LEFT JOIN votes v ON v.participant = t.participant AND v.n = t.n ORDER BY t.participant, t.n"
        ).fetchall()
    names = ("participant", "started", *TRIAL_COLUMNS, "answer", "response_ms", "at")
    return [dict(zip(names, row)) for row in rows]
