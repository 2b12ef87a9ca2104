"""The web app in a real browser: Debian's Chromium driven by Playwright against `cartsim app` on a free port.

Screenshots of each page go to tests/screenshots/ (ignored by git; the README's come from here). No browser is
downloaded: the project's setup installs Debian's chromium; without it these tests fail, they do not skip."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from experiments.jobs import CohortJob

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent / "screenshots"
CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "kimmel2021_pfs.toml"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run ./env.sh (as root it installs Debian's chromium) or "
                    "apt-get install chromium chromium-driver")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from experiments.cli import main; raise SystemExit(main())",
                             "app", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    line = proc.stdout.readline()
    assert f"http://127.0.0.1:{port}/" in line, line
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
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


def _p_cure(page) -> float:
    line = next(ln for ln in page.inner_text("body").splitlines() if "P(cure by day 730), exact:" in ln)
    return float(line.split(":")[-1])


def test_moving_a_slider_changes_the_exact_p_cure(page, server):
    page.goto(server[1] + "/")
    page.get_by_text("P(cure by day 730), exact:").wait_for()
    before = _p_cure(page)
    after = before
    for _ in range(4):  # one key press at a time: a press during the page's update is lost
        slider = page.get_by_role("slider").nth(3)  # K_C, N0, C0, r_B, ...
        slider.focus()
        page.keyboard.press("ArrowRight")
        shown = after
        for _ in range(120):
            after = _p_cure(page)
            if after != shown:
                break
            time.sleep(0.25)
    assert page.get_by_role("slider").nth(3).get_attribute("aria-valuenow") == "0.01"  # r_B 0.10 -> 0.11 /day
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
    job = CohortJob(CONFIG, ["cohort.n=4000"], workers=1).start()
    d = job.dir
    job.cancel()
    assert job.wait(120) == "cancelled"
    assert job.dir is None and not d.exists()


def test_ctrl_c_stops_the_app_and_leaves_no_process(server):
    proc, _ = server
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {[c.pid for c in alive]}"


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
