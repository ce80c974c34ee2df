"""The store: migrations create the schema the ORM declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from jupyter_automl.store import Store
from jupyter_automl.store import orm


def _snapshot(**overrides) -> orm.Snapshot:
    values = dict(
        name="s", model_type="llm_chat", content_hash="a" * 64, path="/x", rows=100
    )
    values.update(overrides)
    return orm.Snapshot(**values)


def test_migrations_create_exactly_the_declared_schema(store_url):
    store = Store(store_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), orm.Base.metadata)
        assert diff == []
        assert set(inspect(conn).get_table_names()) >= {
            "datasets", "snapshots", "models", "model_versions", "jobs", "deployments",
            "api_keys", "tasks", "playground_usage", "workers", "alembic_version",
        }
    store.dispose()


def test_opening_twice_keeps_the_data(store_url):
    store = Store(store_url)
    with store.session() as session:
        session.add(_snapshot())
    store.dispose()
    again = Store(store_url)
    with again.session() as session:
        assert session.scalar(select(orm.Snapshot.name)) == "s"
    again.dispose()


def test_content_hash_is_unique(store_url):
    store = Store(store_url)
    with store.session() as session:
        session.add(_snapshot())
    with pytest.raises(IntegrityError):
        with store.session() as session:
            session.add(_snapshot(name="other"))
    store.dispose()


def test_version_numbers_are_unique_per_model(store_url):
    store = Store(store_url)
    with store.session() as session:
        snap = _snapshot()
        session.add(snap)
        session.flush()
        model = orm.Model(
            name="m", model_type="llm_chat", base_model="b", train_snapshot_id=snap.id
        )
        session.add(model)
        session.flush()
        session.add(orm.ModelVersion(model_id=model.id, version=1, base_model="b",
                                     train_snapshot_id=snap.id))
        model_id, snap_id = model.id, snap.id
    with pytest.raises(IntegrityError):
        with store.session() as session:
            session.add(orm.ModelVersion(model_id=model_id, version=1, base_model="b",
                                         train_snapshot_id=snap_id))
    store.dispose()


def test_foreign_keys_are_enforced(store_url):
    store = Store(store_url)
    with pytest.raises(IntegrityError):
        with store.session() as session:
            session.add(_snapshot(dataset_id="0" * 32))
    store.dispose()


def test_timestamps_keep_their_time_zone(store_url):
    store = Store(store_url)
    when = datetime(2026, 11, 23, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with store.session() as session:
        session.add(_snapshot(created_at=when))
    with store.session() as session:
        stored = session.scalar(select(orm.Snapshot.created_at))
    assert stored == when
    assert stored.tzinfo is not None
    store.dispose()


def test_rolled_back_transaction_leaves_nothing(store_url):
    store = Store(store_url)
    with pytest.raises(RuntimeError):
        with store.session() as session:
            session.add(_snapshot())
            session.flush()
            raise RuntimeError("boom")
    with store.session() as session:
        assert session.scalar(select(orm.Snapshot)) is None
    store.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nested' / 'store.db'}")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert (tmp_path / "nested" / "store.db").exists()
    store.dispose()
