#!/usr/bin/env bash
# Every GPU figure of the project in one offline command, at most 8 minutes on one H100 or H200:
#   bash scripts/device_check.sh            # on a GPU machine; one JSON line per figure on stdout
#   bash scripts/device_check.sh --smoke    # the same code on the CPU, tiny shapes, about a minute (CI)
#   bash scripts/device_check.sh --help     # budget, seconds per run, precisions, cache, output directory
# With OUT set, the lines also go to $OUT/device_check.jsonl and the logs to $OUT/device_check.log.
# Nothing is downloaded or installed from the network, and neither TensorBoard nor `datasets` is
# needed. If mt is not installed, the source tree is used as is (PYTHONPATH=src); if hydra-core,
# omegaconf or antlr4 is missing, the wheels in ./.whl or $MT_WHEELS (made by scripts/device_wheels.sh)
# are installed offline into a temporary directory (see docs/gpu.md, "Measuring on a GPU").
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$(command -v python3 || command -v python)}"

if ! "$PY" -c "import mt" 2>/dev/null; then
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
missing() {  # the modules the check imports that this Python cannot
    "$PY" - <<'PYEOF'
import importlib
missing = []
for name in ("torch", "numpy", "yaml", "hydra", "omegaconf", "sentencepiece", "sacrebleu", "tqdm", "pytest"):
    try:
        importlib.import_module(name)
    except ImportError:
        missing.append(name)
print(" ".join(missing))
PYEOF
}
absent=$(missing)
if [ -n "$absent" ]; then
    wheels="${MT_WHEELS:-$PWD/.whl}"
    if ! compgen -G "$wheels/*.whl" >/dev/null; then
        echo "device_check: missing Python packages: $absent; and no wheels in $wheels (or \$MT_WHEELS)." >&2
        echo "  Make them on a machine with a package index (bash scripts/device_wheels.sh), copy the" >&2
        echo "  .whl folder next to this checkout and rerun: they are installed from there, offline" >&2
        echo "  (docs/gpu.md, \"Measuring on a GPU\")" >&2
        exit 2
    fi
    site=$(mktemp -d)
    trap 'rm -rf "$site"' EXIT
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
        "$wheels"/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    absent=$(missing)
    if [ -n "$absent" ]; then
        echo "device_check: still missing after installing the wheels in $wheels: $absent." >&2
        echo "  hydra, omegaconf (and antlr4): fill the folder again with scripts/device_wheels.sh for this" >&2
        echo "  Python. torch, numpy, yaml, sentencepiece, sacrebleu, tqdm and pytest must come with the" >&2
        echo "  machine's Python" >&2
        exit 2
    fi
fi
export PYTHONUNBUFFERED=1
"$PY" scripts/benchmarks/device_check.py "$@"
