"""``python serve.py`` for real: uvicorn on 127.0.0.1 and a free port, spoken to by the unmodified
``libretranslatepy`` client and by the page in a real headless browser (Debian's chromium driven by
Playwright), and stopped by SIGTERM while a request is in flight. A tiny random model: seconds."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.conftest import ROOT, run_cli  # noqa: E402
from tests.unit.test_translate import make_checkpoint, make_tokenizer, sentences  # noqa: E402

DECODE = ["decode.device=cpu", "decode.max_len_b=8"]
KEY = "team-key-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(model: Path, workdir: Path, *overrides: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``serve.py model=MODEL`` on a free port, until it answers /health; stopped afterwards."""
    port = free_port()
    log = (workdir / f"serve-{port}.log").open("w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), f"model={model}", f"port={port}", *DECODE,
                             *overrides], cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"serve.py exited with {proc.returncode}:\n{(workdir / log.name).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "health", timeout=2) as r:
                    if json.load(r)["status"] == "ok":
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("serve.py did not answer /health within 120 s")
            time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
        log.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve-live")


@pytest.fixture(scope="module")
def checkpoint(workdir) -> Path:
    return make_checkpoint(workdir / "en-de.pt", make_tokenizer(workdir / "spm"))


@pytest.fixture(scope="module")
def lines_and_translations(workdir, checkpoint) -> tuple[list[str], list[str]]:
    """Lines, and what the ``translate.py`` command writes for them."""
    lines = sentences(12, seed=11)
    (workdir / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = run_cli([str(ROOT / "translate.py"), f"checkpoint={checkpoint}", "input=in.txt", "output=out.txt",
                   "progress=false", *DECODE], cwd=workdir, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return lines, (workdir / "out.txt").read_text(encoding="utf-8").split("\n")[:-1]


@pytest.fixture(scope="module")
def server(workdir, checkpoint) -> Iterator[str]:
    (workdir / "keys.txt").write_text(f"{KEY}\n", encoding="utf-8")
    with running(checkpoint, workdir, "api_keys_file=keys.txt") as (url, _):
        yield url


def test_the_libretranslatepy_client_gets_translate_pys_lines(server, lines_and_translations):
    libretranslatepy = pytest.importorskip("libretranslatepy")
    lines, expected = lines_and_translations
    client = libretranslatepy.LibreTranslateAPI(server, api_key=KEY)
    assert [client.translate(line, "en", "de") for line in lines] == expected
    assert client.languages() == [{"code": "en", "name": "English", "targets": ["de"]},
                                  {"code": "de", "name": "German", "targets": []}]
    with pytest.raises(urllib.error.HTTPError) as refused:
        libretranslatepy.LibreTranslateAPI(server).translate(lines[0], "en", "de")
    assert refused.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as unknown:
        client.translate(lines[0], "en", "fr")
    assert unknown.value.code == 400 and "into de" in json.load(unknown.value)["error"]


def test_it_binds_this_machine_only_by_default(server):
    host = server.split("//")[1].split(":")[0]
    assert host == "127.0.0.1"
    other = outward_address()
    if other is None:
        pytest.skip("this machine has no address besides loopback to try the port on")
    with socket.socket() as s:  # the port is not open on this machine's other address
        s.settimeout(2)
        assert s.connect_ex((other, int(server.rstrip("/").rsplit(":", 1)[1]))) != 0


def outward_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium): the page is tested in a real "
                "browser only")


def test_the_page_translates_as_you_type_in_a_real_browser(server, lines_and_translations):
    executable = chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="the page's test drives chromium with Playwright")
    lines, expected = lines_and_translations
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(server)
            page.wait_for_selector("body[data-ready=true]", timeout=20_000)
            assert page.is_visible("#api-key")  # the server needs a key: the page asks for it
            page.fill("#api-key", KEY)
            assert page.eval_on_selector_all("#source option", "os => os.map(o => o.value)") == ["en"]
            assert page.eval_on_selector_all("#target option", "os => os.map(o => o.value)") == ["de"]
            longest = max(range(len(lines)), key=lambda i: len(lines[i]))
            page.click("#text")
            page.keyboard.type(lines[longest], delay=15)  # faster than the debounce: one request at the end
            page.wait_for_function("e => document.getElementById('translation').textContent === e",
                                   arg=expected[longest], timeout=20_000)
            assert re.fullmatch(r"\d+ ms", page.text_content("#time"))
            assert page.text_content("#error") == ""
            translations = [u for u in requests if u.endswith("/translate")]
            assert 1 <= len(translations) <= 3 < len(lines[longest]), translations  # debounced, not per key
            assert all(u.startswith(server) for u in requests), requests  # nothing from outside
        finally:
            browser.close()


def test_sigterm_finishes_the_request_in_flight_then_exits(workdir, checkpoint, lines_and_translations):
    lines, expected = lines_and_translations
    many = (lines * (600 // len(lines) + 1))[:600]  # a request long enough to be caught in the model
    with running(checkpoint, workdir, "max_chars=1000000") as (url, proc):
        answer: dict = {}

        def ask() -> None:
            body = json.dumps({"q": many, "source": "en", "target": "de"}).encode()
            request = urllib.request.Request(url + "translate", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as r:
                answer.update(status=r.status, body=json.load(r))

        asking = threading.Thread(target=ask)
        asking.start()
        deadline = time.monotonic() + 30
        while "mt_serve_decoding_calls 1.0" not in urllib.request.urlopen(url + "metrics").read().decode():
            assert time.monotonic() < deadline and asking.is_alive(), "the request was never seen in the model"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        asking.join(timeout=120)
        translated = dict(zip(lines, expected, strict=True))
        assert answer == {"status": 200, "body": {"translatedText": [translated[line] for line in many]}}
        assert proc.wait(timeout=60) == 0
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url + "health", timeout=2)


def test_serve_py_answers_help_and_refuses_a_missing_model(workdir):
    out = run_cli([str(ROOT / "serve.py"), "--help"], cwd=workdir)
    assert out.returncode == 0 and "serve.py" in out.stdout and "model=PATH" in out.stdout
    out = run_cli([str(ROOT / "serve.py"), f"model={workdir / 'missing.pt'}"], cwd=workdir)
    assert out.returncode == 2 and "missing.pt does not exist" in out.stderr
