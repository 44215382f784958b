"""End-to-end in a real browser: JupyterLab + Chromium, draw a box with the mouse, press Ask.

Needs Debian's chromium at /usr/bin/chromium (``apt-get install -y chromium
chromium-driver``) and playwright from pip (never ``playwright install``).
Where chromium is absent the test skips with the reason; with
``EGX_REQUIRE_BROWSER=1`` (set by scripts/test.sh when it runs as root and so
installs chromium) or ``CI=true`` it fails instead.

Screenshots go to ``$EGX_TEST_ARTIFACTS/browser`` (default: ``artifacts/browser``
in the repository, git-ignored); the path is printed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_notebook import CHECKPOINT_ENV, write_notebook

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "egx-browser-test"
NOTEBOOK = "egx_browser_test.ipynb"
REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: JS: the current notebook's kernel is started and idle (JupyterLab 4, ``window.jupyterapp``).
_KERNEL_IDLE = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.sessionContext || !w.content || !w.context || !w.context.isReady) return false;
  const s = w.sessionContext.session;
  return !!(s && s.kernel && s.kernel.status === 'idle');
}"""

#: JS: run cell ``i`` of the current notebook (or all cells for ``i < 0``) without waiting for it.
_RUN_CELL = """(i) => {
  const app = window.jupyterapp;
  const nb = app.shell.currentWidget.content;
  if (i < 0) { app.commands.execute('notebook:run-all-cells'); return true; }
  nb.activeCellIndex = i;
  nb.deselectAll();
  app.commands.execute('notebook:run-cell');
  return true;
}"""


def _browser_required() -> bool:
    return (os.environ.get("EGX_REQUIRE_BROWSER", "") not in ("", "0")
            or os.environ.get("CI", "").lower() in ("1", "true", "yes"))


def _skip_or_fail(reason: str) -> None:
    if _browser_required():
        pytest.fail(reason + " (EGX_REQUIRE_BROWSER=1 or CI=true: the browser test must run here)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        _skip_or_fail(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium "
                      "chromium-driver) to run the real-browser test")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip_or_fail("playwright is not installed: pip install playwright (never `playwright install`)")
    return CHROMIUM


@pytest.fixture
def artifacts(capsys) -> Path:
    folder = Path(os.environ.get("EGX_TEST_ARTIFACTS") or REPO / "artifacts") / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    with capsys.disabled():
        print(f"\nbrowser test screenshots: {folder}")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode("utf-8", "replace")


def _stop(proc: subprocess.Popen, base: str) -> None:
    """Shut the server down politely, then by signal (its whole process group: kernels included)."""
    try:
        req = urllib.request.Request(f"{base}/api/shutdown?token={TOKEN}", method="POST")
        urllib.request.urlopen(req, timeout=5).close()
        proc.wait(timeout=20)
    except Exception:
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


@pytest.fixture
def jupyterlab(tmp_path, talking_checkpoint):
    """A JupyterLab server from this venv on 127.0.0.1, serving a temp folder with the test notebook.

    The kernel loads ``talking_checkpoint`` (tiny_checkpoint with an untied LM head, see
    tests/widgets/conftest.py) so that the answer has visible text to look for.
    """
    root = tmp_path / "nb"
    root.mkdir()
    write_notebook(root, NOTEBOOK)
    config = tmp_path / "jupyter_config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), IPYTHONDIR=str(tmp_path / "ipython"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
               **{CHECKPOINT_ENV: str(talking_checkpoint)})
    log_path = tmp_path / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}", "--no-browser",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                _get(f"{base}/api/status?token={TOKEN}")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer within 120 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, log_path
    finally:
        _stop(proc, base)


