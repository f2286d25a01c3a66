"""Alembic's script directory for CaseRoom's schema (``env.py``, ``versions/``); operated through :mod:`bot.schema`."""
