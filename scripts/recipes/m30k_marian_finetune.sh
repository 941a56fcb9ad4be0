#!/usr/bin/env bash
# Fine-tuning a Marian-format parent with separate vocabularies on Multi30k English->German, timed on a
# CPU (docs/benchmarks.md, "Fine-tuning a Marian parent"):
#   parent   a post-norm 6+6 Transformer in OPUS-MT's conventions (swish, an output bias, one SentencePiece
#            model per side) of width $SHAPE (default d 256: OPUS-MT's d 512 buys too few updates on two
#            cores to make a trained parent), trained $PARENT_MIN minutes on $PARENT_THREADS threads, then
#            exported to a transformers MarianMTModel directory (separate_vocabs), as OPUS-MT models come;
#   children the opus_mt_finetune recipe from that directory (with the parent's shape), one run per
#            learning rate and warm-up in $SETTINGS ("lr:warmup ..."), two at a time side by side on one
#            thread each, $CHILD_MIN minutes.
#
#   bash scripts/recipes/m30k_marian_finetune.sh [M30K_DIR]
#
# Runs: outputs/multi30k_en_de/$TAG-parent and outputs/opus_mt_finetune/$TAG-lr<lr>-w<warmup>; the
# minutes of each stage go to outputs/$TAG-chain.txt. A stage whose runs have written results.json is
# skipped, so calling the script again after a crash goes on where it stopped.
set -euo pipefail
M30K=$(realpath "${1:-../shared/data/multi30k}")
TAG=${TAG:-m30k-marian}
PARENT_MIN=${PARENT_MIN:-30}
read -r -a SHAPE <<< "${SHAPE:-model.d_model=256 model.n_heads=4 model.ffn_dim=1024}"
PARENT_THREADS=${PARENT_THREADS:-2}
CHILD_MIN=${CHILD_MIN:-10}
read -r -a SETTINGS <<< "${SETTINGS:-1e-4:100 2e-3:300 3e-4:100 3e-5:100}"
CHAIN=outputs/$TAG-chain.txt
mkdir -p outputs

. "$(dirname "$0")/chain.sh"

PARENT=outputs/multi30k_en_de/$TAG-parent
if ! done_run "multi30k_en_de/$TAG-parent"; then
  t0=$(clock)
  # OPUS-MT's conventions, trained from scratch: post-norm 6+6 wants a lower peak than the 3+3 recipe's
  # 2e-3 (fairseq's post-norm 6+6 IWSLT de-en Transformer: 5e-4).
  train multi30k_en_de "$TAG-parent" model.encoder_layers=6 model.decoder_layers=6 "${SHAPE[@]}" \
    model.activation=swish model.output_bias=true tokenizer.joint=false optim.lr=7e-4 optim.warmup_steps=300 \
    trainer.budget_dropout=null trainer.budget_min="$PARENT_MIN" trainer.threads="$PARENT_THREADS"
  note "parent: $(minutes "$t0" "$(clock)") min"
fi
HF=$PARENT/marian
if [[ ! -f $HF/config.json ]]; then
  CHOSEN=$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['checkpoint'])" "$PARENT/results.json")
  python scripts/export.py checkpoint="$CHOSEN" format=huggingface output="$HF" > "outputs/.$TAG-export.out" 2>&1
fi

pids=() ids=()
finish() {  # wait for the runs in flight; either failure fails the chain
  local failed=0 i
  for i in "${!pids[@]}"; do
    if joined "${ids[$i]}" "${pids[$i]}"; then note "child ${ids[$i]}: $(minutes "$t0" "$(clock)") min"; else failed=1; fi
  done
  pids=() ids=()
  (( failed == 0 )) || exit 1
}
for setting in "${SETTINGS[@]}"; do
  lr=${setting%%:*} warmup=${setting##*:}
  id=$TAG-lr$lr-w$warmup
  done_run "opus_mt_finetune/$id" && continue
  (( ${#pids[@]} == 0 )) && t0=$(clock)
  train opus_mt_finetune "$id" trainer.init_from="$(realpath "$HF")" "${SHAPE[@]}" optim.lr="$lr" optim.warmup_steps="$warmup" \
    trainer.threads=1 trainer.budget_min="$CHILD_MIN" &
  pids+=($!) ids+=("$id")
  (( ${#pids[@]} == 2 )) && finish
done
(( ${#pids[@]} == 0 )) || finish
