# Helpers the timed recipe chains share (sourced, not run). The caller sets M30K (the data directory)
# and CHAIN (the file that collects each stage's minutes) first.
#   train EXPERIMENT RUN_ID OVERRIDES...   a training run, its output in outputs/.RUN_ID.out
#   joined RUN_ID PID                      wait for a background run; a failed one is named with its log
#   done_run EXPERIMENT/RUN_ID             whether that run wrote results.json (a finished stage)
#   note TEXT, clock, minutes T0 T1        the chain's timing file

clock() { date +%s; }
note() { echo "$*" | tee -a "$CHAIN"; }
minutes() { python -c "print(f'{($2 - $1) / 60:.1f}')" ; }
done_run() { [[ -f outputs/$1/results.json ]]; }
train() {  # experiment run_id overrides... -> outputs/<experiment>/<run_id>/train.log
  local exp=$1 id=$2; shift 2
  python train.py experiment="$exp" run_id="$id" data.local_dir="$M30K" trainer.progress=false "$@" \
    > "outputs/.$id.out" 2>&1
}
joined() {  # run_id pid: wait for a run started in the background; a failed one is named, with its log
  local status=0
  wait "$2" || status=$?
  if (( status != 0 )); then
    echo "$(basename "$0"): the run $1 failed (exit status $status); its log: outputs/.$1.out" >&2
  fi
  return "$status"
}
