#!/usr/bin/env bash
# Back-translation, distillation and fine-tuning measured on Multi30k English->German on a CPU
# (docs/benchmarks.md, "Models that build on models"). Every training run is the multi30k_en_de recipe
# on a budget of $MIN minutes with $THREADS threads; two runs go side by side, so a 2-core machine is
# busy and the runs compared with each other (bt and half; student-kd and student-ref) share it alike.
# Stages (STAGES="..."): split, g1 (reverse model, fine-tuning), translate, g2 (with and without
# back-translation), g3 (the student with and without distillation), finetune (alone), g4 (a smaller
# student, 6+1 at d 192 with its own 4k BPE, for $STUDENT_MIN minutes, with and without distillation), g5 (the
# same student on the references joined by the teacher's translations, data.synthetic.mode=join).
#
#   bash scripts/recipes/m30k_synthetic.sh TEACHER.pt [M30K_DIR]
#
# TEACHER.pt: a multi30k_en_de recipe checkpoint (the teacher, and the parent of the fine-tuning run).
# Writes outputs/<experiment>/m30k-syn-*/ and the data halves under $WORK (default outputs/m30k-halves):
# the first 14,500 training pairs as parallel text, the German of the other 14,500 as monolingual text.
set -euo pipefail
TEACHER=${1:?usage: m30k_synthetic.sh TEACHER.pt [M30K_DIR]}
M30K=$(realpath "${2:-../shared/data/multi30k}")
WORK=${WORK:-outputs/m30k-halves}
MIN=${MIN:-10}
THREADS=${THREADS:-1}
STAGES=${STAGES:-"split g1 translate g2 g3"}
COMMON=(trainer.budget_min="$MIN" trainer.threads="$THREADS" trainer.budget_dropout=null trainer.progress=false)
HALF=(data.local_dir="$WORK" data.name=m30k-half)

train() {  # experiment run_id overrides... -> logs into outputs/<experiment>/<run_id>/train.log
  local exp=$1 id=$2; shift 2
  python train.py experiment="$exp" run_id="$id" "${COMMON[@]}" "$@" > "outputs/.$id.out" 2>&1
}
has() { [[ " $STAGES " == *" $1 "* ]]; }
finetune() {  # the teacher continued on the same data with a new learning rate, for $FT_MIN minutes
  train multi30k_en_de m30k-syn-finetune data.local_dir="$M30K" trainer.init_from="$TEACHER" \
    trainer.validate_at_start=true trainer.budget_min="${FT_MIN:-10}" optim.lr=5e-4 optim.warmup_steps=50
}

if has split; then
  mkdir -p "$WORK"
  head -n 14500 "$M30K/train.en" > "$WORK/train.en"
  head -n 14500 "$M30K/train.de" > "$WORK/train.de"
  tail -n +14501 "$M30K/train.de" > "$WORK/mono.de"
  for f in val.en val.de test_2016_flickr.en test_2016_flickr.de; do ln -sf "$M30K/$f" "$WORK/$f"; done
fi
REVERSE=outputs/multi30k_en_de/m30k-syn-reverse/checkpoints
# The first student: d 256 with 8k pieces, the teacher's translations in place of the references.
FIRST=(data.local_dir="$M30K" model.d_model=256 model.ffn_dim=1024 tokenizer.vocab_size=8000 trainer.budget_min="$MIN")
if has g1; then  # the reverse model (de->en, parallel half) beside the fine-tuned teacher
  train multi30k_en_de m30k-syn-reverse "${HALF[@]}" data.src_lang=de data.tgt_lang=en &
  finetune &
  wait
fi
if has translate; then  # both corpora with CTranslate2 int8 exports (the fastest on CPU)
  for pair in "$REVERSE/best.pt:outputs/m30k-syn-ct2/reverse" "$TEACHER:outputs/m30k-syn-ct2/teacher"; do
    [[ -d ${pair#*:} ]] || python scripts/export.py checkpoint="${pair%%:*}" format=ctranslate2 \
      quantization=int8 output="${pair#*:}"
  done
  python scripts/prepare_data.py experiment=multi30k_bt "${HALF[@]}" data.synthetic.mono="$WORK/mono.de" \
    data.synthetic.models=[outputs/m30k-syn-ct2/reverse] --no-progress
  python scripts/prepare_data.py experiment=multi30k_student "${FIRST[@]}" data.synthetic.mode=replace \
    data.synthetic.models=[outputs/m30k-syn-ct2/teacher] --no-progress
fi
if has g2; then  # en->de on the parallel half, with and without the back-translated half
  train multi30k_bt m30k-syn-bt "${HALF[@]}" data.synthetic.mono="$WORK/mono.de" \
    data.synthetic.models=[outputs/m30k-syn-ct2/reverse] &
  train multi30k_en_de m30k-syn-half "${HALF[@]}" &
  wait
fi
if has g3; then  # the student on the teacher's translations beside the same student on the references
  train multi30k_student m30k-syn-student-kd "${FIRST[@]}" data.synthetic.mode=replace \
    data.synthetic.models=[outputs/m30k-syn-ct2/teacher] &
  train multi30k_student m30k-syn-student-ref "${FIRST[@]}" data.source=local &
  wait
fi
SMALL=(data.local_dir="$M30K" model.d_model=192 model.ffn_dim=768 model.encoder_layers=6 tokenizer.vocab_size=4000
       trainer.budget_min="${STUDENT_MIN:-40}")
KD=(data.synthetic.models=[outputs/m30k-syn-ct2/teacher])
if has g4; then  # the corpus is translated first, so that both students start their clocks together
  python scripts/prepare_data.py experiment=multi30k_student "${SMALL[@]}" "${KD[@]}" data.synthetic.mode=replace --no-progress
  train multi30k_student m30k-syn-student-small-kd "${SMALL[@]}" "${KD[@]}" data.synthetic.mode=replace &
  train multi30k_student m30k-syn-student-small-ref "${SMALL[@]}" data.source=local &
  wait
fi
if has g5; then
  python scripts/prepare_data.py experiment=multi30k_student "${SMALL[@]}" "${KD[@]}" data.synthetic.mode=join --no-progress
  train multi30k_student m30k-syn-student-small-join "${SMALL[@]}" "${KD[@]}" data.synthetic.mode=join
fi
if has finetune; then finetune; fi
