// The attention mask: which keys each query row sees. Plain C++ (no MLIR), written once and used by every
// place that needs it: the `flash` ops' semantics (the interpreter), block classification
// (ClassifyCausalBlocks), the GPU lowering, the host-side persistent schedule and the float64 reference.
//
// Query row i sees key j iff 0 <= j < seqlen_k and, for each bound that is set,
//     i + d - left <= j <= i + d + right,
// where the diagonal d is 0 (top_left: the mask's top-left corner at query 0, key 0) or seqlen_k - seqlen_q
// (bottom_right: its bottom-right corner at the last query and the last key; FlashAttention >= 2.1, cuDNN).
// No bound: every key (only the tail past seqlen_k is hidden). Causal: right = 0. A sliding window of
// `w` keys to the left of the diagonal (FlashAttention's window_size = (w, 0)): left = w, right = 0.
//
// Both bounds grow with the row, so the keys a run of rows [first, last] sees are found from its two ends:
// any row sees [begin(first), end(last)), every row sees [begin(last), end(first)). The converse (which
// query rows see a run of keys, for a backward pass parallel over key blocks) follows the same way.
//
// The formulas are templates over an arithmetic `A` (MaskFormula), so that the host evaluates them on
// int64_t (HostArithmetic) and the compiler emits the same formulas as IR (compiler/MaskArithmetic.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

namespace flashjit::mask {

enum class Alignment { top_left, bottom_right };

/// A bound of the mask that is not set.
constexpr int64_t kUnbounded = -1;

struct Mask {
  Alignment alignment = Alignment::top_left;
  int64_t left = kUnbounded, right = kUnbounded; ///< keys visible left and right of the diagonal

  static Mask none() { return {}; }
  static Mask causal(Alignment alignment) { return {alignment, kUnbounded, 0}; }
  static Mask slidingWindow(Alignment alignment, int64_t left) { return {alignment, left, 0}; }

