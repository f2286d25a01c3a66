"""Search structures: SQLite FTS5 tables and their triggers, or PostgreSQL GIN indexes.

The FTS5 tables are kept current by triggers; the GIN indexes are over ``to_tsvector`` expressions. Idempotent,
because the release before migrations built them at start: an adopted database may have them all, or (older still)
none, in which case the FTS5 index is filled from what the tables hold.

The kinds indexed here must stay those of ``bot.search.INDEXED_KINDS``, and the PostgreSQL expressions those its
queries use (else the planner ignores the index); changing either is a new revision.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KINDS = "'message', 'message_edited', 'note', 'file'"
TOKENIZE = "tokenize='porter unicode61 remove_diacritics 2'"
SQLITE_DDL = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS timeline_fts USING fts5(text, case_id UNINDEXED, {TOKENIZE})",
    f"""CREATE TRIGGER IF NOT EXISTS timeline_fts_ai AFTER INSERT ON timeline WHEN new.kind IN ({KINDS})
        BEGIN INSERT INTO timeline_fts(rowid, text, case_id) VALUES (new.id, new.text, new.case_id); END""",
    f"""CREATE TRIGGER IF NOT EXISTS timeline_fts_au AFTER UPDATE OF text ON timeline WHEN new.kind IN ({KINDS})
        BEGIN DELETE FROM timeline_fts WHERE rowid = old.id;
        INSERT INTO timeline_fts(rowid, text, case_id) VALUES (new.id, new.text, new.case_id); END""",
    """CREATE TRIGGER IF NOT EXISTS timeline_fts_ad AFTER DELETE ON timeline
        BEGIN DELETE FROM timeline_fts WHERE rowid = old.id; END""",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS case_fts USING fts5(subject, description, {TOKENIZE})",
    """CREATE TRIGGER IF NOT EXISTS case_fts_ai AFTER INSERT ON cases
        BEGIN INSERT INTO case_fts(rowid, subject, description) VALUES (new.id, new.subject, new.description); END""",
    """CREATE TRIGGER IF NOT EXISTS case_fts_au AFTER UPDATE OF subject, description ON cases
        BEGIN DELETE FROM case_fts WHERE rowid = old.id;
        INSERT INTO case_fts(rowid, subject, description) VALUES (new.id, new.subject, new.description); END""",
    """CREATE TRIGGER IF NOT EXISTS case_fts_ad AFTER DELETE ON cases
        BEGIN DELETE FROM case_fts WHERE rowid = old.id; END""",
]
SQLITE_BACKFILL = [
    "DELETE FROM timeline_fts",
    "DELETE FROM case_fts",
    f"INSERT INTO timeline_fts(rowid, text, case_id) SELECT id, text, case_id FROM timeline WHERE kind IN ({KINDS})",
    "INSERT INTO case_fts(rowid, subject, description) SELECT id, subject, description FROM cases",
]
PG_DDL = {
    "ix_timeline_search": "CREATE INDEX ix_timeline_search ON timeline"
    f" USING GIN (to_tsvector('english'::regconfig, text)) WHERE kind IN ({KINDS})",
    "ix_cases_search": "CREATE INDEX ix_cases_search ON cases"
    " USING GIN (to_tsvector('english'::regconfig, subject || ' ' || description))",
}


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for name, ddl in PG_DDL.items():
            if conn.exec_driver_sql(f"SELECT to_regclass('{name}')").scalar() is None:
                conn.exec_driver_sql(ddl)
        return
    # No trigger: the index predates nothing or was never built; fill it from the tables, once.
    fresh = conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'timeline_fts_ai'").first() is None
    for ddl in SQLITE_DDL:
        conn.exec_driver_sql(ddl)
    if fresh:
        for sql in SQLITE_BACKFILL:
            conn.exec_driver_sql(sql)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for name in PG_DDL:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        return
    for table in ("timeline_fts", "case_fts"):
        for trigger in ("ai", "au", "ad"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_{trigger}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
