"""The web app in a real browser: Debian's Chromium driven by Playwright against `cartsim app` on a free port.

Screenshots of each page go to tests/experiments/app/screenshots/ (ignored by git; the README's copies are in
experiments/docs/). No browser is downloaded: the project's setup installs Debian's chromium; without it these
tests fail, they do not skip."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from helpers.app_server import start_app, wait_listening

from experiments.app.jobs import CohortJob
from experiments.cohort.spec import load_spec
from experiments.paths import CONFIGS, DATA
from hybrid import MODELS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent / "screenshots"
CONFIG = CONFIGS / "kimmel2021_pfs.toml"
SECRET = "s3cr3t-value-of-the-server"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run ./env.sh (as root it installs Debian's chromium) or "
                    "apt-get install chromium chromium-driver")
    proc, port = start_app(env={"CARTSIM_TEST_SECRET": SECRET})
    line = proc.stdout.readline()
    assert f"http://127.0.0.1:{port}/" in line, line
    wait_listening(port)
    yield proc, f"http://127.0.0.1:{port}"
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    p = browser.new_page(viewport={"width": 1500, "height": 1000})
    p.set_default_timeout(90_000)
    yield p
    p.close()


R_B = MODELS["kimmel2021"].param_names.index("r_B")
"""The patient page has one slider per parameter, in the model's order."""


def _p_cure(page) -> float:
    line = next(ln for ln in page.inner_text("body").splitlines() if "P(cure by day 730), exact:" in ln)
    return float(line.split(":")[-1])


def test_moving_a_slider_changes_the_exact_p_cure(page, server):
    page.goto(server[1] + "/")
    page.get_by_text("P(cure by day 730), exact:").wait_for()
    before = _p_cure(page)
    after = before
    for _ in range(4):  # one key press at a time: a press during the page's update is lost
        slider = page.get_by_role("slider").nth(R_B)
        slider.focus()
        page.keyboard.press("ArrowRight")
        shown = after
        for _ in range(120):
            after = _p_cure(page)
            if after != shown:
                break
            time.sleep(0.25)
    # r_B's slider spans its plausible range (Table 1: 0.01-0.5/day) in log10 steps of 0.01: 0.10 -> 0.1096 /day
    assert page.get_by_role("slider").nth(R_B).get_attribute("aria-valuenow") == "0.04"
    assert after < before - 0.1  # faster tumour growth, fewer cures (exact: 0.7585 -> 0.5421)
    page.screenshot(path=str(SHOTS / "app_patient.png"), full_page=True)


def test_a_bad_value_shows_the_cli_message_next_to_the_field(page, server):
    page.goto(server[1] + "/")
    page.get_by_text("P(cure by day 730), exact:").wait_for()
    box = page.get_by_label("threshold (cells)")
    box.fill("0.5")
    box.press("Enter")
    page.get_by_text("threshold: must be a number >= 1").wait_for()


def test_a_small_cohort_runs_and_shows_its_km_plot(page, server):
    page.goto(server[1] + "/cohort")
    n = page.get_by_label("patients (cohort.n)")
    n.fill("60")
    n.press("Enter")
    page.get_by_role("button", name="Run").click()
    page.get_by_text("done:").wait_for(timeout=180_000)
    page.get_by_text("P(cure) per group").wait_for()
    assert page.locator("img").count() >= 2  # pfs.png, event_times.png, ...
    page.screenshot(path=str(SHOTS / "app_cohort.png"), full_page=True)


def test_a_bad_cohort_setting_shows_the_cli_message(page, server):
    page.goto(server[1] + "/cohort")
    box = page.get_by_label("more settings")
    box.fill("groups.slow.nope=1")
    page.keyboard.press("Tab")  # the text area hands its value over when it loses focus
    page.get_by_role("button", name="Run").click()
    page.get_by_text("groups.slow.nope: unknown key; accepted:").wait_for()  # the line `cartsim run` prints


