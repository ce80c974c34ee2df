"""Shared fixtures: stores on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import uuid

import pytest

from jupyter_automl import AutoML
from sqlalchemy import create_engine, text

from tests.postgres import postgres_server
from tests.serving import register_trained, train_runs

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
STORE_ENV = ("JUPYTER_AUTOML_DATA_DIR", "JUPYTER_AUTOML_STORE_URL")


@pytest.fixture(autouse=True)
def _servers_store_env_ends_with_the_test():
    """A server extension started in this process exports its store for its kernels; the next
    test must not inherit that store."""
    before = {name: os.environ.get(name) for name in STORE_ENV}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def postgres_url():
    """A running PostgreSQL server. Skipped only outside CI when no server can start."""
    try:
        with postgres_server() as url:
            yield url
    except RuntimeError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {error}")
        pytest.skip(f"PostgreSQL not available: {error}")


@pytest.fixture
def fresh_postgres_url(postgres_url):
    """An empty database of its own on the session's server, dropped afterwards."""
    name = f"automl_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The same test against SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture(scope="session")
def tiny_base_models(tmp_path_factory):
    """Config dicts registering tiny local base models (tiny-llm, tiny-encoder, tiny-vit)."""
    from jupyter_automl.base_models.tiny import tiny_base_model_configs

    return tiny_base_model_configs(tmp_path_factory.mktemp("tiny-base-models"))


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, tiny_base_models):
    """A trained tiny text classifier and chat LLM (version folders), made once."""
    return train_runs(tmp_path_factory.mktemp("tiny-runs"), tiny_base_models)


@pytest.fixture
def make_automl(tmp_path, tiny_base_models):
    made = []

    def make(store_url: str | None = None, **traits) -> AutoML:
        automl = AutoML(data_dir=str(tmp_path / "data"),
                        store_url=store_url or f"sqlite:///{tmp_path / 'store.db'}",
                        base_models=tiny_base_models, spawn_worker=False, **traits)
        made.append(automl)
        return automl

    yield make
    for automl in made:
        automl.close()


@pytest.fixture
def trained(make_automl, tiny_runs, tmp_path):
    """``(automl, register)``: ``register(name, kind)`` adds a trained version of model ``name``."""
    automl = make_automl()

    def register(name: str, kind: str = "text_classification"):
        return register_trained(automl, name, kind, tiny_runs[kind], tmp_path / "csv" / name)

    return automl, register
