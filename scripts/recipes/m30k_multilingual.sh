#!/usr/bin/env bash
# One English->{German, French, Czech} model against three bilingual models with the same total
# training minutes, and the reverse direction German->English, on Multi30k on a CPU
# (docs/benchmarks.md, "Many pairs in one model"). Every run is the multi30k_en_de recipe with
# $THREADS threads (dropout 0.1 throughout: trainer.budget_dropout=null).
# Stages (STAGES="..."):
#   g1      the multilingual model ($MIN minutes) beside the three bilingual ones ($MIN/3 minutes each,
#           one after the other), so both sides share the machine alike;
#   reverse German->English on the full corpus ($MIN minutes), alone or beside other work.
#
#   bash scripts/recipes/m30k_multilingual.sh [M30K_DIR]
#
# Validation is part of each budget. With data.pairs, trainer.valid_bleu_max_sentences is shared out
# equally among the pairs, so a validation of the multilingual model decodes as many sentences as one
# of a bilingual model, and over the same total minutes both sides decode about the same number.
set -euo pipefail
M30K=$(realpath "${1:-../shared/data/multi30k}")
MIN=${MIN:-30}
THREADS=${THREADS:-1}
STAGES=${STAGES:-"g1 reverse"}
PAIRS=${PAIRS:-"en-de en-fr en-cs"}
COMMON=(data.local_dir="$M30K" trainer.threads="$THREADS" trainer.budget_dropout=null trainer.progress=false)

train() {  # run_id overrides... -> logs into outputs/multi30k_en_de/<run_id>/train.log
  local id=$1; shift
  python train.py experiment=multi30k_en_de run_id="$id" "${COMMON[@]}" "$@" > "outputs/.$id.out" 2>&1
}
has() { [[ " $STAGES " == *" $1 "* ]]; }

if has g1; then
  read -r -a pairs <<< "$PAIRS"
  joined=$(IFS=,; echo "${pairs[*]}")
  train m30k-multi "data.pairs=[$joined]" trainer.budget_min="$MIN" &
  (
    share=$(python -c "print($MIN / ${#pairs[@]})")
    for pair in "${pairs[@]}"; do
      train "m30k-bi-$pair" data.src_lang="${pair%-*}" data.tgt_lang="${pair#*-}" trainer.budget_min="$share"
    done
  ) &
  wait
fi
if has reverse; then
  train m30k-de-en-full data.src_lang=de data.tgt_lang=en trainer.budget_min="$MIN"
fi
