"""The ledger's schema as numbered migrations: entry N brings a ledger from version N to N+1.

Append, never edit: a ledger in use was built by the entries before. Where SQLite and
PostgreSQL need different SQL (row ids, floating-point columns), an entry has a variant for each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A line holding only "/": the end of a statement in a step whose statements hold ";".
SLASH_LINE = re.compile(r"^[ \t]*/[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    """One schema step, in each backend's SQL (statements separated by ``;``, or by lines
    holding only ``/`` where ``slash_lines``)."""

    purpose: str
    sqlite: str
    postgres: str
    # A step whose statements hold ";" themselves (a trigger's body) ends each statement with
    # a line holding only "/" instead, and says so here.
    slash_lines: bool = False

    def statements(self, backend: str) -> list[str]:
        """The step's statements for ``backend`` ("sqlite" or "postgres")."""
        script = self.sqlite if backend == "sqlite" else self.postgres
        pieces = (SLASH_LINE.split(script) if self.slash_lines else script.split(";"))
        return [statement.strip() for statement in pieces if statement.strip()]


def _posts_table(row_id: str, real: str) -> str:
    return f"""
    CREATE TABLE broadcasts (
        id          TEXT PRIMARY KEY,       -- shown to people: 20261124-030000-3f9a1c
        key         TEXT NOT NULL UNIQUE,   -- idempotency key of the whole broadcast
        source      TEXT NOT NULL,          -- template name, or --message
        created_at  TEXT NOT NULL
    );
    CREATE TABLE posts (
        id              {row_id},
        broadcast_id    TEXT NOT NULL REFERENCES broadcasts(id),
        account         TEXT NOT NULL,
        platform        TEXT NOT NULL,
        handle          TEXT,
        text            TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        state           TEXT NOT NULL CHECK (state IN
                        ('pending', 'sending', 'sent', 'failed', 'unknown', 'retracted')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        remote_id       TEXT,
        url             TEXT,
        error           TEXT,
        claimed_by      TEXT,               -- host:pid of the run sending it
        lease_until     {real},             -- Unix time after which the claim lapses
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        UNIQUE (broadcast_id, account)
    );
    CREATE INDEX posts_by_state ON posts (state);
    """


def _parts_and_media(real: str, big: str) -> str:
    # Both tables name their post by its idempotency key, not its row id: a post keeps its key
    # when `metpost ledger migrate` copies it and numbers it anew.
    return f"""
    CREATE TABLE post_parts (
        post_key         TEXT NOT NULL REFERENCES posts(idempotency_key),
        position         INTEGER NOT NULL,   -- 1 for the thread's first part
        text             TEXT NOT NULL,
        idempotency_key  TEXT NOT NULL UNIQUE,
        state            TEXT NOT NULL CHECK (state IN
                         ('pending', 'sending', 'sent', 'failed', 'unknown', 'retracted')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        remote_id        TEXT,
        url              TEXT,
        error            TEXT,
        first_attempt_at {real},
        updated_at       TEXT NOT NULL,
        PRIMARY KEY (post_key, position)
    );
    CREATE INDEX post_parts_by_remote_id ON post_parts (remote_id);
    CREATE TABLE post_media (
        post_key   TEXT NOT NULL REFERENCES posts(idempotency_key),
        position   INTEGER NOT NULL,
        path       TEXT NOT NULL,             -- absolute, as checked
        mime_type  TEXT NOT NULL,
        alt_text   TEXT NOT NULL,
        sha256     TEXT NOT NULL,
        size       {big} NOT NULL,
        PRIMARY KEY (post_key, position)
    );
    """


