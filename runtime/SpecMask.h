// The mask of an AttentionSpec in the form its formulas take (dialects/Mask.h). Internal.
#pragma once

#include "dialects/Mask.h"
#include "runtime/flashjit_types.h"

namespace flashjit {

inline mask::Mask maskOf(const AttentionSpec &spec) {
  if (spec.causal == Causal::none)
    return mask::Mask::none();
  const mask::Alignment alignment =
      spec.causal == Causal::bottom_right ? mask::Alignment::bottom_right : mask::Alignment::top_left;
  return spec.window_left >= 0 ? mask::Mask::slidingWindow(alignment, spec.window_left)
                               : mask::Mask::causal(alignment);
}

} // namespace flashjit
