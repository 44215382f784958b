"""End-to-end in a real browser: JupyterLab + Chromium, draw a box with the mouse, press Ask.

Needs Debian's chromium at /usr/bin/chromium (``apt-get install -y chromium
chromium-driver``) and playwright from pip (never ``playwright install``). Where
chromium is absent the test skips; under CI (env ``CI`` set) it fails instead.
Screenshots go to ``$EGX_TEST_ARTIFACTS`` (default: pytest's tmp dir).
"""

from __future__ import annotations

import json
import os
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

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        reason = (f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium "
                  "chromium-driver) to run the real-browser test")
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set: this test must run in CI)")
        pytest.skip(reason)
    pytest.importorskip("playwright.sync_api", reason="playwright (pip) is needed for the browser test")
    return CHROMIUM


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("EGX_TEST_ARTIFACTS") or tmp_path / "artifacts") / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode("utf-8", "replace")


@pytest.fixture
def jupyterlab(tmp_path, tiny_checkpoint):
    """A JupyterLab server from this venv on 127.0.0.1, serving a temp folder with the test notebook."""
    root = tmp_path / "nb"
    root.mkdir()
    write_notebook(root)
    config = tmp_path / "jupyter_config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               IPYTHONDIR=str(tmp_path / "ipython"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               **{CHECKPOINT_ENV: str(tiny_checkpoint)})
    log = open(tmp_path / "jupyterlab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.open_browser=False", f"--ServerApp.token={TOKEN}", f"--notebook-dir={root}",
         "--ServerApp.port_retries=0", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                _get(f"{base}/api/status?token={TOKEN}")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not answer within 90 s")
                time.sleep(0.5)
        yield base
    finally:
        try:
            req = urllib.request.Request(f"{base}/api/shutdown?token={TOKEN}", method="POST")
            urllib.request.urlopen(req, timeout=5).close()
            proc.wait(timeout=15)
        except Exception:
            pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


def test_draw_a_box_and_ask_in_jupyterlab(chromium, jupyterlab, artifacts):
    from playwright.sync_api import expect, sync_playwright

    # the lab is this venv's, with the widget extensions installed
    lab_html = _get(f"{jupyterlab}/lab?token={TOKEN}")
    assert "jupyter-leaflet" in lab_html and "@jupyter-widgets/jupyterlab-manager" in lab_html

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.set_default_timeout(60_000)

            def shot(name: str) -> None:
                page.screenshot(path=str(artifacts / f"{name}.png"))

            page.goto(f"{jupyterlab}/lab/tree/egx_browser_test.ipynb?reset&token={TOKEN}")
            page.locator(".jp-Notebook").first.wait_for(state="visible", timeout=90_000)
            expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=90_000)
            # Run > Run All Cells
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator(".lm-Menu-item[data-command='notebook:run-all-cells']").click()

            # the map with the raster overlay and the chat panel render
            leaflet = page.locator(".egx-map .leaflet-container, .egx-map.leaflet-container").first
            leaflet.wait_for(state="visible", timeout=120_000)
            page.locator(".leaflet-image-layer").first.wait_for(state="attached", timeout=30_000)
            page.locator(".egx-chat").wait_for(state="visible", timeout=30_000)
            expect(page.locator(".jp-OutputArea-output", has_text="N_ANSWERS 0")).to_be_visible(timeout=60_000)
            leaflet.scroll_into_view_if_needed()
            shot("1-map")

            # draw a box with the mouse: rectangle tool, then drag on the map
            page.locator(".leaflet-draw-draw-rectangle").first.click()
            box = leaflet.bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(cx - 70, cy - 50)
            page.mouse.down()
            page.mouse.move(cx + 10, cy + 10, steps=8)
            page.mouse.move(cx + 70, cy + 50, steps=8)
            page.mouse.up()
            expect(page.locator(".egx-prompts")).to_contain_text("region 1 (box)", timeout=30_000)
            n_paths_before = page.locator(".leaflet-overlay-pane path").count()
            assert n_paths_before >= 1  # the drawn box
            shot("2-box-drawn")

            # type a question and press Ask
            page.locator(".egx-question input").fill("What is this?")
            page.locator("button.egx-ask").click()
            history = page.locator(".egx-history")
            expect(history).to_contain_text("model:", timeout=120_000)
            expect(page.locator(".egx-error")).to_have_text("", timeout=5_000)
            text = history.locator(".egx-msg-model").last.inner_text()
            answer_text = text.split(":", 1)[1].strip()
            # a result layer appears on the map and in the layer control
            expect(page.locator(".leaflet-control-layers-overlays")).to_contain_text("answer 1", timeout=30_000)
            page.wait_for_function(
                "n => document.querySelectorAll('.leaflet-overlay-pane path').length > n"
                " || document.querySelectorAll('.egx-result-label').length > 0",
                arg=n_paths_before, timeout=30_000)
            shot("3-answer")

            # m.answers holds it: run the report cell again and read its output
            page.locator(".jp-Cell").nth(1).locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            report = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output")
            expect(report).to_contain_text("N_ANSWERS 1", timeout=60_000)
            expect(report).to_contain_text("N_PROMPTS 1 ['box']")
            assert answer_text[:30] in report.inner_text()
            shot("4-report")
        finally:
            browser.close()