def test_the_spatial_page_steps(page, server):
    page.goto(server[1] + "/spatial")
    page.get_by_text("(step 0)").wait_for()
    page.get_by_role("button", name="Step").click()
    page.get_by_text("(step 1)").wait_for()
    page.screenshot(path=str(SHOTS / "app_spatial.png"), full_page=True)


def test_cancelled_cohort_leaves_no_files():
    job = CohortJob(load_spec(CONFIG, ["cohort.n=4000"]), workers=1).start()
    d = job.dir
    job.cancel()
    assert job.wait(120) == "cancelled"
    assert job.dir is None and not d.exists()


@pytest.mark.parametrize("port, culprit", [("0", "--port must be 1-65535, got 0"), ("BUSY", "cannot listen on")])
def test_bad_port_exits_2_with_one_line(port, culprit, capsys):
    from experiments.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        p = str(busy.getsockname()[1]) if port == "BUSY" else port
        status = main(["app", "--port", p])
    err = capsys.readouterr().err
    assert status == 2 and culprit in err and len(err.strip().splitlines()) == 1


def _drop(page, name: str, content: str, index: int = 0) -> None:
    """Drop a file named ``name`` on the page's ``index``-th FileDrop, as a browser's drag and drop does (the
    component reads ``dataTransfer.items[i].webkitGetAsEntry().file()``)."""
    page.locator(".solara-file-drop").nth(index).wait_for()
    page.evaluate("""([name, content, index]) => {
        const file = new File([content], name, {type: "text/plain"});
        const entry = {isFile: true, file: (ok) => ok(file)};
        const ev = new Event("drop", {bubbles: true, cancelable: true});
        Object.defineProperty(ev, "dataTransfer", {value: {items: [{webkitGetAsEntry: () => entry}]}});
        document.querySelectorAll(".solara-file-drop")[index].dispatchEvent(ev);
    }""", [name, content, index])


def _settings(page, text: str) -> None:
    box = page.locator("textarea").first  # (its label stops naming it once it holds several lines)
    box.fill(text)
    page.keyboard.press("Tab")  # the text area hands its value over when it loses focus


def _evil_sbml(tmp_path_factory) -> str:
    from hybrid.catalog import get_model
    from hybrid.sbml import export_sbml

    text = Path(export_sbml(get_model("kimmel2021"), tmp_path_factory.mktemp("sbml") / "k.xml")).read_text()
    i = text.index("<ci> B </ci>")
    payload = 'B)\nopen("app-pwned","w").write("x")\ndef _z():\n    return (1'
    return text[:i] + f"<ci>{payload}</ci>" + text[i + len("<ci> B </ci>"):]


def test_a_dropped_file_cannot_be_run_by_its_server_path(page, server, tmp_path_factory):
    """Issue 20, item 3: a dropped SBML file's server path is never shown, and a config naming it (or any
    other server path) is refused."""
    page.goto(server[1] + "/cohort")
    _drop(page, "model.xml", _evil_sbml(tmp_path_factory))
    page.get_by_text("using model.xml").wait_for()
    page.get_by_role("button", name="Run").click()
    page.get_by_text("not valid TOML").wait_for()
    body = page.inner_text("body")
    assert "/tmp" not in body and "cartsim-app-" not in body and "session-" not in body
    saved = sorted(Path(tempfile.gettempdir()).glob("cartsim-app-*/session-*/uploads/model.xml"))
    assert saved  # the attacker's guess of where it lies, from the same machine
    page.goto(server[1] + "/cohort")  # a fresh page: the shipped config, with the path in the settings
    _settings(page, f'cohort.sbml="{saved[-1]}"\ncohort.tumour="B"')
    page.get_by_role("button", name="Run").click()
    page.get_by_text("is not a file of this session").wait_for()
    _settings(page, 'cohort.sbml="/etc/hostname"\ncohort.tumour="B"')
    page.get_by_role("button", name="Run").click()
    page.get_by_text("is not a file of this session").wait_for()
    assert not Path("app-pwned").exists() and not list(Path(tempfile.gettempdir()).glob("**/app-pwned"))