  bool hasLeft() const { return left != kUnbounded; }
  bool hasRight() const { return right != kUnbounded; }
  /// Whether the mask hides keys below seqlen_k at all.
  bool hidesKeys() const { return hasLeft() || hasRight(); }
  bool isCausal() const { return !hasLeft() && right == 0; }
  bool operator==(const Mask &other) const {
    return alignment == other.alignment && left == other.left && right == other.right;
  }
};

/// An empty string when `mask` is well formed; otherwise why not.
inline std::string maskError(const Mask &mask) {
  if (mask.left < kUnbounded || mask.right < kUnbounded)
    return "a mask's left and right bounds are keys (>= 0) or unbounded (-1); got left " +
           std::to_string(mask.left) + ", right " + std::to_string(mask.right);
  return "";
}

/// What a run of query rows sees on the key axis (keysOfRows), or which rows see a run of keys
/// (rowsOfKeys): some of the run sees, or is seen by, each position of [begin, end), all of it each
/// position of [fullBegin, fullEnd) (empty when fullBegin >= fullEnd). All four lie in [0, the axis' length].
template <class V> struct VisibleRange {
  V begin, end, fullBegin, fullEnd;
};

/// The mask's formulas over an arithmetic `A` with a value type `A::Value` and add, sub, min, max and
/// constant (see HostArithmetic). Each formula emits only what its bounds need: nothing for an unset
/// bound, no addition of a zero bound.
template <class A> class MaskFormula {
public:
  using V = typename A::Value;

  MaskFormula(const Mask &mask, A &a) : mask(mask), a(a) {}

  /// d: 0 (top_left) or seqlen_k - seqlen_q (bottom_right).
  V diagonal(V seqlenQ, V seqlenK) const {
    return mask.alignment == Alignment::bottom_right ? a.sub(seqlenK, seqlenQ) : a.constant(0);
  }

  /// The last key row `row` sees if seqlen_k were unbounded: row + d + right (needs a right bound).
  V lastVisibleKey(V row, V diagonal) const { return plus(a.add(row, diagonal), mask.right); }
  /// The first key row `row` sees if keys started below 0: row + d - left (needs a left bound).
  V firstVisibleKey(V row, V diagonal) const { return plus(a.add(row, diagonal), -mask.left); }

  /// One past the last key `row` sees, in [0, seqlen_k].
  V keyEnd(V row, V diagonal, V seqlenK) const {
    if (!mask.hasRight())
      return seqlenK;
    return clamp(plus(a.add(row, diagonal), mask.right + 1), seqlenK);
  }
  /// The first key `row` sees, in [0, seqlen_k] (at or past keyEnd when it sees none).
  V keyBegin(V row, V diagonal, V seqlenK) const {
    if (!mask.hasLeft())
      return a.constant(0);
    return clamp(firstVisibleKey(row, diagonal), seqlenK);
  }

  /// The keys rows [first, last] see (last >= first).
  VisibleRange<V> keysOfRows(V first, V last, V diagonal, V seqlenK) const {
    VisibleRange<V> r;
    r.fullEnd = keyEnd(first, diagonal, seqlenK);
    r.end = keyEnd(last, diagonal, seqlenK);
    r.begin = keyBegin(first, diagonal, seqlenK);
    r.fullBegin = keyBegin(last, diagonal, seqlenK);
    return r;
  }

  /// The query rows that see keys [first, last] (last >= first): row i sees key j iff
  /// j - d - right <= i <= j - d + left (each for a set bound).
  VisibleRange<V> rowsOfKeys(V first, V last, V diagonal, V seqlenQ) const {
    VisibleRange<V> r;
    r.begin = rowBegin(first, diagonal, seqlenQ);
    r.fullBegin = rowBegin(last, diagonal, seqlenQ);
    r.end = rowEnd(last, diagonal, seqlenQ);
    r.fullEnd = rowEnd(first, diagonal, seqlenQ);
    return r;
  }

private:
  const Mask &mask;
  A &a;

  V plus(V x, int64_t c) const { return c == 0 ? x : a.add(x, a.constant(c)); }
  /// x clamped to [0, limit] (values are emitted in order: no two in one call's arguments).
  V clamp(V x, V limit) const {
    V atLeastZero = a.max(a.constant(0), x);
    return a.min(limit, atLeastZero);
  }
  /// The first row that sees key `key`, in [0, seqlen_q].
  V rowBegin(V key, V diagonal, V seqlenQ) const {
    if (!mask.hasRight())
      return a.constant(0);
    return clamp(plus(a.sub(key, diagonal), -mask.right), seqlenQ);
  }
  /// One past the last row that sees key `key`, in [0, seqlen_q].
  V rowEnd(V key, V diagonal, V seqlenQ) const {
    if (!mask.hasLeft())
      return seqlenQ;
    return clamp(plus(a.sub(key, diagonal), mask.left + 1), seqlenQ);
  }
};

/// The formulas on the host, on int64_t.
struct HostArithmetic {
  using Value = int64_t;
  int64_t add(int64_t x, int64_t y) { return x + y; }
  int64_t sub(int64_t x, int64_t y) { return x - y; }
  int64_t min(int64_t x, int64_t y) { return std::min(x, y); }
  int64_t max(int64_t x, int64_t y) { return std::max(x, y); }
  int64_t constant(int64_t c) { return c; }
};

/// Whether query row i sees key j (both in range: i < seqlen_q, j < seqlen_k).
inline bool visible(const Mask &mask, int64_t seqlenQ, int64_t seqlenK, int64_t i, int64_t j) {
  HostArithmetic a;
  MaskFormula<HostArithmetic> f(mask, a);
  const int64_t d = f.diagonal(seqlenQ, seqlenK);
  return j >= f.keyBegin(i, d, seqlenK) && j < f.keyEnd(i, d, seqlenK);
}

/// How a key block relates to a query block: no row sees any of its keys, every row sees every key, or
/// some rows see some keys (the mask is applied to it).
enum class BlockClass { skipped, full, partial };

/// The class of the block [start, start + size) against what the other block's run sees (`seen`).
inline BlockClass classOf(const VisibleRange<int64_t> &seen, int64_t start, int64_t size) {
  if (seen.begin >= seen.end || start + size <= seen.begin || start >= seen.end)
    return BlockClass::skipped;
  if (start >= seen.fullBegin && start + size <= seen.fullEnd)
    return BlockClass::full;
  return BlockClass::partial;
}

/// The class of the key block [k0, k0 + blockN) for the query block [q0, q0 + blockM), both clipped to
/// their sequence lengths (a block past seqlen_k's tail is partial: its keys past the end are masked).
inline BlockClass keyBlockClass(const Mask &mask, int64_t seqlenQ, int64_t seqlenK, int64_t q0, int64_t blockM,
                                int64_t k0, int64_t blockN) {
  HostArithmetic a;
  MaskFormula<HostArithmetic> f(mask, a);
  const int64_t d = f.diagonal(seqlenQ, seqlenK);
  return classOf(f.keysOfRows(q0, std::min(q0 + blockM, seqlenQ) - 1, d, seqlenK), k0, blockN);
}

/// The converse: the class of the query block [q0, q0 + blockM) for the key block [k0, k0 + blockN).
inline BlockClass queryBlockClass(const Mask &mask, int64_t seqlenQ, int64_t seqlenK, int64_t k0, int64_t blockN,
                                  int64_t q0, int64_t blockM) {
  HostArithmetic a;
  MaskFormula<HostArithmetic> f(mask, a);
  const int64_t d = f.diagonal(seqlenQ, seqlenK);
  const BlockClass c = classOf(f.rowsOfKeys(k0, std::min(k0 + blockN, seqlenK) - 1, d, seqlenQ), q0, blockM);
  return c == BlockClass::full && k0 + blockN > seqlenK ? BlockClass::partial : c; // keys past the tail: masked
}

} // namespace flashjit::mask
