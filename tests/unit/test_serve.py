"""serve.py's app with FastAPI's TestClient, on tiny random models (seconds): translations equal
translate.py's line for line, requests that arrive together are decoded together in order, every bad
input gets a status and leaves the server answering, API keys, multilingual directions, CTranslate2."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from mt.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from mt.config import ConfigError, DecodeConfig, ServeConfig, TranslateConfig, serve_config  # noqa: E402
from mt.decode.run import translate_file  # noqa: E402
from mt.serve.app import language_list  # noqa: E402
from mt.serve.engine import LanguageError, engine_for  # noqa: E402
from mt.serve.run import build_app  # noqa: E402
from mt.serve.sentences import segmenter, split  # noqa: E402
from mt.utils.cpu import usable_cores  # noqa: E402
from mt.utils.errors import MTError  # noqa: E402
from tests.unit.test_translate import make_checkpoint, make_tokenizer, sentences  # noqa: E402

DECODE = DecodeConfig(device="cpu", max_len_b=8)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serve")
    tokenizer = make_tokenizer(root / "spm")
    single = make_checkpoint(root / "en-de.pt", tokenizer)
    state = load_checkpoint(make_checkpoint(root / "tmp.pt", tokenizer, seed=1, src_lang="en", tgt_lang="de+fr"))
    state["pairs"] = ["en-de", "en-fr"]
    save_checkpoint(state, root / "pairs.pt")
    return {"root": root, "single": single, "pairs": root / "pairs.pt"}


def translate_py(model: Path, lines: list[str], tmp: Path, **overrides) -> list[str]:
    """What ``translate.py`` writes for ``lines`` (its job, in this process)."""
    (tmp / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = TranslateConfig(decode=DECODE, checkpoint=[str(model)], input=str(tmp / "in.txt"),
                          output=str(tmp / "out.txt"), progress=False, **overrides)
    translate_file(cfg)
    return (tmp / "out.txt").read_text(encoding="utf-8").split("\n")[:-1]


def client_for(model: Path, **overrides) -> TestClient:
    cfg = ServeConfig(decode=DECODE, model_path=str(model), **{"max_wait_ms": 5.0, **overrides})
    return TestClient(build_app(cfg))


@pytest.fixture(scope="module")
def client(models):
    with client_for(models["single"]) as c:
        yield c


def post(client: TestClient, **body):
    return client.post("/translate", json={"source": "en", "target": "de", **body})


def test_translations_equal_translate_py_line_for_line(client, models, tmp_path):
    """One sentence per line (no sentence ends inside a line): q as a list, and q as one text with
    the lines in it, give translate.py's output file, empty lines included."""
    lines = sentences(40, seed=3)
    lines[5] = ""
    expected = translate_py(models["single"], lines, tmp_path)
    answer = post(client, q=lines)
    assert answer.status_code == 200, answer.text
    assert answer.json()["translatedText"] == expected
    assert post(client, q="\n".join(lines)).json()["translatedText"] == "\n".join(expected)
    assert post(client, q=lines[0]).json() == {"translatedText": expected[0]}


def test_concurrent_requests_are_batched_and_keep_order(models, tmp_path):
    lines = sentences(12, seed=4)
    expected = translate_py(models["single"], lines, tmp_path)
    with client_for(models["single"], max_wait_ms=800) as client:
        with ThreadPoolExecutor(len(lines)) as pool:
            answers = list(pool.map(lambda line: post(client, q=line), lines))
        assert [a.json()["translatedText"] for a in answers] == expected
        metrics = client.app.state.metrics
        calls = metrics.value("mt_serve_batch_requests_count")
        singles = metrics.value("mt_serve_batch_requests_bucket", {"le": "1.0"})
        assert calls < len(lines) and singles < calls, (calls, singles)  # some call decoded several requests
        assert metrics.value("mt_serve_batch_requests_sum") == len(lines)


def test_paragraphs_are_split_into_sentences_and_joined_back(client, models, tmp_path):
    text = "the small dog sees a cat. der Hund läuft!  a red house\n\n  the cat walks?\r\n"
    found, layout = split(text, segmenter("en"))
    assert found == ["the small dog sees a cat.", "der Hund läuft!", "a red house", "the cat walks?"]
    assert layout.join(found) == text
    expected = translate_py(models["single"], found, tmp_path)
    joined = f"{expected[0]} {expected[1]}  {expected[2]}\n\n  {expected[3]}\r\n"
    assert post(client, q=text).json()["translatedText"] == joined


