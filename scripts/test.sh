#!/usr/bin/env bash
# The test command: sets up libtorch (first time only) and runs every test of the workspace.
# Extra arguments go to `cargo test`, e.g. `scripts/test.sh -p genret-eval`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
# Doc-tests are linked without the packages' rpath; point the loader at libtorch for them.
torch_lib="$("$GENRET_TORCH_VENV/bin/python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)"
if [ -n "${LIBTORCH:-}" ]; then torch_lib="$LIBTORCH/lib"; fi
export LD_LIBRARY_PATH="${torch_lib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Tests and benchmarks use explicit thread counts; keep OpenMP from spinning on busy cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec cargo test --workspace "$@"
