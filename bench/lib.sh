# Shared set-up of the benchmark scripts (sourced from the repository root): libtorch
# environment, the shared data and model folders, and `use_genret`, which picks the `genret`
# binary to run.
#   GENRET_SHARED  folder holding data/ and models/ (default: <repo root>/../shared)
#   MODEL          encoder checkpoint (default: the shared all-MiniLM-L6-v2)
#   GENRET_BIN     a built `genret` to use instead of building the release binary
. scripts/env.sh
export OMP_WAIT_POLICY=PASSIVE
SHARED="${GENRET_SHARED:-$(cd .. && pwd)/shared}"
MODEL="${MODEL:-$SHARED/models/all-MiniLM-L6-v2}"

# Sets GENRET to $GENRET_BIN, or builds the release binary and points GENRET at it.
use_genret() {
    if [ -n "${GENRET_BIN:-}" ]; then
        GENRET="$GENRET_BIN"
    else
        cargo build --release --quiet -p genret-cli
        GENRET="${CARGO_TARGET_DIR:-target}/release/genret"
    fi
}
