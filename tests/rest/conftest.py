from __future__ import annotations

import pytest

@pytest.fixture
def jp_server_config(tmp_path, tiny_base_models):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_automl": True}},
        "AutoML": {
            "store_url": f"sqlite:///{tmp_path / 'rest-store.db'}",
            "data_dir": str(tmp_path / "rest-data"),
            "base_models": tiny_base_models,
        },
        "AutoMLExtension": {"create_examples_on_start": False},
    }


@pytest.fixture
def automl(jp_serverapp):
    """The core instance the running server uses."""
    return jp_serverapp.web_app.settings["automl"]