def _audit_events(row_id: str) -> str:
    # Who did what, when, and how it ended: one row per plan, approval, apply, send, retry and
    # retract. ``uid`` is the event's own name, kept when `metpost ledger migrate` copies it
    # (rows are numbered anew there, as posts are). Lists of names are JSON arrays.
    return f"""
    CREATE TABLE audit_events (
        id           {row_id},
        uid          TEXT NOT NULL UNIQUE,
        at           TEXT NOT NULL,               -- ISO 8601, UTC
        kind         TEXT NOT NULL,               -- plan, approve, apply, send, retry, retract
        actor        TEXT NOT NULL,               -- the name given with --as, else the OS user
        os_user      TEXT NOT NULL,
        host         TEXT NOT NULL,
        outcome      TEXT NOT NULL,               -- planned, approved, refused, started, ...
        broadcast_id TEXT,
        plan_id      TEXT,
        plan_digest  TEXT,
        source       TEXT,                        -- the template, or --message
        accounts     TEXT NOT NULL DEFAULT '[]',
        approved_by  TEXT NOT NULL DEFAULT '[]',
        urgent       INTEGER NOT NULL DEFAULT 0,  -- sent with --urgent, bypassing approval
        reason       TEXT,                        -- the --reason of an urgent send
        detail       TEXT
    )
    /
    CREATE INDEX audit_events_by_time ON audit_events (at)
    /
    CREATE INDEX audit_events_by_plan ON audit_events (plan_id)
    /
    """


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "broadcasts and their posts",
        sqlite=_posts_table("INTEGER PRIMARY KEY", "REAL"),
        postgres=_posts_table("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                              "DOUBLE PRECISION"),
    ),
    Migration(
        "remember the --key a person or scheduler gave, so `metpost retry KEY` finds it",
        sqlite="""
        ALTER TABLE broadcasts ADD COLUMN label TEXT;
        CREATE INDEX broadcasts_by_label ON broadcasts (label);
        """,
        postgres="""
        ALTER TABLE broadcasts ADD COLUMN label TEXT;
        CREATE INDEX broadcasts_by_label ON broadcasts (label);
        """,
    ),
    Migration(
        "when a post's first request began (a listed post older than that is not it), and "
        "lookups by remote id (a remote id belongs to one post)",
        sqlite="""
        ALTER TABLE posts ADD COLUMN first_attempt_at REAL;
        CREATE INDEX posts_by_remote_id ON posts (platform, remote_id);
        """,
        postgres="""
        ALTER TABLE posts ADD COLUMN first_attempt_at DOUBLE PRECISION;
        CREATE INDEX posts_by_remote_id ON posts (platform, remote_id);
        """,
    ),
    Migration(
        "broadcasts sent as public-safety announcements (X's exception to its rule on the "
        "same content on several accounts), posts that repost another post of their "
        "broadcast, and how far `metpost due` has looked at each schedule",
        sqlite="""
        ALTER TABLE broadcasts ADD COLUMN public_safety INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE posts ADD COLUMN repost_of TEXT;
        CREATE TABLE schedule_runs (
            schedule      TEXT PRIMARY KEY,
            checked_until REAL NOT NULL
        );
        """,
        postgres="""
        ALTER TABLE broadcasts ADD COLUMN public_safety INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE posts ADD COLUMN repost_of TEXT;
        CREATE TABLE schedule_runs (
            schedule      TEXT PRIMARY KEY,
            checked_until DOUBLE PRECISION NOT NULL
        );
        """,
    ),
    Migration(
        "threads (the parts of a post too long for one, each with how it went, so that a "
        "rerun resumes after the last part sent) and the images posts carry (with their "
        "digests, so that a retry knows the file is still the one checked)",
        sqlite=_parts_and_media("REAL", "INTEGER"),
        postgres=_parts_and_media("DOUBLE PRECISION", "BIGINT"),
    ),
    Migration(
        "an audit trail of who planned, approved, applied, sent, retried and retracted what, "
        "and when; append-only: the database itself refuses to change or remove an event",
        sqlite=_audit_events("INTEGER PRIMARY KEY") + """
        CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE is refused'); END
        /
        CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE is refused'); END
        """,
        postgres=_audit_events("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY") + """
        CREATE FUNCTION metpost_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit events are append-only: % is refused', TG_OP;
        END
        $$
        /
        CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION metpost_audit_append_only()
        /
        CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION metpost_audit_append_only()
        """,
        slash_lines=True,
    ),
    Migration(
        "where each post goes (its account's api_url and the settings that name its page, "
        "receiver or file, a secret as its digest), so that retry and retract refuse an "
        "account that posts elsewhere now; and when metpost retract withdrew a post, after "
        "which it is never sent from its broadcast",
        sqlite="""
        ALTER TABLE posts ADD COLUMN destination TEXT;
        ALTER TABLE posts ADD COLUMN withdrawn_at TEXT;
        """,
        postgres="""
        ALTER TABLE posts ADD COLUMN destination TEXT;
        ALTER TABLE posts ADD COLUMN withdrawn_at TEXT;
        """,
    ),
)
