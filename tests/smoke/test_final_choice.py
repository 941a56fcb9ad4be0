"""The model scored on the test split is chosen on valid, between best.pt and the average of the last
N step checkpoints, and results.json says which and why."""

from __future__ import annotations

import json

import pytest
import torch

from mt import checkpoint as ckpt
from mt.config import train_config
from mt.train.run import final_evaluation
from mt.train.trainer import Trainer
from tests.conftest import ROOT, TINY, compose_train

RUN = ["trainer.max_steps=30", "trainer.valid_every=10", "trainer.save_every=10", "trainer.keep_last=3",
       "trainer.average_last=3", "trainer.test_at_end=true", "trainer.best_metric=loss"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_cache):
    """A tiny run that stopped at step 30 with best.pt and three step checkpoints."""
    run_dir = tmp_path_factory.mktemp("choice") / "run"
    cfg = train_config(compose_train([*TINY, f"data.cache_dir={tiny_cache}", *RUN], run_dir, ROOT))
    trainer = Trainer(cfg, run_dir)
    reason = trainer.train()
    yield trainer, reason
    trainer.close()


@pytest.mark.parametrize("average_is_better", [True, False])
def test_the_model_better_on_valid_is_tested(trained, monkeypatch, average_is_better):
    trainer, reason = trained
    best_loss = -trainer.best_score
    average_loss = best_loss - 0.5 if average_is_better else best_loss + 0.5
    evaluated = []

    def evaluate(samples_step=None):  # the average's validation, with a loss the test sets
        evaluated.append([v.clone() for v in trainer.model.state_dict().values()])
        return {"loss": average_loss, "nll": average_loss, "ppl": 1.0}

    monkeypatch.setattr(trainer.validator, "evaluate", evaluate)
    results = final_evaluation(trainer, reason)
    on_disk = json.loads((trainer.run_dir / "results.json").read_text())
    assert on_disk["checkpoint"] == results["checkpoint"]
    averaged = trainer.ckpt_dir / "averaged_last3.pt"
    expected = averaged if average_is_better else trainer.ckpt_dir / ckpt.BEST
    assert results["checkpoint"] == str(expected)
    chosen = results["chosen"]
    assert chosen["checkpoint"] == expected.name and chosen["by"] == "valid loss"
    assert chosen["valid"] == {"best.pt": pytest.approx(best_loss, abs=1e-4),
                               "averaged_last3.pt": pytest.approx(average_loss, abs=1e-4)}
    assert chosen["why"].startswith(f"{expected.name} scored")
    # Only the average was validated here (best.pt keeps the score it was kept for), with its own weights,
    # and the weights tested are those of the chosen file.
    average_weights = ckpt.load_checkpoint(averaged)["model"]
    assert len(evaluated) == 1
    assert all(torch.equal(a, b) for a, b in zip(evaluated[0], average_weights.values(), strict=True))
    tested = ckpt.load_checkpoint(expected)["model"]
    assert all(torch.equal(trainer.model.state_dict()[k], v) for k, v in tested.items())
    assert "bleu" in results and results["num_sentences"] == 50
