"""A real JupyterLab with this checkout's extension, and a real Chromium driven by Playwright.

Each test starts ``jupyter lab`` on a free loopback port with its own config, data, store
and token, so nothing leaks between tests or from the user's own Jupyter set-up. The
labextension is the one built in this checkout (``jupyter_automl/labextension``), put first on
the extension path, so the test exercises the working tree rather than whatever is installed.

Needs Debian's Chromium (``apt-get install chromium``) and the ``playwright`` pip package;
``scripts/install-test-deps.sh`` (run by ``make test``) installs both. Without them the tests
skip, except in CI (``CI`` set) or with ``JUPYTER_AUTOML_REQUIRE_BROWSER=1``, where they fail.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILT_LABEXTENSION = REPO / "jupyter_automl" / "labextension"
CHROMIUM = os.environ.get("JUPYTER_AUTOML_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SIDEBAR_ID = "jupyter-automl-sidebar"
EMPTY_DATASETS = "No datasets yet: upload a CSV (or a zip of images) with Upload dataset."
STARTUP_TIMEOUT_S = 90
UI_TIMEOUT_MS = 60_000


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") or os.environ.get("JUPYTER_AUTOML_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playwright_api():
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("the playwright package is not installed (.ci/install-browser.sh)")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (.ci/install-browser.sh)")
    return sync_api


@pytest.fixture
def browser(playwright_api):
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _labextension_dir() -> Path:
    """The built labextension: this checkout's build, else an installed copy."""
    if (BUILT_LABEXTENSION / "package.json").is_file():
        return BUILT_LABEXTENSION
    from jupyter_core.paths import jupyter_path

    for directory in jupyter_path("labextensions"):
        candidate = Path(directory) / "jupyter-automl"
        if (candidate / "package.json").is_file():
            return candidate
    pytest.fail(
        "the labextension is not built: run `jlpm install && jlpm build` in labextension/ "
        "(or `pip install -e .`)"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Lab:
    url: str  # ends with "/"
    token: str
    store_url: str
    data_dir: Path
    log: Path
    root_dir: Path  # the server's root: what JupyterLab's file browser shows
    automl_config: dict = field(default_factory=dict)  # the server's c.AutoML traits

    def automl(self):
        """The core on the server's store, with the server's own AutoML configuration."""
        from jupyter_automl import AutoML

        return AutoML(store_url=self.store_url, data_dir=str(self.data_dir), **self.automl_config)


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _wait_until_up(proc: subprocess.Popen, url: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    request = urllib.request.Request(f"{url}api/status", headers={"Authorization": f"token {token}"})
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-6000:]}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(f"jupyter lab did not answer in {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-6000:]}")


def _check_api(url: str, token: str, log: Path) -> None:
    """Fail early, with the server's log, when the jupyter_automl server extension did not load."""
    request = urllib.request.Request(
        f"{url}automl/api/datasets", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            json.load(response)
            return
    except urllib.error.HTTPError as error:
        status = error.code
    pytest.fail(
        f"GET automl/api/datasets answered {status}: the jupyter_automl server extension "
        f"did not load or failed.\n{log.read_text()[-6000:]}"
    )


@pytest.fixture
def start_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Lab]]:
    """Start `jupyter lab` with a private config, data dir, store and token."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    procs: list[subprocess.Popen] = []

    def start(settings: dict[str, dict] | None = None, config: dict[str, dict] | None = None) -> Lab:
        """``settings``: JupyterLab user settings by plugin id, e.g.
        ``{"@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}}``;
        ``config``: more server configuration sections, e.g. ``{"AutoML": {...}}``."""
        home = tmp_path / "lab"
        config_dir, data_dir, runtime_dir = home / "config", home / "data", home / "runtime"
        root_dir, settings_dir = home / "root", home / "settings"
        automl_data = tmp_path / "data"
        for directory in (config_dir, data_dir, runtime_dir, root_dir, automl_data):
            directory.mkdir(parents=True, exist_ok=True)
        store_url = f"sqlite:///{tmp_path / 'store.db'}"

        # This checkout's labextension first on the path: it wins over an installed copy.
        extensions = home / "labextensions"
        extensions.mkdir()
        (extensions / "jupyter-automl").symlink_to(_labextension_dir(), target_is_directory=True)

        port, token = _free_port(), secrets.token_hex(16)
        _write_json(
            config_dir / "jupyter_server_config.json",
            {
                "ServerApp": {
                    "jpserver_extensions": {"jupyter_automl": True},
                    "ip": "127.0.0.1",
                    "port": port,
                    "port_retries": 0,
                    "open_browser": False,
                    "allow_root": True,  # CI containers run as root
                    "root_dir": str(root_dir),
                },
                "IdentityProvider": {"token": token},
                "LabApp": {
                    "extra_labextensions_path": [str(extensions)],
                    "user_settings_dir": str(settings_dir),
                    "workspaces_dir": str(home / "workspaces"),
                },
                # The example snapshots take CPU for tens of seconds at start and would make
                # the lists depend on timing; each test creates exactly what it asserts on.
                "AutoMLExtension": {"create_examples_on_start": False},
                **(config or {}),
            },
        )
        for plugin, values in (settings or {}).items():
            package, name = plugin.split(":")
            _write_json(settings_dir / package / f"{name}.jupyterlab-settings", values)
        # No news or update pop-ups over the page (and no network calls for them).
        _write_json(
            settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
            {"fetchNews": "false", "checkForUpdates": False},
        )

        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_DATA_DIR": str(data_dir),
            "JUPYTER_RUNTIME_DIR": str(runtime_dir),
            "JUPYTER_AUTOML_STORE_URL": store_url,
            "JUPYTER_AUTOML_DATA_DIR": str(automl_data),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        log = tmp_path / "jupyter-lab.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterlab", "--no-browser"],
                cwd=root_dir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}/"
        _wait_until_up(proc, url, token, log)
        _check_api(url, token, log)
        return Lab(url=url, token=token, store_url=store_url, data_dir=automl_data, log=log,
                   root_dir=root_dir, automl_config=(config or {}).get("AutoML", {}))

    yield start

    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def open_lab(browser, lab: Lab, tmp_path: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))
    page.goto(f"{lab.url}lab?token={lab.token}")
    tab = page.locator(f'.jp-SideBar .lm-TabBar-tab[data-id="{SIDEBAR_ID}"]')
    try:
        tab.wait_for(state="visible", timeout=UI_TIMEOUT_MS)
        # A fresh workspace ends its restore by opening a Launcher; clicking before that
        # races the layout restorer, which may re-open the file browser over our panel.
        page.locator(".jp-Launcher").first.wait_for(state="visible", timeout=UI_TIMEOUT_MS)
    except Exception:
        page.screenshot(path=str(tmp_path / "lab-did-not-load.png"))
        pytest.fail(
            "JupyterLab or the AutoML sidebar tab never appeared; browser console:\n"
            + "\n".join(console[-40:])
            + f"\nserver log:\n{lab.log.read_text()[-4000:]}"
        )
    page.console = console  # read by _assert_no_page_errors
    return page, tab


def assert_no_page_errors(page) -> None:
    """No uncaught exception in the page, and no failed plugin activation."""
    bad = [
        line
        for line in page.console
        if line.startswith("pageerror:") or "jupyter-automl" in line and line.startswith("error:")
    ]
    assert not bad, "\n".join(bad)


def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``$JUPYTER_AUTOML_SCREENSHOTS`` when set (``make test`` sets it, and
    CI keeps the folder as test artifacts), else the test's temporary folder."""
    folder = Path(os.environ.get("JUPYTER_AUTOML_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
