# Sourced by the GPU-machine scripts that profile one point of the papers' grid (gpu-ncu.sh,
# gpu-ncu-source.sh): takes HEAD_DIM SEQLEN CAUSAL off the caller's arguments and sets
#   headDim, seqlen, causal   and   batch, heads   (16k tokens, hidden 2048).
headDim=$1 seqlen=$2 causal=$3
shift 3
batch=$((16384 / seqlen)) heads=$((2048 / headDim))
