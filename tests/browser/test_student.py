"""The course as a student meets it: JupyterLab in Chromium, driven by Playwright.

1. notebook 01: Run All; no error output, every figure rendered, a screenshot;
2. notebook 05: moving the step-size slider redraws the explorer's plot;
3. exercise 01: a correct implementation PASSES its check, a sign error FAILS with a hint;
4. the server refuses API requests without the token.

All tests in this file run in one pytest-xdist worker (``--dist loadscope``) against one server.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import nbformat
import pytest

RUN_TIMEOUT_MS = 300_000  # a notebook may take its whole 180 s budget, and the browser adds its own work
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the visible tab


def open_notebook(page, lab, path: str) -> None:
    """Open ``path`` and wait until its cells are rendered and its kernel has started and is idle."""
    page.goto(lab.page_url(path))
    cells = len(nbformat.read(lab.root / path, as_version=4).cells)
    page.wait_for_function("n => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').length >= n", arg=cells)
    page.locator("#jp-main-statusbar", has_text=re.compile(r"\| Idle")).wait_for(timeout=RUN_TIMEOUT_MS)
    news = page.get_by_role("button", name="No", exact=True)  # "get notified about Jupyter news?"
    if news.count():
        news.first.click()
    wait_idle(page)


def wait_idle(page, timeout: int = RUN_TIMEOUT_MS) -> None:
    """Wait until the kernel is idle and no cell is queued or running ("[*]")."""
    page.wait_for_function(
        """() => {
            const indicator = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
            const busy = indicator && indicator.getAttribute('data-status') !== 'idle';
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt')];
            return !busy && indicator !== null && !prompts.some(p => p.textContent.includes('*'));
        }""", timeout=timeout, polling=500)


def run_command(page, menu: str, command: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(f".lm-Menu-item[data-command='{command}']").click()


def output_text(cell) -> str:
    return "\n".join(cell.locator(".jp-OutputArea-output").all_inner_texts())


def stored_figures(path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_run_all_of_notebook_01(page, lab, tmp_path):
    open_notebook(page, lab, "notebooks/01_autoencoders.ipynb")
    # clear the stored outputs first, so every figure checked below was drawn in this browser session
    run_command(page, "Edit", "editmenu:clear-all")
    assert page.locator(f"{PANEL} .jp-OutputArea-output img").count() == 0
    run_command(page, "Run", "runmenu:run-all")
    page.wait_for_timeout(1000)
    wait_idle(page)
    texts = "\n".join(page.locator(f"{PANEL} .jp-OutputArea-output").all_inner_texts())
    assert "Traceback" not in texts and "Error" not in texts.replace("reconstruction error", ""), texts[-2000:]
    images = page.locator(f"{PANEL} .jp-OutputArea-output img")
    assert images.count() >= stored_figures(lab.root / "notebooks/01_autoencoders.ipynb")
    assert all(images.nth(i).evaluate("img => img.naturalWidth > 100") for i in range(images.count()))
    shot = tmp_path / "01_autoencoders.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_step_size_slider_of_notebook_05_redraws(page, lab):
    open_notebook(page, lab, "notebooks/05_minimax.ipynb")
    explorer = page.locator(f"{PANEL} .jp-CodeCell", has_text="widgets.explore(").first
    explorer.click()
    run_command(page, "Run", "notebook:run-all-above")
    wait_idle(page)
    explorer.click()
    page.keyboard.press("Shift+Enter")
    slider = explorer.locator(".widget-slider", has_text="step size α")
    slider.wait_for()
    readout, plot = slider.locator(".widget-readout"), explorer.locator(".widget-interact img").last
    plot.wait_for()
    before_value, before_plot = readout.inner_text(), plot.get_attribute("src")
    slider.locator(".noUi-handle").focus()
    for _ in range(20):
        page.keyboard.press("ArrowRight")
    # the interactive output is redrawn (a new <img>): poll the re-resolved locator
    deadline = time.monotonic() + 30
    while plot.get_attribute("src") == before_plot and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert plot.get_attribute("src") != before_plot, "moving the slider did not redraw the plot"
    assert float(readout.inner_text()) > float(before_value) + 0.1, (before_value, readout.inner_text())


def test_exercise_verdicts(page, lab):
    open_notebook(page, lab, "exercises/01_autoencoders.ipynb")
    cells = page.locator(f"{PANEL} .jp-CodeCell")
    index = next(i for i in range(cells.count()) if "def reconstruction_loss" in cells.nth(i).inner_text())
    assert "raise NotImplementedError" in cells.nth(index).inner_text()
    exercise, check = cells.nth(index), cells.nth(index + 1)
    assert "check.reconstruction_loss" in check.inner_text()
    exercise.click()
    run_command(page, "Run", "notebook:run-all-above")
    wait_idle(page)

    def submit(source: str) -> str:
        exercise.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(source)
        page.keyboard.press("Shift+Enter")  # runs the exercise, selects the check cell
        page.keyboard.press("Shift+Enter")  # runs the check
        page.wait_for_timeout(500)
        wait_idle(page, 60_000)
        return output_text(check)

    correct = ("def reconstruction_loss(x_hat, x):\n"
               "    return (x_hat - x).pow(2).flatten(start_dim=1).sum(dim=1).mean()\n")
    verdict = submit(correct)
    assert verdict.startswith("PASSED reconstruction_loss"), verdict
    sign_error = ("def reconstruction_loss(x_hat, x):\n"
                  "    return -(x_hat - x).pow(2).flatten(start_dim=1).sum(dim=1).mean()\n")
    verdict = submit(sign_error)
    assert verdict.startswith("FAILED reconstruction_loss") and "Hint:" in verdict, verdict
    assert "Traceback" not in verdict


@pytest.mark.parametrize("path", ["/api/contents", "/api/kernels", "/api/sessions"])
def test_server_refuses_requests_without_the_token(lab, path):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(lab.url + path, timeout=10)
    assert refused.value.code == 403
    with urllib.request.urlopen(f"{lab.url}{path}?token={lab.token}", timeout=10) as ok:
        assert ok.status == 200
        json.loads(ok.read())
