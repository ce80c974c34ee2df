from __future__ import annotations

import pytest

from jupyter_automl import AutoML
from tests.serving import register_trained, train_runs


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
