"""The wheel, installed where there is no node, still loads the prebuilt labextension.

The wheel is built once from this checkout (``pip wheel --no-build-isolation``). When the
prebuilt bundle already exists in ``jupyter_automl/labextension`` (the ``skip-if-exists`` target of
the jupyter-builder hook) the build runs with an empty ``PATH``, so it also proves that building
the wheel from built assets needs neither node nor jlpm. The wheel then goes with
``pip install --no-deps`` into a fresh venv that sees the dev environment's dependencies through
a ``.pth`` line, but not the editable install of jupyter_automl (a plain ``.pth`` path line does
not run the ``.pth`` files of the directory it adds) nor the dev prefix's
``share/jupyter/labextensions/jupyter-automl`` symlink to this checkout (Jupyter's data path
is the new venv's prefix, with ``JUPYTER_PATH``, the user dirs and ``HOME`` all private).
Every command runs with ``PATH`` = the new venv's ``bin`` only, which has no node, npm or jlpm.

JupyterLab's own core assets come from the dev environment's prefix, like its other
dependencies. Skipped only when the bundle is not built and node is not there to build it.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "jupyter_automl" / "labextension"
VERSION = json.loads((ROOT / "labextension" / "package.json").read_text(encoding="utf-8"))["version"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
NODE_TOOLS = ("node", "nodejs", "npm", "npx", "jlpm", "yarn")
# The console scripts the checks run, from the dev environment's distributions.
SCRIPTS = ("jupyter", "jupyter-labextension", "jupyter-server", "jupyter-lab")
STARTUP_TIMEOUT_S = 90


def _prebuilt() -> bool:
    static = BUILT / "static"
    return (
        (BUILT / "package.json").is_file()
        and (static / "style.js").is_file()  # pyproject's skip-if-exists target
        and any(static.glob("remoteEntry.*.js"))
    )


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    out = ANSI.sub("", done.stdout + done.stderr)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} exited {done.returncode}:\n{out}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    prebuilt = _prebuilt()
    if not prebuilt and shutil.which("node") is None:
        pytest.skip("the labextension is not built (jupyter_automl/labextension) and there is "
                    "no node to build it")
    from importlib.util import find_spec

    missing = [m for m in ("hatchling", "hatch_jupyter_builder", "hatch_nodejs_version")
               if find_spec(m) is None]
    assert not missing, f"the build plugins {missing} are not installed: pip install -e '.[test]'"
    tmp = tmp_path_factory.mktemp("wheel")
    empty_bin = tmp / "bin"
    empty_bin.mkdir()
    # With the bundle built, nothing on PATH: the build must not reach for node or jlpm.
    path = str(empty_bin) if prebuilt else os.pathsep.join(
        [os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {"PATH": path, "HOME": str(tmp), "PIP_CONFIG_FILE": os.devnull, "PYTHONNOUSERSITE": "1"}
    started = time.monotonic()
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-cache-dir", "-q", "-w", str(tmp / "dist"), str(ROOT)],
         env, cwd=tmp, timeout=600 if not prebuilt else 120)
    print(f"wheel built in {time.monotonic() - started:.1f} s")
    (built,) = (tmp / "dist").glob("jupyter_automl-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("nonode")
    prefix = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True,
                   timeout=120)
    bin_dir = prefix / "bin"
    python = bin_dir / "python"
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    # Dependencies from the dev environment, after the venv's own site-packages.
    dev_sites = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "_dev_dependencies.pth").write_text("".join(f"{p}\n" for p in dev_sites))

    home = tmp / "home"
    for name in ("config", "data", "runtime", "root"):
        (home / name).mkdir(parents=True)
    env = {
        "PATH": str(bin_dir),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "JUPYTER_PATH": "",
        "JUPYTER_CONFIG_PATH": "",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_AUTOML_DATA_DIR": str(tmp / "automl-data"),
        "JUPYTER_AUTOML_STORE_URL": f"sqlite:///{tmp / 'store.db'}",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    # --ignore-installed: pip sees the dev environment's (editable) jupyter_automl through the
    # .pth and must neither uninstall nor reuse it; the wheel goes under the new prefix.
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", "--no-index",
          "--no-compile", str(wheel)], env, cwd=tmp)

    # The venv has no jupyter scripts of its own (its dependencies are not installed in it):
    # write them like pip would, for the entry points of the dev environment's distributions.
    from importlib.metadata import entry_points

    for ep in entry_points(group="console_scripts"):
        if ep.name in SCRIPTS and not (bin_dir / ep.name).exists():
            module, _, attr = ep.value.partition(":")
            script = bin_dir / ep.name
            script.write_text(
                f"#!{python}\nimport sys\nfrom {module} import {attr.split('.')[0]} as _entry\n"
                f"sys.exit(_entry{''.join('.' + a for a in attr.split('.')[1:])}())\n"
            )
            script.chmod(0o755)
    missing = [name for name in SCRIPTS if not (bin_dir / name).exists()]
    assert not missing, f"no console scripts {missing} in the dev environment"
    return {"prefix": prefix, "bin": bin_dir, "python": python, "env": env, "tmp": tmp,
            "home": home}


def _jupyter(venv: dict, *args: str) -> str:
    return _run([str(venv["bin"] / "jupyter"), *args], venv["env"], cwd=venv["tmp"])


def _sections(listing: str) -> dict[str, str]:
    """`jupyter ... list` output: the text under each directory header line, by directory."""
    sections: dict[str, str] = {}
    current = ""
    for line in listing.splitlines():
        header = re.match(r"(?:Config dir: )?(/\S*)\s*$", line)
        if header:
            current = header.group(1)
        else:
            sections[current] = sections.get(current, "") + line + "\n"
    return sections


def test_no_node_on_the_path(venv):
    found = {tool: shutil.which(tool, path=venv["env"]["PATH"]) for tool in NODE_TOOLS}
    assert not any(found.values()), found


def test_the_wheel_installs_the_prebuilt_bundle_into_the_venv(venv):
    prefix = venv["prefix"]
    labext = prefix / "share" / "jupyter" / "labextensions" / "jupyter-automl"
    assert labext.is_dir() and not labext.is_symlink(), labext
    assert labext.resolve().is_relative_to(prefix.resolve()), labext.resolve()
    package = json.loads((labext / "package.json").read_text(encoding="utf-8"))
    assert package["name"] == "jupyter-automl" and package["version"] == VERSION
    load = labext / package["jupyterlab"]["_build"]["load"]
    assert re.fullmatch(r"remoteEntry\.\w+\.js", load.name) and load.is_file(), load
    assert (labext / "static" / "style.js").is_file()
    assert json.loads((labext / "install.json").read_text())["packageName"] == "jupyter_automl"
    assert (prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "jupyter_automl.json").is_file()

    module = _run([str(venv["python"]), "-c", "import jupyter_automl; print(jupyter_automl.__file__)"],
                  venv["env"], cwd=venv["tmp"]).strip()
    assert Path(module).resolve().is_relative_to(prefix.resolve()), module


def test_labextension_list_shows_it_enabled_and_ok_from_the_venv(venv):
    listing = _jupyter(venv, "labextension", "list")
    assert str(ROOT) not in listing, listing
    sections = _sections(listing)
    ours = {d: text for d, text in sections.items() if "jupyter-automl" in text}
    venv_labext = str(venv["prefix"] / "share" / "jupyter" / "labextensions")
    assert list(ours) == [venv_labext], listing
    assert re.search(rf"jupyter-automl v{re.escape(VERSION)} enabled\s+OK", ours[venv_labext]), listing


def test_server_extension_list_shows_it_enabled_and_ok_from_the_venv(venv):
    listing = _jupyter(venv, "server", "extension", "list")
    venv_config = str(venv["prefix"] / "etc" / "jupyter")
    enabled = [d for d, text in _sections(listing).items()
               if re.search(r"jupyter_automl\s+enabled", text)]
    assert enabled == [venv_config], listing
    assert re.search(r"jupyter_automl [\d.]+\S* OK", listing), listing


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, token: str) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, url
        return response.read()


def test_jupyter_lab_serves_the_bundle_from_the_venv(venv):
    """A real `jupyter lab` of the new venv: the page lists the federated extension, its
    remoteEntry is served, and the server extension answers."""
    port, token = _free_port(), secrets.token_hex(16)
    (venv["home"] / "config" / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"ip": "127.0.0.1", "port": port, "port_retries": 0, "open_browser": False,
                      "allow_root": True, "root_dir": str(venv["home"] / "root")},
        "IdentityProvider": {"token": token},
        "AutoMLExtension": {"create_examples_on_start": False},
    }))
    log = venv["tmp"] / "jupyter-lab.log"
    url = f"http://127.0.0.1:{port}/"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(venv["bin"] / "jupyter"), "lab", "--no-browser"],
                                env=venv["env"], cwd=venv["home"] / "root",
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-6000:]}")
            try:
                _get(f"{url}api/status", token)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer:\n{log.read_text()[-6000:]}")
                time.sleep(0.25)

        page = _get(f"{url}lab", token).decode()
        config = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                           page, re.S)
        assert config, page[:2000]
        federated = json.loads(html.unescape(config.group(1)))["federated_extensions"]
        ours = [ext for ext in federated if ext["name"] == "jupyter-automl"]
        assert len(ours) == 1, federated
        entry = _get(f"{url}lab/extensions/jupyter-automl/{ours[0]['load']}", token)
        assert b"jupyter-automl" in entry, entry[:500]
        json.loads(_get(f"{url}automl/api/datasets", token))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
