# Sourced by the GPU-machine scripts (gpu-run.sh, gpu-bench.sh, gpu-experiment.sh), from the repository
# root: unpacks .bundle/flashjit-gpu.tar.xz (or $BUNDLE) into a temporary folder and sets
#   out  where reports go ($OUT, else gpu-out/)     work  the temporary folder     bin  flashjit's tools
# with a fresh kernel cache, and the driver's own JIT cache off so that load times are honest.
out=${OUT:-gpu-out}
mkdir -p "$out"
work=$(mktemp -d /tmp/flashjit-gpu.XXXXXX)
tar -C "$work" -xJf "${BUNDLE:-.bundle/flashjit-gpu.tar.xz}" || { echo "$(basename "$0"): cannot unpack the bundle"; exit 1; }
bin=$work/flashjit/bin
export FLASHJIT_CACHE_DIR=$work/cache
export CUDA_CACHE_DISABLE=1