BAD = [
    ("malformed JSON", dict(content=b'{"q": "a dog", ', headers={"Content-Type": "application/json"}), 400, "malformed JSON"),
    ("a JSON list", dict(json=["a dog"]), 400, "must be an object"),
    ("missing q", dict(json={"source": "en", "target": "de"}), 400, "missing q"),
    ("q a number", dict(json={"q": 7, "source": "en", "target": "de"}), 400, "q must be"),
    ("q a nested list", dict(json={"q": [["a"]], "source": "en", "target": "de"}), 400, "q must be"),
    ("missing target", dict(json={"q": "a dog", "source": "en"}), 400, "missing target"),
    ("unknown target", dict(json={"q": "a dog", "source": "en", "target": "fr"}), 400, "into de"),
    ("not a language", dict(json={"q": "a dog", "source": "en", "target": "xx-!!"}), 400, "into de"),
    ("unknown source", dict(json={"q": "a dog", "source": "ja", "target": "de"}), 400, "from en"),
    ("auto without identifier", dict(json={"q": "a dog", "source": "auto", "target": "de"}), 400, "language_id"),
    ("html", dict(json={"q": "<b>a</b>", "source": "en", "target": "de", "format": "html"}), 400, "format=text"),
    ("too long", dict(json={"q": "a " * 3000, "source": "en", "target": "de"}), 413, "max_chars"),
    ("too long as a list", dict(json={"q": ["a dog " * 500] * 2, "source": "en", "target": "de"}), 413, "max_chars"),
    ("body over the limit", dict(content=b"q=" + b"a" * 200_000, headers={"Content-Type": "application/x-www-form-urlencoded"}), 413, "limit"),
    ("binary garbage", dict(content=bytes(range(256)) * 4, headers={"Content-Type": "application/json"}), 400, "UTF-8"),
    ("binary garbage, no type", dict(content=b"\xff\xfe\x00\x81garbage"), 400, "UTF-8"),
    ("binary as a form", dict(content=b"\x00\x01\x02", headers={"Content-Type": "application/x-www-form-urlencoded"}), 400, "missing q"),
    ("octet-stream", dict(content=b"abc", headers={"Content-Type": "application/octet-stream"}), 415, "JSON"),
    ("lone surrogate", dict(content=b'{"q": "a \\ud800 dog", "source": "en", "target": "de"}', headers={"Content-Type": "application/json"}), 400, "surrogate"),
]


