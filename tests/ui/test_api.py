"""``ganprior ui`` over HTTP: it listens on localhost unless told otherwise, two jobs at once keep
their own outputs, a bad upload gets the CLI's one-line message with HTTP 400, and the time
estimate is a measurement."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ganprior import zoo
from ganprior.cli import main
from ganprior.pipeline import resolve_config, resolve_device
from ganprior.ui.jobs import Job, Jobs
from ganprior.ui.params import Models
from ganprior.ui.server import Server

from .conftest import decode, finish, png_of, prior_photo, request, upload


def listening(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at ``port`` (from /proc/net/tcp: state 0A = LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_the_command_listens_on_localhost_only(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ganprior.cli", "ui", "--port", "0", "--model", "fashion32"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://([\d.]+):(\d+)/", line)
        assert match, line + proc.stderr.read()
        host, port = match[1], int(match[2])
        assert host == "127.0.0.1" and listening(port) == {"127.0.0.1"}
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_host_says_where_to_listen():
    server = Server(Models(resolve_device("cpu"), "fashion32"), "127.0.0.2", 0)
    try:
        port = server.socket.getsockname()[1]
        assert server.url == f"http://127.0.0.2:{port}/" and listening(port) == {"127.0.0.2"}
    finally:
        server.socket.close()


def test_without_the_ui_extra_it_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "ganprior.ui.server")
    assert main(["ui", "--port", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "ganprior ui: error: ganprior ui needs the ui extra (uvicorn is missing): pip install 'ganprior[ui]'"
    )


def test_a_bad_upload_gets_the_cli_line_and_400(server, tmp_path, monkeypatch, capsys):
    bad = tmp_path / "holiday.png"
    bad.write_bytes(b"this is not a picture")
    status, answer = request(
        server,
        "/api/restore",
        {"model": "emoji64", "task": "inpaint", "method": "invert", "photo": upload(bad)},
    )
    monkeypatch.chdir(tmp_path)
    code = main(["restore", "holiday.png", "--task", "inpaint", "--model", "emoji64", "--out", "out"])
    cli_line = capsys.readouterr().err.strip()
    assert status == 400 and code == 2
    assert cli_line == f"ganprior restore: error: {answer['error']}"
    assert answer["error"].startswith("cannot decode holiday.png as an image")


def test_a_bad_setting_is_refused_before_any_work(server):
    photo = upload(png_of(np.zeros((8, 8, 3), np.uint8)), "black.png")
    status, answer = request(
        server, "/api/restore", {"model": "emoji64", "task": "sr", "method": "rgi", "photo": photo}
    )
    assert (
        status == 400
        and answer["error"] == "rgi does mask-free inpainting and reconstruction: use --task inpaint, not sr"
    )
    status, answer = request(server, "/api/restore", {"model": "nope", "photo": photo})
    assert status == 400 and answer["error"].startswith("unknown model 'nope'")
    status, answer = request(server, "/api/restore", {"model": "emoji64", "steps": 0, "photo": photo})
    assert status == 400 and answer["error"] == "steps: 0 must be between 1 and 1,000,000"


def test_two_jobs_at_once_keep_their_own_outputs(server):
    photos = [prior_photo("emoji64", seed, (80, 64)) for seed in (1, 2)]
    hole = np.full((64, 80), 255, np.uint8)
    hole[20:44, 24:56] = 0
    jobs = [None, None]

    def submit(k: int) -> None:
        body = {
            "model": "emoji64",
            "task": "inpaint",
            "method": "invert",
            "steps": 15,
            "seed": k,
            "photo": upload(png_of(photos[k]), "photo.png"),  # the same name: nothing may collide
            "mask": upload(png_of(hole), "mask.png"),
        }
        jobs[k] = request(server, "/api/restore", body)[1]["job"]

    threads = [threading.Thread(target=submit, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert jobs[0] != jobs[1]
    known = hole > 127
    for k, job in enumerate(jobs):
        status = finish(server, job)
        assert status["state"] == "done", status["error"]
        entry = status["result"]["results"][0]
        assert entry["restored"].startswith(f"/api/jobs/{job}/")
        image = decode(request(server, entry["restored"])[1])
        assert image.shape == photos[k].shape
        assert np.array_equal(image[known], photos[k][known])  # its own photo, bit for bit
        assert not np.array_equal(image[~known], photos[k][~known])  # the hole from the model
        assert request(server, f"/api/jobs/{job}/preview.png")[0] == 200  # the fit was watched
    name = "photo_invert_restored.png"  # each job serves its own file under the same name
    files = [request(server, f"/api/jobs/{job}/files/{name}")[1] for job in jobs]
    assert [decode(f).shape for f in files] == [p.shape for p in photos] and files[0] != files[1]
    assert request(server, f"/api/jobs/{jobs[0]}/files/..%2F{jobs[1]}%2Fout%2F{name}")[0] == 404


def test_the_estimate_is_the_preset_and_a_measured_pace(server):
    status, answer = request(server, "/api/estimate", {"model": "emoji64", "task": "sr", "method": "invert"})
    assert status == 200
    result = finish(server, answer["job"])["result"]
    assert result["preset_steps"] == resolve_config(zoo.load("emoji64"), "sr", "invert").steps
    assert result["seconds_per_step"] > 0 and result["fixed_seconds"] >= 0


def test_edit_renders_every_class_and_strength(server):
    item = upload(png_of(prior_photo("fashion32", 7, (32, 32))), "item.png")
    answer = request(
        server, "/api/edit", {"action": "transfer", "model": "fashion32", "steps": 10, "images": [item]}
    )[1]
    result = finish(server, answer["job"])
    assert result["state"] == "done", result["error"]
    names = zoo.load("fashion32").card["classes"]
    assert result["result"]["classes"] == names and len(result["result"]["frames"]) == len(names)
    assert result["result"]["reconstructed_as"][0] in names
    body = {
        "action": "direction",
        "model": "fashion32",
        "steps": 10,
        "samples": 40,
        "attribute": "class:trouser",
    }
    answer = request(server, "/api/edit", body | {"images": [item]})[1]
    result = finish(server, answer["job"])["result"]
    assert result["values"] == [0.5 * k for k in range(-6, 7)] and len(result["frames"]) == 13
    assert len(set(result["frames"])) > 1 and 0 <= result["accuracy"] <= 1


def test_edit_and_detect_refuse_what_they_cannot_do(server, tmp_path):
    item = upload(png_of(prior_photo("fashion32", 7, (32, 32))), "item.png")
    status, answer = request(server, "/api/edit", {"action": "morph", "model": "fashion32", "images": [item]})
    assert status == 400 and answer["error"] == "morph takes 2 images, not 1"
    status, answer = request(
        server, "/api/edit", {"action": "transfer", "model": "brick32", "images": [item]}
    )
    assert (
        status == 400
        and answer["error"] == "category transfer needs a class-conditional model; brick32 is not"
    )
    body = {"action": "direction", "model": "fashion32", "attribute": "class:hat", "images": [item]}
    status, answer = request(server, "/api/edit", body)
    assert status == 400 and answer["error"].startswith("unknown class 'hat'")
    broken = upload(b"PK\x03\x04 not really a zip", "parts.zip")
    status, answer = request(server, "/api/detect", {"model": "brick32", "images": [broken]})
    assert status == 400 and answer["error"].startswith("parts.zip is not a readable zip file")
    status, answer = request(server, "/api/detect", {"model": "fashion32", "images": [item]})
    assert status == 400 and answer["error"].startswith("model fashion32 has no calibration for rrgi")


def test_stopping_the_server_cancels_running_jobs(tmp_path):
    jobs = Jobs(tmp_path / "jobs", workers=1)
    job, started = jobs.new("restore"), threading.Event()

    def forever(job: Job) -> dict:
        started.set()
        while True:
            job.advance()
            time.sleep(0.01)

    jobs.submit(job, forever)
    assert started.wait(10)
    jobs.close()  # returns: the job ended at its next step
    assert job.state == "failed" and job.error == "cancelled: the server is stopping"
    assert not (tmp_path / "jobs").exists()
