"""Copying a ledger into another: one machine's SQLite history into the shared PostgreSQL one.

Every broadcast, post and audit event is copied, with every column the schema has. Broadcasts
keep their ids (people quote them, and posts refer to them); posts are numbered anew by the
target, in their old order, so that they cannot collide with the target's own; so are audit
events, which keep their own names (``uid``) and their order. The copy is one transaction: all
of it or nothing. It is refused if the target already holds some of the source's broadcasts,
posts or events, unless it holds them all (an earlier copy): then there is nothing to do, so
running it twice is safe.

With ``skip_existing``, what the target holds already is left out instead: a broadcast it
holds keeps the target's record, and gains only the posts of the source's that it lacks (a
rerun with its key then finds every account's post sent); any post or audit event it holds is
left out. That is how the histories of two hosts that both sent the same broadcast (before
they shared a ledger) go into one; the broadcasts kept as the target had them are named, so
that a person can look at the other host's posts of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from metpost.errors import MetpostError
from metpost.ledger.sql import Cursor, SqlLedger, chunks, placeholders

# Serialises copies into one database, so that two at once cannot both copy.
COPY_LOCK = "metpost ledger migrate"
ATTACHED_TABLES = ("post_parts", "post_media")


@dataclass(frozen=True)
class LedgerCopy:
    """What a copy did. ``copied`` is false when the target held everything already."""

    source: str
    target: str
    broadcasts: int
    posts: int
    copied: bool
    events: int = 0  # audit events
    skipped: tuple[str, ...] = ()  # ids of the source's broadcasts left out (skip_existing)


@dataclass(frozen=True)
class _Rows:
    broadcast_columns: list[str]
    broadcasts: list[tuple[Any, ...]]
    post_columns: list[str]
    posts: list[tuple[Any, ...]]
    schedule_runs: list[tuple[Any, ...]]  # (schedule, checked_until): how far `due` looked
    # Threads' parts and posts' images, copied as they are: they name their post by its
    # idempotency key, which the copy keeps.
    attached: list[tuple[str, list[str], list[tuple[Any, ...]]]]
    event_columns: list[str]
    events: list[tuple[Any, ...]]  # the audit trail, in the order it was written


def _column(columns: list[str], rows: Sequence[tuple[Any, ...]], name: str) -> list[Any]:
    index = columns.index(name)
    return [row[index] for row in rows]


def _read_everything(db: Cursor) -> _Rows:
    broadcast_columns, post_columns = db.columns("broadcasts"), db.columns("posts")
    return _Rows(
        broadcast_columns,
        db.run(f"SELECT {_names(broadcast_columns)} FROM broadcasts ORDER BY id"),
        post_columns,
        db.run(f"SELECT {_names(post_columns)} FROM posts ORDER BY id"),
        db.run("SELECT schedule, checked_until FROM schedule_runs ORDER BY schedule"),
        [(table, db.columns(table), db.run(f"SELECT {_names(db.columns(table))} FROM {table} "
                                           "ORDER BY post_key, position"))
         for table in ATTACHED_TABLES],
        db.columns("audit_events"),
        db.run(f"SELECT {_names(db.columns('audit_events'))} FROM audit_events ORDER BY id"))


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in columns)


def _found(db: Cursor, sql: str, values: Sequence[Any]) -> set[tuple[Any, ...]]:
    """The rows of ``sql`` (ending ``IN``) for ``values``, asked for in chunks."""
    found: set[tuple[Any, ...]] = set()
    for part in chunks(values):
        found.update(tuple(row) for row in db.run(f"{sql} ({placeholders(part)})", part))
    return found


def copy_ledger(source: SqlLedger, target: SqlLedger, *,
                skip_existing: bool = False) -> LedgerCopy:
    """Copy every broadcast and post of ``source`` into ``target`` (see the module's doc)."""
    rows = source._read(_read_everything)
    ids = _column(rows.broadcast_columns, rows.broadcasts, "id")
    keys = _column(rows.broadcast_columns, rows.broadcasts, "key")
    post_keys = _column(rows.post_columns, rows.posts, "idempotency_key")
    event_uids = _column(rows.event_columns, rows.events, "uid")

    def copy(db: Cursor, _replay: bool) -> LedgerCopy:
        target._serialise(db, COPY_LOCK)
        _check_columns(db, rows, source, target)
        held = (_found(db, "SELECT id, key FROM broadcasts WHERE id IN", ids)
                | _found(db, "SELECT id, key FROM broadcasts WHERE key IN", keys))
        held_posts = _found(db, "SELECT idempotency_key FROM posts WHERE idempotency_key IN",
                            post_keys)
        held_events = _found(db, "SELECT uid FROM audit_events WHERE uid IN", event_uids)
        done = LedgerCopy(source=source.location, target=target.location,
                          broadcasts=len(ids), posts=len(post_keys), copied=False,
                          events=len(event_uids))
        _copy_schedule_marks(db, rows.schedule_runs)
        if skip_existing and (held or held_posts or held_events):
            # The target's broadcast for each source broadcast it holds by key (its posts
            # the target lacks join it); one held only by its id is another broadcast.
            target_of_key = {str(pair[1]): str(pair[0]) for pair in held}
            joins = {broadcast: target_of_key[key]
                     for broadcast, key in zip(ids, keys, strict=True) if key in target_of_key}
            held_ids = {str(pair[0]) for pair in held} | set(joins)
            return _copy_the_rest(db, rows, done, held_ids, joins,
                                  {key[0] for key in held_posts},
                                  {uid[0] for uid in held_events})
        if held or held_posts or held_events:
            all_held = (held == set(zip(ids, keys, strict=True))
                        and len(held_posts) == len(post_keys))
            if all_held and len(held_events) == len(event_uids):
                return done  # copied before: nothing to do
            if all_held or not (held or held_posts):  # only the audit trail is in part there
                raise MetpostError(
                    f"{target.location} already holds {len(held_events)} of the "
                    f"{len(event_uids)} audit events in {source.location}; nothing was copied. "
                    "A ledger can be copied only into one that holds none of it, or all of it "
                    "(copied before), unless --skip-existing leaves out what it holds")
            example = sorted(str(pair[0]) for pair in held)[:1] or sorted(
                str(key[0]) for key in held_posts)[:1]
            raise MetpostError(
                f"{target.location} already holds {len(held)} of the {len(ids)} broadcasts "
                f"and {len(held_posts)} of the {len(post_keys)} posts in {source.location} "
                f"(such as {example[0]}); nothing was copied. A ledger can be copied only "
                "into one that holds none of it, or all of it (copied before), unless "
                "--skip-existing leaves out what it holds")
        _insert(db, rows)
        return replace(done, copied=True)

    return target._write(copy)


def _copy_the_rest(db: Cursor, rows: _Rows, done: LedgerCopy, held_broadcasts: set[str],
                   joins: dict[str, str], held_posts: set[str],
                   held_events: set[str]) -> LedgerCopy:
    """Copy what the target does not hold. A broadcast it holds keeps the target's record,
    and gains the posts of this one that it lacks (``joins``: source broadcast id -> the
    target's broadcast of the same key), so that a keyed rerun finds them sent rather than
    posting them again; the posts and events it holds are left out."""
    broadcast_of = rows.broadcast_columns.index("id")
    post_broadcast = rows.post_columns.index("broadcast_id")
    post_key = rows.post_columns.index("idempotency_key")
    broadcasts = [row for row in rows.broadcasts if row[broadcast_of] not in held_broadcasts]
    posts = [(*row[:post_broadcast], joins.get(row[post_broadcast], row[post_broadcast]),
              *row[post_broadcast + 1:]) for row in rows.posts
             if (row[post_broadcast] not in held_broadcasts or row[post_broadcast] in joins)
             and row[post_key] not in held_posts]
    kept_keys = {row[post_key] for row in posts}
    attached = [(table, columns, [row for row in items
                                  if row[columns.index("post_key")] in kept_keys])
                for table, columns, items in rows.attached]
    uid = rows.event_columns.index("uid")
    events = [row for row in rows.events if row[uid] not in held_events]
    _insert(db, replace(rows, broadcasts=broadcasts, posts=posts, attached=attached,
                        events=events))
    skipped = tuple(sorted(str(row[broadcast_of]) for row in rows.broadcasts
                           if row[broadcast_of] in held_broadcasts))
    return replace(done, broadcasts=len(broadcasts), posts=len(posts), events=len(events),
                   copied=bool(broadcasts or posts or events), skipped=skipped)


def _insert(db: Cursor, rows: _Rows) -> None:
    """Insert ``rows`` into the target: broadcasts with their ids, posts and audit events
    numbered anew, in their order."""
    if rows.broadcasts:
        db.many(f"INSERT INTO broadcasts ({_names(rows.broadcast_columns)}) VALUES "
                f"({placeholders(rows.broadcast_columns)})", rows.broadcasts)
    keep = [n for n, name in enumerate(rows.post_columns) if name != "id"]
    if rows.posts:
        db.many(f"INSERT INTO posts ({_names([rows.post_columns[n] for n in keep])}) VALUES "
                f"({placeholders(keep)})", [tuple(row[n] for n in keep) for row in rows.posts])
    for table, columns, attached in rows.attached:
        if attached:
            db.many(f"INSERT INTO {table} ({_names(columns)}) VALUES "
                    f"({placeholders(columns)})", attached)
    keep_event = [n for n, name in enumerate(rows.event_columns) if name != "id"]
    if rows.events:
        db.many(f"INSERT INTO audit_events "
                f"({_names([rows.event_columns[n] for n in keep_event])}) VALUES "
                f"({placeholders(keep_event)})",
                [tuple(row[n] for n in keep_event) for row in rows.events])


def _copy_schedule_marks(db: Cursor, marks: Sequence[tuple[Any, ...]]) -> None:
    """How far `metpost due` had looked at each schedule: a mark only moves forward, so a
    rerun of the copy, or a target that has run `due` itself, keeps the later one."""
    for schedule, until in marks:
        db.run("INSERT INTO schedule_runs (schedule, checked_until) VALUES (?, ?) "
               "ON CONFLICT DO NOTHING", (schedule, until))
        db.run("UPDATE schedule_runs SET checked_until = ? WHERE schedule = ? "
               "AND checked_until < ?", (until, schedule, until))


def _check_columns(db: Cursor, rows: _Rows, source: SqlLedger, target: SqlLedger) -> None:
    """Both ledgers are migrated by this metpost when opened, so their columns agree; say so
    plainly if they somehow do not."""
    for table, columns in (("broadcasts", rows.broadcast_columns), ("posts", rows.post_columns),
                           ("audit_events", rows.event_columns)):
        missing = sorted(set(columns) - set(db.columns(table)))
        if missing:
            raise MetpostError(f"{target.location} has no column {', '.join(missing)} in "
                               f"{table}, which {source.location} has; nothing was copied")
