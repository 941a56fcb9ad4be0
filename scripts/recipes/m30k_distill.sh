#!/usr/bin/env bash
# The distillation chain on Multi30k English->German, timed end to end on a CPU (docs/benchmarks.md,
# "Distilling from the recipe's teacher"):
#   teacher    the multi30k_en_de recipe, 30 minutes on $TEACHER_THREADS threads, the machine to itself;
#   translate  the training sources translated by the teacher's chosen checkpoint (the recipe's
#              data.synthetic.backend=auto: converted to CTranslate2 int8 on CPU), beam 4;
#   students   the multi30k_student recipe (data.synthetic.mode=$MODE) beside the same student on the
#              references (data.source=local), one thread each, side by side, $STUDENT_MIN minutes.
#
#   bash scripts/recipes/m30k_distill.sh [M30K_DIR]
#
# Runs: outputs/multi30k_en_de/$TAG-teacher and outputs/multi30k_student/$TAG-student-{$MODE,ref}; the
# minutes of each stage go to outputs/$TAG-chain.txt. A stage whose runs have written results.json is
# skipped, so calling the script again after a crash goes on where it stopped (each training run also
# resumes from its own checkpoints). With TEACHER=path/to.pt the teacher stage is skipped and that
# checkpoint teaches; with REPEAT=2 the students are named $TAG-student-{$MODE,ref}-2 (another pair of
# runs from the same teacher and the same translated corpus). STUDENT_ARGS="model.encoder_layers=6 ..." are
# Hydra overrides given to both students (and to the preparation of their data).
set -euo pipefail
M30K=$(realpath "${1:-../shared/data/multi30k}")
TAG=${TAG:-m30k-kd}
MODE=${MODE:-join}
STUDENT_MIN=${STUDENT_MIN:-40}
TEACHER_THREADS=${TEACHER_THREADS:-2}
SUFFIX=${REPEAT:+-$REPEAT}
read -r -a EXTRA <<< "${STUDENT_ARGS:-}"
CHAIN=outputs/$TAG-chain.txt
mkdir -p outputs

. "$(dirname "$0")/chain.sh"

if [[ -z ${TEACHER:-} ]]; then
  if ! done_run "multi30k_en_de/$TAG-teacher"; then
    t0=$(clock)
    train multi30k_en_de "$TAG-teacher" trainer.threads="$TEACHER_THREADS"
    note "teacher: $(minutes "$t0" "$(clock)") min"
  fi
  # The checkpoint the run chose on valid (best.pt or the average of the last ones) teaches.
  TEACHER=$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['checkpoint'])" \
    "outputs/multi30k_en_de/$TAG-teacher/results.json")
fi
KD=(data.synthetic.models="[$(realpath "$TEACHER")]" data.synthetic.mode="$MODE" "${EXTRA[@]}")
STUDENT=$TAG-student-$MODE$SUFFIX
REF=$TAG-student-ref$SUFFIX
if ! done_run "multi30k_student/$STUDENT"; then
  # The corpus is translated before either student starts, so that both start their clocks together
  # (a second call finds it in the cache).
  t0=$(clock)
  python scripts/prepare_data.py experiment=multi30k_student data.local_dir="$M30K" "${KD[@]}" --no-progress \
    > "outputs/.$TAG-translate.out" 2>&1
  note "translation of the corpus (with the student's data): $(minutes "$t0" "$(clock)") min"
  t0=$(clock)
  train multi30k_student "$STUDENT" "${KD[@]}" trainer.threads=1 trainer.budget_min="$STUDENT_MIN" &
  student=$!
  ref=""
  if ! done_run "multi30k_student/$REF"; then
    train multi30k_student "$REF" data.source=local "${EXTRA[@]}" trainer.threads=1 trainer.budget_min="$STUDENT_MIN" &
    ref=$!
  fi
  # Each run is waited for by its pid and both are waited for (a bare `wait` returns 0 whatever the
  # runs returned, so a failed twin on the references went unnoticed); then either failure fails the chain.
  failed=0
  if joined "$STUDENT" "$student"; then
    note "student $STUDENT: $(minutes "$t0" "$(clock)") min"
  else
    failed=1
  fi
  if [[ -n $ref ]] && ! joined "$REF" "$ref"; then
    failed=1
  fi
  if (( failed )); then
    exit 1
  fi
fi