def _normalise(text: str) -> str:
    """Printable characters only, whitespace collapsed (the tiny model writes arbitrary bytes)."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def test_draw_a_box_and_ask_in_jupyterlab(chromium, jupyterlab, artifacts):
    from playwright.sync_api import expect, sync_playwright

    base, log_path = jupyterlab
    # the lab is this venv's, with the widget extensions installed
    lab_html = _get(f"{base}/lab?token={TOKEN}")
    assert "jupyter-leaflet" in lab_html and "@jupyter-widgets/jupyterlab-manager" in lab_html

    console: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(60_000)
        page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))

        def shot(name: str) -> None:
            page.screenshot(path=str(artifacts / f"{name}.png"))

        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?reset&token={TOKEN}")
            page.locator(".jp-Notebook").first.wait_for(state="visible", timeout=120_000)
            page.wait_for_function(_KERNEL_IDLE, timeout=180_000, polling=500)
            shot("0-notebook")

            page.evaluate(_RUN_CELL, -1)  # Run > Run All Cells
            # the map with the raster overlay and the chat panel render
            leaflet = page.locator(".egx-map.leaflet-container, .egx-map .leaflet-container").first
            leaflet.wait_for(state="visible", timeout=180_000)
            page.locator(".egx-map .leaflet-image-layer").first.wait_for(state="attached", timeout=60_000)
            page.locator(".egx-chat").wait_for(state="visible", timeout=60_000)
            report = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output")
            expect(report).to_contain_text("N_ANSWERS 0", timeout=120_000)
            page.wait_for_function(_KERNEL_IDLE, timeout=120_000, polling=500)
            leaflet.scroll_into_view_if_needed()
            page.locator(".leaflet-draw-draw-rectangle").first.wait_for(state="visible")
            shot("1-map")

            # draw a box with the mouse: the rectangle tool, then a drag on the raster
            page.locator(".leaflet-draw-draw-rectangle").first.click()
            box = leaflet.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 200
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(cx - 70, cy - 50)
            page.mouse.down()
            page.mouse.move(cx, cy, steps=8)
            page.mouse.move(cx + 60, cy + 40, steps=8)
            page.mouse.up()
            expect(page.locator(".egx-prompts")).to_contain_text("region 1 (box)", timeout=60_000)
            expect(page.locator(".egx-map .egx-prompt-label")).to_have_count(1, timeout=30_000)
            n_paths_before = page.locator(".egx-map .leaflet-overlay-pane path").count()
            assert n_paths_before >= 1  # the drawn box
            shot("2-box-drawn")

            # type a question and press Ask
            page.locator(".egx-question input").fill("What is this?")
            page.locator("button.egx-ask").click()
            history = page.locator(".egx-history")
            expect(history.locator(".egx-msg-model")).to_have_count(1, timeout=240_000)
            expect(history.locator(".egx-msg-user")).to_contain_text("[ask] What is this?")
            expect(page.locator(".egx-error")).to_have_text("", timeout=5_000)
            model_msg = _normalise(history.locator(".egx-msg-model").inner_text())
            assert model_msg.startswith("model:")
            answer_text = model_msg[len("model:"):].strip()
            assert answer_text and answer_text != "(no text)"

            # a result layer appears on the map and in the layer control
            expect(page.locator(".egx-map .leaflet-control-layers-overlays")).to_contain_text(
                "answer 1: ask", timeout=60_000)
            page.wait_for_function(
                "n => document.querySelectorAll('.egx-map .leaflet-overlay-pane path').length > n"
                " && document.querySelectorAll('.egx-map .egx-result-label').length > 0",
                arg=n_paths_before, timeout=60_000)
            expect(page.locator(".egx-progress")).to_be_hidden()
            shot("3-answer")

            # m.answers holds it: run the report cell again and read its output
            page.wait_for_function(_KERNEL_IDLE, timeout=120_000, polling=500)
            page.evaluate(_RUN_CELL, 1)
            expect(report).to_contain_text("N_ANSWERS 1", timeout=120_000)
            out = report.inner_text()
            assert "N_PROMPTS 1 ['box']" in out
            assert "RESULT_LAYERS ['answer 1: ask']" in out
            line = next(ln for ln in out.splitlines() if ln.startswith("LAST_TEXT_JSON"))
            last_text = json.loads(line.split(" ", 1)[1])
            assert isinstance(last_text, str)
            assert _normalise(last_text) == answer_text
            report.scroll_into_view_if_needed()
            shot("4-report")
        except BaseException:
            try:
                shot("failure")
            except Exception:
                pass
            print("--- browser console ---\n" + "\n".join(console[-60:]))
            print("--- jupyterlab log ---\n" + log_path.read_text(errors="replace")[-4000:])
            raise
        finally:
            browser.close()