@pytest.mark.parametrize("name, request_kwargs, status, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_a_status_and_the_next_request_is_answered(client, name, request_kwargs, status, message):
    answer = client.post("/translate", **request_kwargs)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    good = post(client, q="the dog")
    assert good.status_code == 200 and good.json()["translatedText"]


def test_forms_and_query_strings_are_read_as_libretranslate_reads_them(client):
    """libretranslatepy sends a form; q may come in the query string too."""
    expected = post(client, q="the red cat").json()["translatedText"]
    form = client.post("/translate", data={"q": "the red cat", "source": "en", "target": "de"})
    assert form.json() == {"translatedText": expected}
    assert client.post("/translate?source=en&target=de", data={"q": "the red cat"}).json()["translatedText"] == expected
    assert client.post("/translate", json={"q": "", "source": "en", "target": "de"}).json() == {"translatedText": ""}
    assert client.post("/translate", json={"q": [], "source": "en", "target": "de"}).json() == {"translatedText": []}


class Gate:
    """Wraps an engine's decoding so that calls block until ``open``: requests then queue up behind a
    call in progress, deterministically. Records each call's number of lines."""

    def __init__(self, engine, fail_on: str | None = None):
        self.engine, self.nbest, self.fail_on = engine, engine.nbest, fail_on
        self.opened, self.entered, self.calls = threading.Event(), threading.Semaphore(0), []
        engine.nbest = self

    def __call__(self, lines):
        self.calls.append(len(lines))
        self.entered.release()
        assert self.opened.wait(30), "the gate was never opened"
        if self.fail_on and any(self.fail_on in line for line in lines):
            raise RuntimeError("CUDA error: an illegal memory access")  # what a broken batch looks like
        return self.nbest(lines)

    def wait_for_call(self) -> None:
        assert self.entered.acquire(timeout=30), "no decoding call started"


def wait_for_depth(client: TestClient, depth: int) -> None:
    deadline = time.monotonic() + 10
    while client.app.state.service.batcher.depth < depth:
        assert time.monotonic() < deadline, f"the queue never held {depth} requests"
        time.sleep(0.005)


def test_a_full_queue_answers_503_with_retry_after(models):
    with client_for(models["single"], max_queue=1, retry_after_s=3) as client:
        gate = Gate(client.app.state.service.engine)
        with ThreadPoolExecutor(2) as pool:
            decoding = pool.submit(post, client, q="the dog")
            gate.wait_for_call()  # the first request is in the model
            waiting = pool.submit(post, client, q="the house")
            wait_for_depth(client, 1)  # the second waits for it
            refused = post(client, q="the cat")
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "3"
            assert "busy" in refused.json()["error"]
            gate.opened.set()
            assert decoding.result().status_code == 200 and waiting.result().status_code == 200
        assert post(client, q="the cat").status_code == 200
        assert client.app.state.metrics.value("mt_serve_errors_total", {"reason": "queue_full"}) == 1


def test_one_request_failing_in_the_model_fails_alone(models):
    with client_for(models["single"]) as client:
        good_lines = ["the dog", "a small house", "der Hund"]
        expected = [post(client, q=line).json()["translatedText"] for line in good_lines]
        gate = Gate(client.app.state.service.engine, fail_on="Katze Katze Katze")
        with ThreadPoolExecutor(5) as pool:
            blocker = pool.submit(post, client, q="the red car")
            gate.wait_for_call()
            goods = [pool.submit(post, client, q=line) for line in good_lines]
            bad = pool.submit(post, client, q="Katze Katze Katze")
            wait_for_depth(client, 4)  # all four wait behind the blocker, for one call
            gate.opened.set()
            answers = [g.result() for g in goods]
        assert blocker.result().status_code == 200
        assert bad.result().status_code == 500 and "illegal memory access" in bad.result().json()["error"]
        assert [a.json()["translatedText"] for a in answers] == expected
        assert gate.calls[:2] == [1, 4]  # the four in one call, which failed, then each alone
        assert sorted(gate.calls[2:]) == [1, 1, 1, 1]
        assert post(client, q="the dog").json()["translatedText"] == expected[0]


def test_a_lone_request_does_not_wait_for_others(models):
    """With no call running, a request is decoded at once, whatever max_wait_ms."""
    with client_for(models["single"], max_wait_ms=10_000) as client:
        post(client, q="the dog")  # warm up
        start = time.perf_counter()
        assert post(client, q="the cat").status_code == 200
        assert time.perf_counter() - start < 5.0


def test_decode_calls_run_side_by_side(models):
    """decode_calls=2: a second call starts while the first is in the model; with 1 it waits."""
    with client_for(models["single"], decode_calls=2) as client:
        gate = Gate(client.app.state.service.engine)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(post, client, q="the dog")
            gate.wait_for_call()
            second = pool.submit(post, client, q="the cat")
            gate.wait_for_call()  # entered while the first is still blocked
            gate.opened.set()
            assert first.result().status_code == second.result().status_code == 200
    with client_for(models["single"]) as client:
        assert client.app.state.service.batcher.calls == 1  # mt's decoder: one call uses every core
        gate = Gate(client.app.state.service.engine)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(post, client, q="the dog")
            gate.wait_for_call()
            second = pool.submit(post, client, q="the cat")
            wait_for_depth(client, 1)
            assert not gate.entered.acquire(timeout=0.3)  # no second call while the first runs
            gate.opened.set()
            assert first.result().status_code == second.result().status_code == 200
        assert gate.calls == [1, 1]


def test_api_keys(models):
    keys = models["root"] / "keys.txt"
    keys.write_text("# keys of the team\nsecret-1\n\nsecret-2\n", encoding="utf-8")
    with client_for(models["single"], api_keys_file=str(keys)) as client:
        assert post(client, q="the dog").status_code == 403
        assert post(client, q="the dog", api_key="nope").status_code == 403
        assert "API key" in post(client, q="the dog", api_key="nope").json()["error"]
        assert post(client, q="the dog", api_key="secret-2").status_code == 200
        assert client.post("/translate", data={"q": "a", "source": "en", "target": "de",
                                               "api_key": "secret-1"}).status_code == 200
        assert client.get("/languages").status_code == 200  # as LibreTranslate: no key for the list
        assert client.get("/frontend/settings").json()["keyRequired"] is True


def test_languages_lists_a_pairs_models_targets_and_serves_each(models, tmp_path):
    lines = sentences(10, seed=6)
    with client_for(models["pairs"]) as client:
        langs = client.get("/languages").json()
        assert langs[0] == {"code": "en", "name": "English", "targets": ["de", "fr"]}
        assert {lang["code"] for lang in langs} == {"en", "de", "fr"}
        for target in ("de", "fr"):
            expected = translate_py(models["pairs"], lines, tmp_path, tgt_lang=target)
            assert post(client, q=lines, target=target).json()["translatedText"] == expected
        assert post(client, q=lines, target="deu").json()["translatedText"] == translate_py(
            models["pairs"], lines, tmp_path, tgt_lang="de")
        unknown = post(client, q="the dog", target="cs")
        assert unknown.status_code == 400 and "de, fr" in unknown.json()["error"]
        back = post(client, q="der Hund", source="de", target="en")
        assert back.status_code == 400 and "from en" in back.json()["error"]


def test_source_auto_with_a_language_identifier(models):
    pytest.importorskip("langid")
    with client_for(models["pairs"], language_id="langid") as client:
        answer = post(client, q="the dog sees the cat", source="auto")
        assert answer.status_code == 200, answer.text
        assert answer.json()["detectedLanguage"] == {"confidence": 100.0, "language": "en"}
        assert answer.json()["translatedText"] == post(client, q="the dog sees the cat").json()["translatedText"]
        assert client.post("/detect", data={"q": "the dog"}).json() == [{"confidence": 100.0, "language": "en"}]


def test_health_metrics_and_the_page(client):
    assert client.get("/health").json()["status"] == "ok"
    post(client, q="the dog")
    text = client.get("/metrics").text
    for name in ("mt_serve_requests_total", "mt_serve_errors_total", "mt_serve_request_seconds_bucket",
                 "mt_serve_batch_requests_bucket", "mt_serve_batch_sentences_bucket", "mt_serve_queue_depth"):
        assert name in text
    assert 'mt_serve_requests_total{endpoint="/translate",status="200"}' in text
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("static/app.js", "static/style.css"):
        assert asset in page.text and client.get(f"/{asset}").status_code == 200
    for body in (page.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        assert "http://" not in body and "https://" not in body and "//cdn" not in body  # nothing from outside
    missing = client.get("/nothing-here")
    assert missing.status_code == 404 and "error" in missing.json()


def exported_ct2(checkpoint: Path, directory: Path, quantization: str) -> Path:
    """``checkpoint`` converted to CTranslate2 in ``directory``."""
    pytest.importorskip("ctranslate2")
    from mt.decode.ct2_convert import export_ctranslate2
    from mt.decode.load import load_for_inference

    loaded, tokenizer, info = load_for_inference([checkpoint], "cpu")
    export_ctranslate2(loaded[0], tokenizer, info, directory, quantization)
    return directory


def test_ctranslate2_export_serves_as_translate_py(models, tmp_path):
    exported_ct2(models["single"], tmp_path / "ct2", "none")
    lines = sentences(20, seed=8)
    expected = translate_py(models["single"], lines, tmp_path, backend="ctranslate2",
                            model_dir=str(tmp_path / "ct2"))
    with client_for(tmp_path / "ct2") as client:
        assert post(client, q=lines).json()["translatedText"] == expected
        assert client.get("/languages").json() == [
            {"code": "en", "name": "English", "targets": ["de"]}, {"code": "de", "name": "German", "targets": []}]
    with pytest.raises(MTError, match="precision"):  # refused at start, not at the first request
        build_app(ServeConfig(decode=DecodeConfig(device="cpu", precision="bf16"), model_path=str(tmp_path / "ct2")))


def test_int8_ctranslate2_serves_as_translate_py_however_requests_are_grouped(models, tmp_path):
    """An int8 export (whose kernels change a padded sentence's result) gives translate.py's lines
    whether they come one by one, all at once, or in lists of any size from concurrent clients; the
    server runs one decoding call per CTranslate2 worker."""
    exported_ct2(models["single"], tmp_path / "int8", "int8")
    lines = sentences(48, seed=11)
    expected = translate_py(models["single"], lines, tmp_path, backend="ctranslate2",
                            model_dir=str(tmp_path / "int8"))
    rng = random.Random(0)
    groups, start = [], 0
    while start < len(lines):
        size = rng.randint(1, 7)
        groups.append((start, lines[start:start + size]))
        start += size
    with client_for(tmp_path / "int8", max_wait_ms=50) as client:
        assert client.app.state.service.batcher.calls == usable_cores()  # one per worker, one worker per core
        assert post(client, q=lines).json()["translatedText"] == expected
        assert [post(client, q=line).json()["translatedText"] for line in lines[:8]] == expected[:8]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda group: post(client, q=group[1]), groups))
        for (first, group), answer in zip(groups, answers, strict=True):
            assert answer.json()["translatedText"] == expected[first:first + len(group)]


