"""The web app's limits and file rule without a browser (issue 20, items 5, 10, 17): uploads, job slots, cohort
size, Cancel, the token beyond loopback."""

import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers.app_server import start_app, wait_listening

from experiments.app import files as app_files
from experiments.app.jobs import CohortJob
from experiments.cohort.spec import load_spec
from experiments.paths import CONFIGS
from hybrid.errors import CartsimError

CONFIG = CONFIGS / "kimmel2021_pfs.toml"


@pytest.mark.parametrize("name", ["..", ".", "", "/", "a/.."])
def test_an_upload_named_like_a_directory_is_refused(name, tmp_path):
    with pytest.raises(CartsimError, match="not a file name"):
        app_files.save_upload(tmp_path, name, b"x")


def test_an_upload_is_kept_in_its_area_under_a_safe_name(tmp_path):
    p = app_files.save_upload(tmp_path, "../../etc/evil name;$(x).toml", b"x")
    assert p.parent == tmp_path / "uploads" and p.name == "evil_name___x_.toml"


def test_an_upload_over_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(app_files.ENV_MAX_UPLOAD_MB, "0.5")
    with pytest.raises(CartsimError, match="over the upload limit"):
        app_files.save_upload(tmp_path, "big.csv", b"0" * 2**20)


def test_messages_show_no_server_folder(tmp_path):
    area = app_files.session_dir("test-session")
    msg = f"{area}/uploads/model.xml: not valid TOML; see {app_files.PACKAGE}/configs/kimmel2021_pfs.toml"
    out = app_files.public(msg)
    assert out == "model.xml: not valid TOML; see kimmel2021_pfs.toml"
    app_files.end_session("test-session")
    assert not area.exists()


def test_a_cohort_over_the_servers_size_limit_is_refused(monkeypatch):
    monkeypatch.setenv(app_files.ENV_MAX_PATIENTS, "1000")
    with pytest.raises(CartsimError, match="over this server's limit of 1,000"):
        CohortJob(load_spec(CONFIG, ["cohort.n=1000000000"]))


def test_the_server_runs_at_most_its_job_limit(monkeypatch):
    monkeypatch.setattr(app_files, "_running", None)
    monkeypatch.setenv(app_files.ENV_MAX_JOBS, "1")
    first = app_files.JobSlot().acquire()
    with pytest.raises(CartsimError, match="already running 1 job"):
        app_files.JobSlot().acquire()
    first.release()
    app_files.JobSlot().acquire().release()


def test_cancel_ends_every_thread_before_it_says_cancelled(monkeypatch):
    monkeypatch.setattr(app_files, "_running", None)
    job = CohortJob(load_spec(CONFIG, ["cohort.n=400000"]), workers=2).start()
    while job.done_chunks == 0 and job.state == "running":
        time.sleep(0.05)
    job.cancel()
    assert job.wait(300) == "cancelled"
    assert not [t for t in threading.enumerate() if t.name.startswith("cartsim")]
    assert job.dir is None


def test_beyond_loopback_the_app_warns_and_needs_its_token():
    before = set(Path(tempfile.gettempdir()).glob("cartsim-app-*"))
    proc, port = start_app("--host", "0.0.0.0", "--token", "tok-123", stderr=subprocess.PIPE)
    try:
        warning = proc.stderr.readline()
        assert "WARNING" in warning and "0.0.0.0" in warning
        assert "?token=tok-123" in proc.stdout.readline()
        wait_listening(port)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30)
        assert refused.value.code == 403
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/?token=wrong", timeout=30)
        ok = urllib.request.urlopen(f"http://127.0.0.1:{port}/?token=tok-123", timeout=60)
        assert ok.status == 200 and any("cartsim_token=tok-123" in c for c in ok.headers.get_all("set-cookie"))
    finally:
        proc.terminate()  # SIGTERM, as a service manager stops it
        proc.wait(30)
    assert proc.returncode == 143
    left = set(Path(tempfile.gettempdir()).glob("cartsim-app-*")) - before
    assert not left, f"the server's folder outlived it: {left}"
