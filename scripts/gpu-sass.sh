#!/usr/bin/env bash
# On the H100 machine: disassemble every cubin in .bundle/sass/ (assembled here with ptxas -arch=sm_90a)
# and write, per cubin, its SASS and a digest of the instructions that decide the wgmma schedule (HGMMA,
# WARPGROUP.DEPBAR/ARRIVE, MUFU.EX2 runs, barriers, branches), in program order; all of it in
# $OUT/sass.tar.gz, and each cubin's wgmma/wait/exponential order printed.
set -euo pipefail
out=$(mktemp -d)/sass
mkdir -p "$out"
cuobjdump=$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)
for cubin in .bundle/sass/*.cubin; do
  name=$(basename "$cubin" .cubin)
  "$cuobjdump" -sass "$cubin" > "$out/$name.sass"
  # Collapse runs of the same opcode into "OPCODE xN" so the order is readable.
  grep -oE '/\*[0-9a-f]{4,5}\*/ +[^;]*;' "$out/$name.sass" |
    sed -E 's@/\*([0-9a-f]{4,5})\*/ +@\1 @' |
    grep -E 'HGMMA|WARPGROUP|MUFU.EX2|BAR|BRA|SYNCS|UTMALDG|EXIT|WARPSYNC' |
    awk '{ op=$2; if ($2 ~ /^@/) op=$3; if (op==last) { n++ } else { if (last!="") print first, last, "x" n; first=$1; last=op; n=1 } }
         END { print first, last, "x" n }' > "$out/$name.digest"
  echo "$name: $(grep -E 'HGMMA|WARPGROUP.DEPBAR|MUFU.EX2' "$out/$name.digest" | awk '{ sub(/\..*/, "", $2); printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $3 }')"
done
tar -czf "${OUT:-/tmp/out}/sass.tar.gz" -C "$(dirname "$out")" sass