def test_serve_config_is_checked_and_decodes_as_translate_py(tmp_path):
    from mt.utils.compose import compose_config

    served = compose_config("serve", ["model_path=m.pt", f"work_dir={tmp_path}"])
    assert served["decode"] == compose_config("translate", [f"work_dir={tmp_path}"])["decode"]
    assert served["host"] == "127.0.0.1"
    assert serve_config(served).model_path == "m.pt"
    for bad, message in ((dict(model_path=None), "model=PATH"), (dict(port=70000), "port"),
                         (dict(max_queue=0), "max_queue"), (dict(decode={**served["decode"], "nbest": 2}), "nbest")):
        with pytest.raises(ConfigError, match=message):
            serve_config({**served, **bad})


def test_translate_and_languages_answer_json_as_libretranslate(client):
    answer = client.post("/translate", content=json.dumps({"q": "the dog", "source": "en", "target": "de"}))
    assert answer.status_code == 200 and set(answer.json()) == {"translatedText"}


def test_a_marian_directory_serves_as_translate_py(models, tmp_path):
    pytest.importorskip("transformers")
    from mt.decode.load import load_for_inference
    from mt.export.hf import export_huggingface

    loaded, tokenizer, info = load_for_inference([models["single"]], "cpu")
    export_huggingface(loaded[0], tokenizer, info, tmp_path / "hf", beam_size=1, card="")
    lines = sentences(10, seed=9)
    expected = translate_py(tmp_path / "hf", lines, tmp_path)
    with client_for(tmp_path / "hf") as client:
        assert [lang["code"] for lang in client.get("/languages").json()] == ["en", "de"]
        assert post(client, q=lines).json()["translatedText"] == expected


