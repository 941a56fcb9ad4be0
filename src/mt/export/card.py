"""The model card (README.md) of a Hugging Face export: what the model was trained on, how, and how
well it did, with the sacreBLEU signatures that make the scores comparable."""

from __future__ import annotations

from typing import Any

from mt.data.sources import SOURCES


def _training_data(data: dict[str, Any]) -> str:
    source = data.get("source")
    # A checkpoint may name a source this version does not have: say only its name.
    where = SOURCES[source].describe(data) if source in SOURCES else f"source `{source}`"
    return (f"- Corpus `{data.get('name')}`: {where}.\n"
            f"- Cleaning: Unicode {data.get('normalize') or 'no'} normalisation, at most "
            f"{data.get('max_words')} words and {data.get('max_tokens_per_sentence')} subwords per sentence, "
            f"length ratio <= {data.get('max_length_ratio')}, deduplication {data.get('dedup')}.")


def _yaml_block(section: dict[str, Any]) -> str:
    return "\n".join(f"{key}: {value}" for key, value in section.items())


def _scores(results: dict[str, Any] | None) -> str:
    if not results:
        return "No test scores were recorded for this checkpoint (no `results.json` in its run directory).\n"
    if "bleu" not in results:  # a run with trainer.test_at_end=false writes results.json without them
        return "No test scores were recorded for this checkpoint (its run did not score the test split).\n"
    lines = ["| split | BLEU | chrF | TER | sentences |", "|---|---|---|---|---|",
             f"| {results.get('split', 'test')} | {results['bleu']:.2f} | {results['chrf']:.2f} | "
             f"{results['ter']:.2f} | {results.get('num_sentences', '?')} |"]
    signatures = results.get("signatures", {})
    sig = "\n".join(f"- {name}: `{value}`" for name, value in signatures.items())
    chosen = results.get("chosen") or {}
    why = f" Chosen on valid: {chosen['why']}." if chosen.get("why") else ""
    return ("\n".join(lines) + f"\n\nScored checkpoint: `{results.get('checkpoint')}` after "
            f"{results.get('steps')} updates.{why} sacreBLEU signatures:\n\n{sig}\n")


def _vocabulary(tokenizer: dict[str, Any], vocab: dict[str, Any]) -> str:
    kind = tokenizer.get("model_type", "")
    if vocab.get("src_size") is None:
        return (f"- Joint SentencePiece {kind} model, {vocab['size']} pieces, shared by source and target "
                f"(`source.spm` and `target.spm` are the same file).")
    return (f"- Separate SentencePiece {kind} models: {vocab['src_size']} source pieces (`source.spm`, "
            f"`vocab.json`) and {vocab['size']} target pieces (`target.spm`, `target_vocab.json`).")


def model_card(info: dict[str, Any], model_cfg: dict[str, Any], train_cfg: dict[str, Any] | None,
               results: dict[str, Any] | None, beam_size: int) -> str:
    """The README.md text. ``train_cfg`` is the checkpoint's whole training config (None for old
    checkpoints), ``results`` the run's results.json (None if absent)."""
    src, tgt = info["src_lang"], info["tgt_lang"]
    name = (train_cfg or {}).get("name", "mt model")
    data = _training_data(train_cfg["data"]) if train_cfg and "data" in train_cfg else "- Not recorded."
    tokenizer = (train_cfg or {}).get("tokenizer", {})
    optim = (train_cfg or {}).get("optim", {})
    return f"""---
language:
- {src}
- {tgt}
tags:
- translation
- marian
library_name: transformers
pipeline_tag: translation
---

# {name}: {src} -> {tgt}

A Transformer encoder-decoder (Vaswani et al. 2017) trained with mt, exported from `{info['checkpoints'][0]}`
(update {info['step']}) to the `MarianMTModel` format.

```python
from transformers import MarianMTModel, MarianTokenizer

tokenizer = MarianTokenizer.from_pretrained("PATH/TO/THIS/DIRECTORY")
model = MarianMTModel.from_pretrained("PATH/TO/THIS/DIRECTORY")
batch = tokenizer(["A man is riding a bike."], return_tensors="pt", padding=True)
print(tokenizer.batch_decode(model.generate(**batch), skip_special_tokens=True))
```

## Training data

{data}
{_vocabulary(tokenizer, info['vocab'])}

## Model and training

```yaml
{_yaml_block(model_cfg)}
```

Optimiser: AdamW, lr {optim.get('lr')}, {optim.get('schedule')} schedule,
{optim.get('warmup_steps')} warm-up steps, label smoothing {optim.get('label_smoothing')}.

## Test scores

Beam {beam_size}, GNMT length penalty, with mt's own decoder:

{_scores(results)}
## Decoding notes

Generation starts from `<s>` (`decoder_start_token_id`), never produces `<pad>` or `<s>`, and forces
`</s>` at the length limit, as mt's search does. Greedy search here gives mt's greedy output. Beam
search ranks hypotheses by `log_prob / length ** length_penalty` in `transformers`, while mt uses the
GNMT penalty `log_prob / ((5 + length) / 6) ** alpha`, so beam outputs can differ slightly from the
scores above.
"""
