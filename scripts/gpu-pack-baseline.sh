#!/usr/bin/env bash
# Build machine: the bundle of an earlier revision, for an A/B timing against the working tree
# (scripts/gpu-ab.sh old:.bundle/old.tar.xz new:.bundle/flashjit-gpu.tar.xz). Checks REV out into a
# git worktree with its own build folder (a full build the first time; the folder is kept for the next)
# and packs it into .bundle/old.tar.xz (or $BUNDLE), leaving the working tree and build/ alone.
#   usage: scripts/gpu-pack-baseline.sh REV
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: gpu-pack-baseline.sh REV}
bundle=$(realpath -m "${BUNDLE:-.bundle/old.tar.xz}")
tree=${FLASHJIT_BASELINE_DIR:-/tmp/flashjit-baseline}
if [ -d "$tree" ]; then
  git -C "$tree" checkout -q --detach "$rev"
else
  git worktree add -q --detach "$tree" "$rev"
fi
echo "gpu-pack-baseline: $(git -C "$tree" log -1 --format='%h %s' | cut -c1-100)"
# The revision's own packing script (older ones empty .bundle/ and ignore $BUNDLE): its bundle is copied.
(cd "$tree" && env -u BUNDLE bash scripts/gpu-pack.sh >/dev/null)
mkdir -p "$(dirname "$bundle")"
cp "$tree/.bundle/flashjit-gpu.tar.xz" "$bundle"
ls -l "$bundle"
