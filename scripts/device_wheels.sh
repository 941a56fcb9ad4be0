#!/usr/bin/env bash
# The wheels scripts/device_check.sh needs on a bare GPU machine, gathered on a machine with a package index:
#   bash scripts/device_wheels.sh                        # into .whl/ of the checkout, for CPython 3.12 on x86_64
#   bash scripts/device_wheels.sh DIR --python-version 3.11 [--platform TAG ...]   # another folder or target
# Then copy the folder next to the checkout on the GPU machine (as .whl/, or point $MT_WHEELS at it):
# device_check.sh installs it there, offline. The GPU image already holds torch, numpy, sentencepiece,
# sacrebleu, tqdm, pytest, pyyaml and packaging; these are the rest, pinned to the tested versions.
set -euo pipefail
PY="${PYTHON:-$(command -v python3 || command -v python)}"

BINARY=(hydra-core==1.3.8 omegaconf==2.3.1
        # The papers' tokenized BLEU of a run that tests at its end (tests/gpu's 2-GPU run): sacremoses,
        # and what importing it needs besides regex, which comes with sacrebleu (click serves its CLI only).
        sacremoses==0.2.0 joblib==1.6.0 cloudpickle==3.1.3
        # Language codes as models write them (eng, cmn_Hans): mt.utils.languages, which decoding imports.
        langcodes==3.5.1)
# Pinned by omegaconf and hydra-core, and published as a source archive only: built here into a wheel,
# which is pure Python (py3-none-any) and so installs on any Python and platform.
SOURCE_ONLY=(antlr4-python3-runtime==4.9.3)

dir="$(cd "$(dirname "$0")/.." && pwd)/.whl" version=3.12 platforms=()
while [ $# -gt 0 ]; do
    case "$1" in
        --python-version) version="${2:?--python-version needs a value, e.g. 3.12}"; shift 2 ;;
        --platform) platforms+=("${2:?--platform needs a tag, e.g. manylinux_2_28_x86_64}"); shift 2 ;;
        -h|--help) sed -n '2,7p' "$0" | cut -c3-; exit 0 ;;
        -*) echo "device_wheels: unknown option $1; see --help" >&2; exit 2 ;;
        *) dir="$1"; shift ;;
    esac
done
[ ${#platforms[@]} -gt 0 ] || platforms=(manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64)
mkdir -p "$dir"
shopt -s nullglob
for spec in "${BINARY[@]}" "${SOURCE_ONLY[@]}"; do  # other versions would clash when device_check installs all
    for old in "$dir/$(echo "${spec%%==*}" | tr - _)"-*.whl; do
        [[ "$old" == *-"${spec#*==}"-* ]] || rm -f -- "$old"
    done
done

"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$version" --implementation cp \
    "${platforms[@]/#/--platform=}" --dest "$dir" "${BINARY[@]}"
"$PY" -m pip wheel --quiet --no-deps --wheel-dir "$dir" "${SOURCE_ONLY[@]}"

for spec in "${BINARY[@]}" "${SOURCE_ONLY[@]}"; do
    wheel=("$dir/$(echo "${spec%%==*}" | tr - _)-${spec#*==}"-*.whl)
    if [ ${#wheel[@]} -eq 0 ]; then
        echo "device_wheels: no wheel of $spec in $dir after the downloads above; see pip's messages" >&2
        exit 1
    elif [[ "$spec" == antlr4* && "${wheel[0]}" != *-none-any.whl ]]; then
        echo "device_wheels: ${wheel[0]} is not pure Python, so it would not install on the GPU machine's" \
             "Python; delete it and rerun" >&2
        exit 1
    fi
done
echo "device_wheels: $dir holds, for CPython $version:"
for wheel in "$dir"/*.whl; do echo "  ${wheel##*/}"; done
