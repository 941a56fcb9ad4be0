"""One tiny model trained on three pairs (``data.pairs``) through train.py: per-pair valid scores in the
log and TensorBoard, per-pair test scores in results.json, translate.py choosing the target language."""

from __future__ import annotations

import json

from tests.conftest import ROOT, TINY, run_cli
from tests.unit.test_multilingual import write_corpus


def test_three_pairs_in_one_model(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", {"train": 600, "valid": 12, "test": 12})
    run = tmp_path / "run"
    args = [a for a in TINY if not a.startswith(("data.demo_sizes", "trainer.valid_bleu", "trainer.test_at_end"))]
    out = run_cli(["train.py", *args, "data=local", f"data.local_dir={corpus}", "data.pairs=[en-de,en-fr,de-cs]",
                   "data.pair_temperature=2", "tokenizer.vocab_size=70", "tokenizer.byte_fallback=false",
                   f"data.cache_dir={tmp_path / 'cache'}", "trainer.max_steps=20", "trainer.valid_every=20",
                   "trainer.valid_bleu=true", "trainer.test_at_end=true", "decode.beam_size=1",
                   f"hydra.run.dir={run}"], cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    log = (run / "train.log").read_text()
    assert "bleu_en-de" in log and "chrf_de-cs" in log and "pair_temperature 2.0" in log
    results = json.loads((run / "results.json").read_text())
    assert list(results["pairs"]) == ["en-de", "en-fr", "de-cs"]
    assert results["bleu"] == sum(p["bleu"] for p in results["pairs"].values()) / 3
    assert "tok:13a" in results["pairs"]["de-cs"]["signatures"]["bleu"]
    (tmp_path / "in.en").write_text("a man sees the house\n", encoding="utf-8")
    translate = ["translate.py", f"checkpoint={run / 'checkpoints' / 'best.pt'}", f"input={tmp_path / 'in.en'}",
                 "output=-", "progress=false"]
    assert run_cli([*translate, "tgt_lang=fr"], cwd=ROOT).returncode == 0
    untagged = run_cli(translate, cwd=ROOT)
    assert untagged.returncode != 0 and "choose with tgt_lang=XX" in untagged.stderr
    zero_shot = run_cli([*translate, "tgt_lang=cs", "src_lang=en"], cwd=ROOT)
    assert zero_shot.returncode == 0 and "en->cs was never trained" in zero_shot.stderr
