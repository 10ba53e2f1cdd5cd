# Source this file (`. scripts/env.sh`) to build and run genret against libtorch.
#
# libtorch comes, in order of preference, from
#   1. LIBTORCH (a libtorch folder you already have; used as is),
#   2. a Python virtual environment with torch==2.11.0 (the version tch 0.24 is built for),
#      created on first use under $GENRET_CACHE (default ~/.cache/genret) and reused after.
# It also sets the OpenMP policy: OpenMP busy-waits by default, which collapses throughput when
# another process holds a core (measured: 3 -> 0.2-0.3 training steps/s on 2 cores).

GENRET_TORCH_VERSION=2.11.0
: "${GENRET_CACHE:=$HOME/.cache/genret}"
: "${GENRET_TORCH_VENV:=$GENRET_CACHE/venv-torch-$GENRET_TORCH_VERSION}"
export GENRET_CACHE GENRET_TORCH_VENV

if [ -z "${LIBTORCH:-}" ]; then
    if ! "$GENRET_TORCH_VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$GENRET_TORCH_VERSION')" 2>/dev/null; then
        echo "genret: creating $GENRET_TORCH_VENV with torch==$GENRET_TORCH_VERSION (first time only; large download, cached by pip)" >&2
        mkdir -p "$GENRET_CACHE"
        python3 -m venv "$GENRET_TORCH_VENV" || return 1 2>/dev/null || exit 1
        "$GENRET_TORCH_VENV/bin/pip" install -q --disable-pip-version-check "torch==$GENRET_TORCH_VERSION" || return 1 2>/dev/null || exit 1
    fi
    export LIBTORCH_USE_PYTORCH=1
    export VIRTUAL_ENV="$GENRET_TORCH_VENV"
    export PATH="$GENRET_TORCH_VENV/bin:$PATH"
fi
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
