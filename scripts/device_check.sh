#!/usr/bin/env bash
# Every GPU figure of the project in one offline command, about 8 minutes on one H100:
#   bash scripts/device_check.sh            # on a GPU machine; one JSON line per figure on stdout
#   bash scripts/device_check.sh --smoke    # the same code on the CPU, tiny shapes, about a minute (CI)
#   bash scripts/device_check.sh --help     # budget, seconds per run, cache, output directory
# With OUT set, the lines also go to $OUT/device_check.jsonl and the logs to $OUT/device_check.log.
# Nothing is downloaded or installed from the network. If mt or its dependencies are not installed,
# the source tree is used as is (PYTHONPATH=src) and wheels found in ./.whl or $MT_WHEELS are
# installed offline into a temporary directory (see docs/gpu.md, "Measuring on a GPU").
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$(command -v python3 || command -v python)}"

if ! "$PY" -c "import mt" 2>/dev/null; then
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
missing=$("$PY" - <<'PYEOF'
import importlib
missing = []
for name in ("torch", "numpy", "hydra", "omegaconf", "sentencepiece", "sacrebleu", "tqdm", "pytest"):
    try:
        importlib.import_module(name)
    except ImportError:
        missing.append(name)
print(" ".join(missing))
PYEOF
)
if [ -n "$missing" ]; then
    wheels="${MT_WHEELS:-$PWD/.whl}"
    if ! compgen -G "$wheels/*.whl" >/dev/null; then
        echo "device_check: missing Python packages: $missing; put their wheels in $wheels (or \$MT_WHEELS)" >&2
        echo "  and rerun: they are installed from there, offline (docs/gpu.md)" >&2
        exit 2
    fi
    site=$(mktemp -d)
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$wheels"/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
exec "$PY" scripts/benchmarks/device_check.py "$@"