def test_a_multi_target_marian_model_serves_each_of_its_tokens():
    """OPUS-MT's en-mul style: targets are the vocabulary's >>xxx<< tokens, asked for by any spelling."""
    class Tokens:
        def language_tokens(self):
            return [">>deu<<", ">>cmn_Hans<<", ">>zho_Hant<<"]

    engine = engine_for(lambda lines: [], Tokens(), {"src_lang": "en", "tgt_lang": "?", "pairs": []})
    assert language_list(SimpleNamespace(engine=engine))[0] == {
        "code": "en", "name": "English", "targets": ["de", "zh-Hans", "zh-Hant"]}
    assert engine.resolve("eng", "zh") == ("en", "cmn_Hans")
    assert engine.resolve("en", "zh-Hant") == ("en", "zho_Hant")
    assert engine.steer(["a dog", "", ">>deu<< a cat"], "en", "zho_Hant") == [">>zho_Hant<< a dog", "", ">>deu<< a cat"]
    with pytest.raises(LanguageError, match="deu, cmn_Hans, zho_Hant"):
        engine.resolve("en", "fr")
    with pytest.raises(MTError, match="src_lang=XX"):
        engine_for(lambda lines: [], Tokens(), {"src_lang": "?", "tgt_lang": "?", "pairs": []}, path="opus-mt-mul-mul")


def test_an_unknown_language_identifier_is_refused_before_the_model_loads(tmp_path):
    with pytest.raises(MTError, match="language_id='cld3' is not one of langid"):
        build_app(ServeConfig(model_path=str(tmp_path / "not-loaded.pt"), language_id="cld3"))


def test_clients_answered_together_join_the_next_call():
    """When a call ends, the next one waits (up to max_wait_ms) for the clients it answered to send
    their next requests, so that closed-loop clients are not split into two halves taking turns; once
    they have, it goes at once."""
    from mt.serve.batcher import Batcher
    from mt.serve.metrics import Metrics

    calls, gate = [], threading.Event()

    def translate(lines):
        calls.append(list(lines))
        assert gate.wait(10)
        return [line.upper() for line in lines]

    async def run() -> None:
        batcher = Batcher(translate, len, max_batch_tokens=1000, max_wait_ms=5000, max_queue=16, metrics=Metrics())
        batcher.start()
        first = batcher.submit(["a1"])  # the decoder is idle: a call starts with it at once
        while not calls:
            await asyncio.sleep(0.005)
        waiting = [batcher.submit([f"b{i}"]) for i in range(3)]  # queue behind it
        gate.set()
        assert await first == ["A1"]
        await asyncio.sleep(0.3)  # the client of a1 takes its time; b1-b3 wait for it, not 5 s
        assert len(calls) == 1
        second = batcher.submit(["a2"])
        assert await asyncio.wait_for(asyncio.gather(second, *waiting), 2) == [["A2"], ["B0"], ["B1"], ["B2"]]
        assert calls[1] == ["b0", "b1", "b2", "a2"]
        await batcher.close()

    asyncio.run(run())