def test_a_dropped_config_cannot_read_server_files(page, server):
    """Issue 20, item 4: a config naming /proc/self/environ as data shows none of the server's environment."""
    page.goto(server[1] + "/cohort")
    _drop(page, "leak.toml", '[cohort]\nn = 10\n[output]\nobserved_pfs_csv = "/proc/self/environ"\n')
    page.get_by_text("using leak.toml").wait_for()
    page.get_by_role("button", name="Run").click()
    page.get_by_text("is not a file of this session").wait_for()
    assert SECRET not in page.inner_text("body")


def test_dropping_a_config_keeps_the_patients_field(page, server):
    """Issue 20, item 13: the inputs keep their values when a dropped file adds a line above them."""
    page.goto(server[1] + "/cohort")
    n = page.get_by_label("patients (cohort.n)")
    n.fill("300")
    n.press("Enter")
    _drop(page, "small.toml", '[cohort]\nn = 50\nseed = 3\n')
    page.get_by_text("using small.toml").wait_for()
    assert page.get_by_label("patients (cohort.n)").input_value() == "300"
    assert page.get_by_label("seed").input_value() == "2021"


def test_the_calibration_page_fits_a_per_patient_csv(page, server):
    """Issue 20, item 12: the README's per-patient CSV is fitted on the Calibration page."""
    page.goto(server[1] + "/calibration")
    text = (DATA / "example_patient.csv").read_text()
    _drop(page, "example_patient.csv", text)
    page.get_by_text("Fitted example_patient.csv").wait_for(timeout=240_000)
    assert page.locator("img").count() >= 1


def test_the_dosing_page_recommends_a_dose(page, server):
    """Issue 24, item 4: the dosing page runs cartsim dose's entry point and shows its answer and curve."""
    page.goto(server[1] + "/dosing")
    page.get_by_role("button", name="Recommend a dose").click()
    page.get_by_text(re.compile(r"cells on '|no dose in range")).wait_for(timeout=240_000)
    page.locator("img").first.wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "app_dosing.png"), full_page=True)


def test_beyond_loopback_the_browser_needs_the_token(browser):
    """Issue 20, item 5: served on 0.0.0.0, the page is refused without its token and works with it (the token
    sets a cookie, so the page's own requests and websocket pass)."""
    proc, port = start_app("--host", "0.0.0.0", "--token", "browser-tok", stderr=subprocess.DEVNULL)
    try:
        assert "?token=browser-tok" in proc.stdout.readline()
        wait_listening(port)
        p = browser.new_page()
        p.set_default_timeout(90_000)
        refused = p.goto(f"http://127.0.0.1:{port}/cohort")
        assert refused.status == 403 and "token" in p.inner_text("body")
        p.goto(f"http://127.0.0.1:{port}/cohort?token=browser-tok")
        p.get_by_role("button", name="Run").wait_for()  # the app itself, over its websocket
        p.close()
    finally:
        proc.terminate()
        proc.wait(30)


def test_ctrl_c_stops_the_app_and_leaves_no_process(server, page):
    """Last in this module: it stops the module's server, while a calibration runs. Its temporary folder (the
    uploads of the tests above) goes with it."""
    proc, url = server
    page.goto(url + "/calibration")
    csv = DATA / "synthetic_pfs.csv"
    _drop(page, "synthetic_pfs.csv", csv.read_text())
    page.get_by_text("fitting synthetic_pfs.csv").wait_for()
    uploads = list(Path(tempfile.gettempdir()).glob("cartsim-app-*/session-*/uploads/*"))
    assert uploads  # the dropped files of the tests above
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {[c.pid for c in alive]}"
    assert not any(p.exists() for p in uploads)
