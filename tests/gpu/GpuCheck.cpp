// flashjit-gpu-check: compiles kernels with flashjit, runs them on the GPU on random inputs with NaN-poisoned
// outputs, compares O and lse with the float64 reference (every row of small shapes, sampled rows of large
// ones), times one large shape, and writes a JSON report.
//
//   flashjit-gpu-check --report gpu-report.json [--quick] [--no-timings] [--only REGEX]
// --no-timings leaves out the timing of every tuning-space configuration (the longest part of a run);
// --only keeps the correctness cases whose kernel name and configuration (as the report prints them)
// match REGEX, e.g. 'block_m = 64, block_n = (128|256), warps = 4' ('split_tail': the split tail's cases).
// The kernels are compiled for deviceInfo().chip: with FLASHJIT_CHIP=sm_90a on an H100, the Hopper path's
// (scripts/gpu-hopper.sh).
#include "runtime/SplitTail.h"
#include "runtime/flashjit.h"
#include "runtime/flashjit_testing.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <vector>

using namespace flashjit;

namespace {

/// A kernel compiled (or found in the kernel cache, where compileAll put it) and loaded through the public API.
std::shared_ptr<Kernel> load(const AttentionSpec &spec, const KernelConfig &config) {
  return Kernel::load(spec, compileCached(spec, config));
}

/// compileCached for every kernel at once, on every core (the check's cases compile some 350 kernels,
/// 50 s one after another); whether each was accepted (false: refused as unsupported). Any other error is
/// rethrown, the first in order.
std::vector<bool> compileAll(const std::vector<std::pair<AttentionSpec, KernelConfig>> &kernels) {
  std::vector<char> accepted(kernels.size(), 0);
  std::vector<std::exception_ptr> errors(kernels.size());
  forEachInParallel(kernels.size(), 0, [&](size_t i) {
    try {
      compileCached(kernels[i].first, kernels[i].second);
      accepted[i] = 1;
    } catch (const Error &error) {
      if (error.code() != Error::Code::Unsupported)
        errors[i] = std::current_exception();
    } catch (...) {
      errors[i] = std::current_exception();
    }
  });
  for (const std::exception_ptr &error : errors)
    if (error)
      std::rethrow_exception(error);
  return std::vector<bool>(accepted.begin(), accepted.end());
}

struct Case {
  AttentionSpec spec;
  ProblemShape shape;
  int sampledRows = 0;                // 0: check every row
  std::optional<KernelConfig> config; // default: defaultConfig(spec, chip)
  bool oneCall = false;               // run through attention() instead of compile() + Kernel
  std::string splitTail;              // persistent without a mask: "plan", "wave" or "off" (FLASHJIT_SPLIT_TAIL
                                      // unset, wave, 0); plan and wave fail unless the launch splits its tail
};

/// The split tail the runtime gives `c`'s launch on `multiprocessors` (runtime/SplitTail.h, as
/// Kernel::launch plans it).
SplitTail expectedSplit(const Case &c, const KernelConfig &config, int multiprocessors) {
  const ProblemShape &s = c.shape;
  const int64_t queryBlocks = (s.seqlen_q + config.block_m - 1) / config.block_m;
  const int64_t tiles = queryBlocks * s.heads * s.batch, keyBlocks = (s.seqlen_k + config.block_n - 1) / config.block_n;
  const int64_t blocks = std::min<int64_t>(tiles, multiprocessors);
  return splitTailFor(c.splitTail == "off" ? "0" : c.splitTail == "wave" ? "wave" : "", tiles, keyBlocks, blocks);
}

std::string layoutName(Layout layout) { return layout == Layout::BSHD ? "BSHD" : "BHSD"; }

std::vector<Case> correctnessCases(bool quick, const std::string &chip) {
  std::vector<Case> cases;
  std::vector<std::pair<int, int>> lengths = {{1, 1},     {7, 7},     {64, 64},  {127, 129}, {129, 127},
                                              {128, 128}, {1, 1000},  {1000, 7}, {64, 1000}, {1000, 64},
                                              {1000, 1000}};
  if (quick)
    lengths = {{7, 7}, {129, 127}, {1000, 64}};
  int index = 0;
  for (int headDim : {64, 128})
    for (DType dtype : {DType::bf16, DType::f16})
      for (Causal causal : {Causal::none, Causal::top_left, Causal::bottom_right})
        for (auto [seqlenQ, seqlenK] : lengths) {
          Case c;
          c.spec = AttentionSpec{headDim, dtype, causal, true};
          c.shape.batch = 2;
          c.shape.heads = 3;
          c.shape.seqlen_q = seqlenQ;
          c.shape.seqlen_k = seqlenK;
          c.shape.layout = (index++ % 2) ? Layout::BHSD : Layout::BSHD;
          cases.push_back(c);
        }
  // Grouped-query heads, a non-default scale, no logsumexp, and long sequences checked on sampled rows.
  for (DType dtype : {DType::bf16, DType::f16}) {
    Case gqa;
    gqa.spec = AttentionSpec{128, dtype, Causal::bottom_right, true};
    gqa.shape = ProblemShape{2, 8, 2, 300, 500, 0.3f, Layout::BSHD};
    cases.push_back(gqa);
    Case noLse;
    noLse.spec = AttentionSpec{64, dtype, Causal::top_left, false};
    noLse.shape = ProblemShape{1, 4, 0, 257, 190, 0, Layout::BHSD};
    cases.push_back(noLse);
    for (Causal causal : {Causal::none, Causal::bottom_right}) {
      Case big;
      big.spec = AttentionSpec{128, dtype, causal, true};
      big.shape = ProblemShape{1, 4, 0, 4096, 4096, 0, Layout::BSHD};
      big.sampledRows = 300;
      cases.push_back(big);
    }
  }
  // A sharp softmax (scale 4): row maxima keep moving past the conditional-rescaling threshold (2^8), so
  // both branches of the rescale run, on the configuration that has it (query tile in shared memory) and
  // on one that rescales every block.
  for (DType dtype : {DType::bf16, DType::f16})
    for (Causal causal : {Causal::none, Causal::bottom_right})
      for (KernelConfig config : {KernelConfig{128, 32, 4, 2, chip}, KernelConfig{64, 64, 4, 2, chip}}) {
        Case sharp;
        sharp.spec = AttentionSpec{128, dtype, causal, true};
        sharp.shape = ProblemShape{2, 3, 0, 700, 1000, 4.0f, Layout::BSHD};
        sharp.config = config;
        cases.push_back(sharp);
      }
  // conditional_rescale (each row keeps its maximum unless it grows past 2^8; the output rescaled only when
  // a row of the warp moved) on the kernel above that rescales every block (mma.sync; on sm_90a wgmma with
  // cp.async copies) and, on sm_90a, on the TMA kernels: one warpgroup, and two or three fed by a producer
  // with the softmax overlap, one block per tile and persistent. Sharp softmax and default scale, both masks.
  std::vector<std::pair<int, KernelConfig>> rescaled = {{128, KernelConfig{64, 64, 4, 2, chip}}};
  if (chip == "sm_90a") {
    KernelConfig one{64, 128, 4, 2, chip}, two{128, 128, 8, 2, chip}, wide{128, 192, 8, 2, chip};
    KernelConfig three{192, 128, 12, 2, chip};
    one.tma = true;
    for (KernelConfig *c : {&two, &wide, &three})
      c->tma = c->warp_specialized = c->wg_overlap = true;
    KernelConfig twoPersistent = two, threePersistent = three;
    twoPersistent.persistent = threePersistent.persistent = true;
    for (const KernelConfig &c : {one, two, twoPersistent, three, threePersistent})
      rescaled.push_back({64, c});
    for (const KernelConfig &c : {one, wide, twoPersistent})
      rescaled.push_back({128, c});
  }
  for (auto [headDim, config] : rescaled)
    for (Causal causal : {Causal::none, Causal::bottom_right})
      for (float scale : {0.0f, 4.0f}) {
        config.conditional_rescale = true;
        Case c;
        c.spec = AttentionSpec{headDim, DType::bf16, causal, true};
        c.shape = ProblemShape{2, 3, 0, 700, 1000, scale, Layout::BSHD};
        if (config.persistent) { // more tiles than multiprocessors, so that blocks loop
          c.shape = ProblemShape{4, 40, 8, 1300, 1500, scale, Layout::BSHD};
          c.sampledRows = 300;
        }
        c.config = config;
        cases.push_back(c);
      }
  // Other head dims: 32 and 256 copy whole rows per pass of the thread block; 48, 96 and 160 do not (8
  // elements per copy, so head_dim / 8 does not divide 128 threads) and take the per-copy addressing.
  for (int headDim : {32, 48, 96, 160, 256})
    for (Causal causal : {Causal::none, Causal::bottom_right}) {
      Case other;
      other.spec = AttentionSpec{headDim, headDim % 64 ? DType::f16 : DType::bf16, causal, true};
      other.shape = ProblemShape{2, 3, 0, 333, 257, 0, (headDim / 16) % 2 ? Layout::BHSD : Layout::BSHD};
      cases.push_back(other);
    }
  // More (head, batch) pairs than a grid's y or z could hold: the one-dimensional grid takes them.
  {
    Case wide;
    wide.spec = AttentionSpec{64, DType::bf16, Causal::bottom_right, true};
    wide.shape = ProblemShape{300, 256, 0, 16, 16, 0, Layout::BSHD};
    wide.sampledRows = 300;
    cases.push_back(wide);
  }
  // The one-call API on a few shapes (default configuration, kernel cache, per-context load).
  for (Causal causal : {Causal::none, Causal::bottom_right})
    for (int headDim : {64, 128}) {
      Case c;
      c.spec = AttentionSpec{headDim, DType::bf16, causal, true};
      c.shape = ProblemShape{2, 4, 2, 513, 1027, 0, Layout::BSHD};
      c.oneCall = true;
      cases.push_back(c);
    }
  // Every configuration of the tuning space on shapes with tails, both alignments.
  for (AttentionSpec spec : {AttentionSpec{64, DType::bf16, Causal::bottom_right, true},
                             AttentionSpec{128, DType::f16, Causal::top_left, true},
                             AttentionSpec{128, DType::bf16, Causal::none, true}})
    for (const KernelConfig &config : tuningSpace(spec, chip)) {
      Case c;
      c.spec = spec;
      c.shape = ProblemShape{2, 2, 1, 700, 333, 0, Layout::BHSD};
      c.config = config;
      cases.push_back(c);
    }
  // sm_90a: the same with the wgmma path's other knob settings — without tma (cp.async copies), with
  // wg_overlap (the softmax overlapped with the previous block's P·V) with and without tma and with a
  // producer warpgroup (ping-pong on 8 and 12 warps), a producer warpgroup on every configuration, and
  // ping-pong in persistent blocks (on a grid of more tiles than multiprocessors, so that blocks loop) — on
  // every configuration of that path (those the compiler accepts them on), and on a long sequence.
  struct Knobs {
    bool overlap, tma, specialized, persistent;
  };
  for (Knobs knobs : {Knobs{false, false, false, false}, Knobs{true, false, false, false},
                      Knobs{true, true, false, false}, Knobs{true, true, true, false}, Knobs{false, true, true, false},
                      Knobs{true, true, true, true}}) {
    std::vector<std::pair<AttentionSpec, KernelConfig>> candidates;
    for (AttentionSpec spec : {AttentionSpec{64, DType::bf16, Causal::bottom_right, true},
                               AttentionSpec{128, DType::f16, Causal::top_left, true},
                               AttentionSpec{128, DType::bf16, Causal::none, true}})
      for (KernelConfig config : tuningSpace(spec, chip)) {
        // Each wgmma configuration once (the space also holds the 8-warp ones with a producer warpgroup,
        // with and without wg_overlap up to 192 keys, which the tuning-space cases above already check).
        if (!config.tma || config.warp_specialized ||
            (knobs.tma && knobs.specialized && !knobs.persistent && config.warps == 8 &&
             (!knobs.overlap || config.block_n <= 192)))
          continue;
        config.wg_overlap = knobs.overlap;
        config.tma = knobs.tma;
        config.warp_specialized = knobs.specialized;
        config.persistent = knobs.persistent;
        candidates.push_back({spec, config});
      }
    std::vector<bool> accepted = compileAll(candidates); // the check's load() then finds them
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (!accepted[i])
        continue; // not on the wgmma path
      const auto &[spec, config] = candidates[i];
      Case c;
      c.spec = spec;
      c.shape = ProblemShape{2, 2, 1, 700, 333, 0, Layout::BHSD};
      c.config = config;
      if (knobs.persistent) { // 4 x 40 x 6-21 tiles: even and odd query blocks per head (pairs, a middle one)
        c.shape = ProblemShape{4, 40, 8, cases.size() % 2 ? 1024 : 1300, 1500, 0, Layout::BSHD};
        c.sampledRows = 300;
      }
      cases.push_back(c);
      if (config.block_m == 128 && config.block_n == 128 && config.stages == 2) {
        Case big = c;
        big.shape = ProblemShape{1, 4, 0, 4096, 4096, 0, Layout::BSHD};
        big.sampledRows = 300;
        cases.push_back(big);
      }
    }
  }
  // Warpgroups ending the key loop at their own rows' last key (producer warpgroup, 192-row tiles or
  // block_n < block_m): causal masks with equal and unequal lengths, tiles whose last warpgroups are
  // padding, one block per tile and persistent (also on 12 warps).
  for (Causal causal : {Causal::top_left, Causal::bottom_right})
    for (KernelConfig config : {KernelConfig{192, 128, 12, 2, chip}, KernelConfig{192, 64, 12, 3, chip},
                                KernelConfig{128, 64, 8, 2, chip}}) {
      if (chip != "sm_90a")
        break;
      config.tma = config.warp_specialized = config.wg_overlap = true;
      for (bool persistent : {false, true}) {
        if (config.warps == 8 && !persistent)
          continue;
        config.persistent = persistent;
        Case c;
        c.spec = AttentionSpec{64, DType::bf16, causal, true};
        c.shape = ProblemShape{2, 8, 2, causal == Causal::top_left ? 1000 : 900, 1000, 0, Layout::BSHD};
        c.config = config;
        cases.push_back(c);
      }
    }
  // 64-row tiles of 128-key blocks (one warpgroup) under causal masks whose key ends fall 0-127 keys into
  // the last block, with equal and unequal lengths, bf16 and f16, cp.async and TMA copies.
  for (Causal causal : {Causal::top_left, Causal::bottom_right})
    for (int seqlenQ : {1000, 937})
      for (bool tma : {true, false}) {
        if (chip != "sm_90a")
          break;
        KernelConfig config{64, 128, 4, 2, chip};
        config.tma = tma;
        Case c;
        c.spec = AttentionSpec{64, tma ? DType::bf16 : DType::f16, causal, true};
        c.shape = ProblemShape{2, 4, 2, seqlenQ, 1000, 0, Layout::BSHD};
        c.config = config;
        cases.push_back(c);
      }
  // A short last key block run after the loop (peelsShortLastBlock) in the kernels with a producer
  // warpgroup, the softmax overlap and ping-pong, one block per tile and persistent: seqlen_k 1064 ends 104
  // keys into a 192-key block and 40 into a 128- or 256-key one (short), 1100 ends 140 and 76 (not short),
  // and 40 is one short block (the loop runs no block before it); with and without a causal mask.
  struct Peeled {
    int blockM, blockN, warps;
    bool overlap, persistent;
  };
  for (Peeled p : {Peeled{128, 192, 8, true, false}, Peeled{128, 128, 8, true, false}, Peeled{128, 128, 8, true, true},
                   Peeled{128, 192, 8, false, false}, Peeled{64, 256, 4, false, false}})
    for (Causal causal : {Causal::none, Causal::bottom_right})
      for (int seqlenK : {1064, 1100, 40}) {
        if (chip != "sm_90a")
          break;
        KernelConfig config{p.blockM, p.blockN, p.warps, 2, chip};
        config.tma = true;
        config.warp_specialized = p.warps == 8;
        config.wg_overlap = p.overlap;
        config.persistent = p.persistent;
        Case c;
        c.spec = AttentionSpec{p.blockN == 256 ? 64 : 128, seqlenK == 1100 ? DType::f16 : DType::bf16, causal, true};
        c.shape = ProblemShape{2, p.persistent ? 40 : 4, 2, 1000, seqlenK, 0, Layout::BSHD};
        if (p.persistent)
          c.sampledRows = 300;
        c.config = config;
        cases.push_back(c);
      }
  // The split tail (persistent, no mask): the last tiles dealt by key blocks over every block, their parts
  // combined by the warpgroup that finishes last. As the runtime plans it (2 parts a tile, every tile split
  // where a grid has under two waves, the benchmark's d128 2k shape) and with the last partial wave alone
  // (FLASHJIT_SPLIT_TAIL=wave: 2-132 parts a tile), and not split (=0: tiles mod G blocks take one more whole
  // tile), on two and three consumer warpgroups, 128- and 192-key
  // blocks, a peeled short last block (seqlen_k 1064), a sharp softmax (the parts' maxima far apart) and
  // conditional rescaling; each twice in a row, so that the second launch finds the counters the first reset,
  // and on one kernel tails of 160, 1 and 88 tiles in turn (the workspace kept between launches: its
  // counters once lay where a smaller tail's parts went, and later tiles were never written).
  struct Split {
    int headDim, blockM, blockN, warps;
    DType dtype;
    bool rescale;
    ProblemShape shape;
    const char *mode;
  };
  for (const Split &p : {Split{128, 128, 128, 8, DType::bf16, false, ProblemShape{1, 20, 0, 1000, 1100, 0, Layout::BSHD}, "plan"},
                         Split{128, 128, 128, 8, DType::bf16, false, ProblemShape{1, 1, 0, 17000, 17000, 0, Layout::BSHD}, "wave"},
                         Split{128, 128, 128, 8, DType::bf16, false, ProblemShape{2, 40, 8, 1300, 1500, 4.0f, Layout::BSHD}, "wave"},
                         Split{128, 128, 128, 8, DType::bf16, false, ProblemShape{2, 40, 8, 1300, 1501, 4.0f, Layout::BSHD}, "off"},
                         Split{128, 128, 128, 8, DType::bf16, false, ProblemShape{2, 40, 8, 1300, 1502, 0, Layout::BSHD}, "wave"},
                         Split{128, 128, 128, 8, DType::bf16, true, ProblemShape{2, 40, 8, 1300, 1503, 4.0f, Layout::BSHD}, "wave"},
                         Split{128, 128, 128, 8, DType::bf16, false, ProblemShape{2, 40, 0, 1300, 1504, 4.0f, Layout::BSHD}, "wave"},
                         Split{128, 128, 128, 8, DType::bf16, true, ProblemShape{8, 16, 0, 2048, 2047, 0, Layout::BSHD}, "off"},
                         Split{128, 128, 128, 8, DType::bf16, false, ProblemShape{1, 20, 0, 1300, 1500, 0, Layout::BSHD}, "wave"},
                         Split{128, 128, 128, 8, DType::bf16, false, ProblemShape{1, 20, 0, 1250, 1500, 0, Layout::BSHD}, "wave"},
                         Split{128, 128, 128, 8, DType::bf16, false, ProblemShape{1, 20, 0, 1280, 1500, 0, Layout::BSHD}, "wave"},
                         Split{128, 128, 128, 8, DType::bf16, false, ProblemShape{1, 20, 0, 1300, 1501, 0, Layout::BSHD}, "plan"},
                         Split{128, 128, 128, 8, DType::bf16, true, ProblemShape{8, 16, 0, 2048, 2048, 0, Layout::BSHD}, "plan"},
                         Split{128, 128, 128, 8, DType::bf16, true, ProblemShape{1, 20, 0, 1000, 1100, 4.0f, Layout::BHSD}, "wave"},
                         Split{64, 128, 128, 8, DType::bf16, true, ProblemShape{4, 40, 8, 1300, 1064, 0, Layout::BSHD}, "plan"},
                         Split{64, 128, 128, 8, DType::f16, false, ProblemShape{1, 9, 0, 2000, 3000, 0, Layout::BSHD}, "wave"},
                         Split{64, 192, 128, 12, DType::f16, false, ProblemShape{2, 24, 0, 1000, 2000, 0, Layout::BSHD}, "plan"},
                         Split{64, 192, 128, 12, DType::bf16, true, ProblemShape{2, 24, 0, 1000, 5000, 0, Layout::BSHD}, "wave"},
                         Split{128, 128, 192, 8, DType::f16, false, ProblemShape{1, 16, 0, 2048, 2048, 0, Layout::BSHD}, "wave"},
                         Split{128, 128, 192, 8, DType::bf16, false, ProblemShape{2, 16, 0, 2000, 2100, 0, Layout::BSHD}, "wave"}}) {
    if (chip != "sm_90a")
      break;
    KernelConfig config{p.blockM, p.blockN, p.warps, 2, chip};
    config.tma = config.warp_specialized = config.wg_overlap = config.persistent = true;
    config.conditional_rescale = p.rescale;
    Case c;
    c.spec = AttentionSpec{p.headDim, p.dtype, Causal::none, true};
    c.shape = p.shape;
    c.config = config;
    c.splitTail = p.mode;
    if (int64_t(p.shape.batch) * p.shape.heads * p.shape.seqlen_q * p.shape.seqlen_k > 20'000'000)
      c.sampledRows = 2000; // many, so that rows of the split tiles are among them
    cases.push_back(c);
    cases.push_back(c);
  }
  // mma_row_sum (the row sums of P from the P·V wgmma, through a tile of ones; head_dim 64): one warpgroup
  // with and without conditional rescaling (key blocks of 128 and 256), two fed by a producer with the
  // softmax overlap, one block per tile and persistent (128- and 192-key blocks; without a mask the split
  // tail's merge, whose sums are these), three persistent ones without a mask. Short last key blocks
  // (1000 and 1500 keys), rows that see no key (bottom-right, 1000 queries over 700 keys), a sharp
  // softmax, f16, and a longer shape for the one-warpgroup kernel.
  if (chip == "sm_90a") {
    auto config = [&](int blockM, int blockN, int warps, bool producer, bool persistent, bool rescale) {
      KernelConfig c{blockM, blockN, warps, 2, chip};
      c.tma = c.mma_row_sum = true;
      c.warp_specialized = c.wg_overlap = producer;
      c.persistent = persistent;
      c.conditional_rescale = rescale;
      return c;
    };
    struct RowSum {
      KernelConfig config;
      Causal causal;
      DType dtype;
      ProblemShape shape;
    };
    const ProblemShape small{2, 3, 0, 700, 1000, 0, Layout::BSHD}, sharp{2, 3, 0, 700, 1000, 4.0f, Layout::BSHD},
        empty{2, 3, 0, 1000, 700, 0, Layout::BHSD}, looping{4, 40, 8, 1300, 1500, 0, Layout::BSHD},
        loopingSharp{4, 40, 8, 1300, 1500, 4.0f, Layout::BSHD}, longer{2, 8, 0, 2048, 2048, 0, Layout::BSHD};
    const KernelConfig one = config(64, 128, 4, false, false, false), oneRescaled = config(64, 128, 4, false, false, true),
                       oneWide = config(64, 256, 4, false, false, true), two = config(128, 128, 8, true, false, false),
                       twoPersistent = config(128, 128, 8, true, true, false),
                       wide = config(128, 192, 8, true, true, false), three = config(192, 128, 12, true, true, false);
    std::vector<RowSum> rowSums;
    for (Causal causal : {Causal::none, Causal::bottom_right}) {
      for (const KernelConfig &c : {one, oneRescaled, oneWide, two})
        for (const ProblemShape &shape : {small, sharp})
          rowSums.push_back({c, causal, DType::bf16, shape});
      for (const KernelConfig &c : {twoPersistent, wide})
        for (const ProblemShape &shape : {looping, loopingSharp})
          rowSums.push_back({c, causal, DType::bf16, shape});
      rowSums.push_back({oneRescaled, causal, DType::f16, small});
      rowSums.push_back({twoPersistent, causal, DType::f16, looping});
      rowSums.push_back({oneRescaled, causal, DType::bf16, longer});
    }
    rowSums.push_back({three, Causal::none, DType::bf16, looping});
    rowSums.push_back({oneRescaled, Causal::top_left, DType::bf16, small});
    rowSums.push_back({twoPersistent, Causal::top_left, DType::bf16, looping});
    for (const KernelConfig &c : {one, oneRescaled, two, twoPersistent})
      rowSums.push_back({c, Causal::bottom_right, DType::bf16, empty});
    for (const RowSum &r : rowSums) {
      Case c;
      c.spec = AttentionSpec{64, r.dtype, r.causal, true};
      c.shape = r.shape;
      c.config = r.config;
      if (r.config.persistent && r.causal == Causal::none)
        c.splitTail = "wave"; // the most parts a tile
      if (int64_t(r.shape.batch) * r.shape.heads * r.shape.seqlen_q * r.shape.seqlen_k > 20'000'000)
        c.sampledRows = 2000;
      cases.push_back(c);
    }
  }
  if (!quick) {
    Case longest;
    longest.spec = AttentionSpec{64, DType::bf16, Causal::bottom_right, true};
    longest.shape = ProblemShape{1, 2, 0, 16384, 16384, 0, Layout::BSHD};
    longest.sampledRows = 300;
    cases.push_back(longest);
  }
  return cases;
}


} // namespace

int main(int argc, char **argv) {
  std::string reportPath = "gpu-report.json";
  bool quick = false, timings = true;
  std::optional<std::regex> only;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--report" && i + 1 < argc)
      reportPath = argv[++i];
    else if (arg == "--quick")
      quick = true;
    else if (arg == "--no-timings")
      timings = false;
    else if (arg == "--only" && i + 1 < argc) {
      try {
        only = std::regex(argv[++i]);
      } catch (const std::regex_error &error) {
        std::cerr << "flashjit-gpu-check: --only '" << argv[i] << "' is not a regular expression: " << error.what()
                  << "\n";
        return 2;
      }
    }
    else {
      std::cerr << "usage: flashjit-gpu-check [--report FILE] [--quick] [--no-timings] [--only REGEX]\n";
      return 2;
    }
  }

  std::ostringstream report;
  report << "{\n";
  int failures = 0, total = 0;
  bool inList = false; // a JSON list is open and must be closed on error
  auto count = [&](bool passed, const std::string &what) {
    ++total;
    failures += passed ? 0 : 1;
    std::cout << (passed ? "PASS " : "FAIL ") << what << "\n";
  };
  try {
    DeviceInfo device = deviceInfo();
    const std::string &chip = device.chip;
    std::cout << "device: " << device.name << " (" << chip << "), driver " << device.driver_version << "\n";
    report << "  \"device\": " << flashjit::jsonString(device.name) << ",\n  \"chip\": " << flashjit::jsonString(chip)
           << ",\n  \"driver\": " << device.driver_version << ",\n  \"flashjit\": " << flashjit::jsonString(version())
           << ",\n  \"cases\": [\n";
    inList = true;
    std::map<std::string, std::shared_ptr<Kernel>> kernels;
    unsigned seed = 0;
    bool firstCase = true;
    std::vector<Case> cases = correctnessCases(quick, chip);
    auto selected = [&](const Case &c, const KernelConfig &config) {
      return !only || std::regex_search(c.spec.name() + " " + config.str().substr(14) +
                                            (c.splitTail.empty() ? "" : " split_tail"),
                                        *only);
    };
    std::vector<std::pair<AttentionSpec, KernelConfig>> needed; // compiled at once, loaded as the cases come
    for (const Case &c : cases) {
      KernelConfig config = c.config ? *c.config : defaultConfig(c.spec, chip);
      if (!c.oneCall && selected(c, config))
        needed.push_back({c.spec, config});
    }
    compileAll(needed);
    for (const Case &c : cases) {
      KernelConfig config = c.config ? *c.config : defaultConfig(c.spec, chip);
      if (!selected(c, config))
        continue;
      std::string key = c.spec.name() + config.str();
      if (!c.oneCall && !kernels.count(key))
        kernels[key] = load(c.spec, config);
      ++seed;
      SplitTail split;
      if (!c.splitTail.empty()) {
        split = expectedSplit(c, config, device.multiprocessors);
        if (c.splitTail == "plan")
          unsetenv("FLASHJIT_SPLIT_TAIL");
        else
          setenv("FLASHJIT_SPLIT_TAIL", c.splitTail == "off" ? "0" : "wave", 1);
      }
      CheckReport check =
          c.oneCall ? checkOnDevice(c.spec, c.shape, seed, c.sampledRows,
                                    [&](const AttentionArgs &args) { attention(c.spec, args); })
                    : checkOnDevice(*kernels[key], c.shape, seed, c.sampledRows);
      const ProblemShape &s = c.shape;
      std::ostringstream what;
      what << (c.oneCall ? "attention() " : "") << c.spec.name() << " " << config.str().substr(14) << " b"
           << s.batch << " h" << s.heads << "/" << s.kv_heads << " q" << s.seqlen_q << " k" << s.seqlen_k << " "
           << layoutName(s.layout) << ": rel " << check.rel_error << ", lse rel " << check.lse_rel_error
           << ", rows " << check.rows_checked << " (empty " << check.empty_rows << ", wrong "
           << check.empty_rows_wrong << "), NaN " << check.nan_count;
      if (!check.passed && (check.rows_over_tolerance > 0 || check.nan_rows > 0))
        what << "; " << describeWrongRows(check, s);
      if (!c.splitTail.empty()) {
        unsetenv("FLASHJIT_SPLIT_TAIL");
        if (!check.nan_row_list.empty()) { // which tiles and warpgroups: (tile, warpgroup) x rows with NaN
          std::map<std::pair<long, long>, int> where;
          const long queryBlocks = (s.seqlen_q + config.block_m - 1) / config.block_m;
          for (long flat : check.nan_row_list) {
            const long slice = flat / s.seqlen_q, row = flat % s.seqlen_q;
            ++where[{slice * queryBlocks + row / config.block_m, row % config.block_m / 64}];
          }
          what << "; NaN in (tile, warpgroup) x rows:";
          int shown = 0;
          for (const auto &[tileGroup, rows] : where)
            if (shown++ < 40)
              what << " (" << tileGroup.first << "," << tileGroup.second << ")x" << rows;
        }
        const bool named = (c.splitTail == "off") == (split.tiles == 0);
        what << "; split tail (" << c.splitTail << ") " << split.tiles << " tiles, up to " << split.part_slots
             << " parts" << (named ? "" : ": the case does not test what it names");
        check.passed = check.passed && named;
      }
      count(check.passed, what.str());
      report << (firstCase ? "" : ",\n") << "    {\"kernel\": " << flashjit::jsonString(c.spec.name())
             << ", \"api\": " << flashjit::jsonString(c.oneCall ? "attention" : "Kernel")
             << ", \"config\": " << flashjit::jsonString(config.str().substr(14, config.str().size() - 15)) << ", \"batch\": " << s.batch
             << ", \"heads\": " << s.heads << ", \"kv_heads\": " << s.kv_heads << ", \"seqlen_q\": " << s.seqlen_q
             << ", \"seqlen_k\": " << s.seqlen_k << ", \"layout\": " << flashjit::jsonString(layoutName(s.layout))
             << ", \"scale\": " << s.softmax_scale << ", \"rows_checked\": " << check.rows_checked
             << ", \"empty_rows\": " << check.empty_rows << ", \"empty_rows_wrong\": " << check.empty_rows_wrong
             << ", \"nan\": " << check.nan_count << ", \"rows_over_tolerance\": " << check.rows_over_tolerance
             << ", \"rel_error\": " << check.rel_error
             << ", \"lse_rel_error\": " << check.lse_rel_error << ", \"tolerance\": " << check.tolerance
             << ", \"split_tail_tiles\": " << split.tiles << ", \"split_tail_parts\": " << split.part_slots
             << ", \"passed\": " << (check.passed ? "true" : "false") << "}";
      firstCase = false;
    }
    report << "\n  ],\n  \"compile\": [\n";
    bool first = true;
    for (auto &[key, kernel] : kernels) {
      report << (first ? "" : ",\n") << "    {\"kernel\": " << flashjit::jsonString(kernel->compiled().name)
             << ", \"compile_ms\": " << kernel->compiled().compile_ms << ", \"driver_load_ms\": " << kernel->load_ms()
             << ", \"registers\": " << kernel->registers() << ", \"spill_bytes\": " << kernel->spill_bytes() << "}";
      first = false;
    }

    // The kernel cache across "processes": with the memory cache emptied, a kernel comes back from disk
    // without MLIR; a damaged entry is rebuilt.
    {
      AttentionSpec spec{128, DType::bf16, Causal::bottom_right, true};
      KernelConfig config = defaultConfig(spec, chip);
      clearCache(/*disk=*/true);
      auto cold = Kernel::load(spec, compileCached(spec, config));
      clearCache(/*disk=*/false);
      auto start = std::chrono::steady_clock::now();
      CompiledKernel compiled = compileCached(spec, config);
      double hitMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      auto warm = Kernel::load(spec, compiled);
      CacheStats stats = cacheStats();
      bool warmOk = stats.disk_hits == 1 && stats.compilations == 0;
      ProblemShape shape{1, 2, 0, 129, 300, 0, Layout::BSHD};
      CheckReport check = checkOnDevice(*warm, shape, 7);
      std::ostringstream what;
      what << "cache: cold compile " << cold->compiled().compile_ms << " ms + driver JIT/load " << cold->load_ms()
           << " ms; disk hit " << hitMs << " ms + load " << warm->load_ms() << " ms; output rel "
           << check.rel_error;
      count(warmOk && check.passed, what.str());
      // Damage every entry: the next load must notice, rebuild and still compute the right answer.
      for (const auto &entry : std::filesystem::directory_iterator(stats.directory))
        if (entry.path().extension() == ".fjk")
          std::filesystem::resize_file(entry.path(), std::filesystem::file_size(entry.path()) / 2);
      clearCache(/*disk=*/false);
      auto rebuilt = Kernel::load(spec, compileCached(spec, config));
      CacheStats after = cacheStats();
      CheckReport again = checkOnDevice(*rebuilt, shape, 8);
      count(after.corrupt_entries == 1 && after.compilations == 1 && again.passed,
            "cache: a truncated entry is detected (" + std::to_string(after.corrupt_entries) +
                " damaged), rebuilt, and the kernel still passes");
      report << "\n  ],\n  \"cache\": {\"cold_compile_ms\": " << cold->compiled().compile_ms
             << ", \"cold_driver_load_ms\": " << cold->load_ms() << ", \"disk_hit_ms\": " << hitMs
             << ", \"warm_load_ms\": " << warm->load_ms() << ", \"passed\": " << (warmOk && check.passed ? "true" : "false")
             << "},\n  \"timing\": [\n";
    }

    // PTX the driver rejects: a DriverError that carries the JIT's log.
    {
      AttentionSpec spec{64, DType::bf16, Causal::none, true};
      CompiledKernel broken = compileCached(spec, defaultConfig(spec, chip));
      broken.ptx += "\nthis is not PTX;\n";
      std::string message;
      Error::Code code = Error::Code::Internal;
      try {
        Kernel::load(spec, broken);
      } catch (const Error &error) {
        message = error.what();
        code = error.code();
      }
      bool ok = code == Error::Code::DriverError && message.find("could not compile the PTX") != std::string::npos &&
                message.find("\n") + 1 < message.size(); // the log follows the first line
      count(ok, "broken PTX: Error(DriverError) with the JIT log: " + flashjit::jsonString(message.substr(0, 300)));
    }

    // The autotuner on a small shape: every candidate accounted for, the winner the fastest of those timed
    // (after the leaders' second timing) and verified, the result kept on disk and read back, not re-tuned.
    {
      AttentionSpec spec{64, DType::bf16, Causal::bottom_right, true};
      ProblemShape shape{2, 4, 0, 1000, 1000, 0, Layout::BSHD};
      TuneOptions force;
      force.force = true;
      TuneResult tuned = tune(spec, shape, force);
      std::vector<KernelConfig> space = tuningSpace(spec, chip);
      const TuneCandidate *fastest = nullptr;
      int confirmed = 0;
      for (const TuneCandidate &c : tuned.candidates)
        if (c.skipped.empty()) {
          confirmed += c.confirm_rounds > 0;
          if (!fastest || c.median_ms < fastest->median_ms)
            fastest = &c;
        }
      bool inSpace = std::any_of(space.begin(), space.end(),
                                 [&](const KernelConfig &c) { return c.str() == tuned.best.str(); });
      TuneResult again = tune(spec, shape);
      bool ok = tuned.candidates.size() == space.size() && inSpace && fastest &&
                fastest->config.str() == tuned.best.str() && tuned.check.passed && !tuned.from_store &&
                again.from_store && again.best.str() == tuned.best.str() &&
                (tuned.path.empty() || std::filesystem::exists(tuned.path));
      std::ostringstream what;
      what << "tune " << spec.name() << " q1000: " << tuned.candidates.size() << " candidates, " << confirmed
           << " timed again, winner " << tuned.best.str().substr(14) << " " << (fastest ? fastest->tflops : 0)
           << " TFLOP/s, rel " << tuned.check.rel_error << ", in " << tuned.tune_ms << " ms; stored: "
           << (again.from_store ? "read back" : "NOT read back");
      count(ok, what.str());
    }

    // Throughput on the papers' grid point: 16k tokens, hidden 2048, seqlen 4096, bf16 (not a pass/fail
    // criterion; the benchmark issue owns the full grid).
    first = true;
    for (int headDim : {64, 128})
      for (Causal causal : {Causal::none, Causal::bottom_right}) {
        if (!timings)
          break;
        AttentionSpec spec{headDim, DType::bf16, causal, false};
        ProblemShape shape{4, 2048 / headDim, 0, 4096, 4096, 0, Layout::BSHD};
        for (const KernelConfig &config : tuningSpace(spec, chip)) {
          BenchReport bench = benchmark(*load(spec, config), shape);
          std::cout << "time " << spec.name() << " " << config.str().substr(14) << " b" << shape.batch << " h"
                    << shape.heads << " s4096: " << bench.median_ms << " ms, " << bench.tflops << " TFLOP/s\n";
          report << (first ? "" : ",\n") << "    {\"kernel\": " << flashjit::jsonString(spec.name()) << ", \"config\": "
                 << flashjit::jsonString(config.str().substr(14, config.str().size() - 15)) << ", \"batch\": " << shape.batch
                 << ", \"heads\": " << shape.heads << ", \"seqlen\": 4096, \"median_ms\": " << bench.median_ms
                 << ", \"tflops\": " << bench.tflops << "}";
          first = false;
        }
      }
    report << "\n  ],\n";
    inList = false;
  } catch (const std::exception &error) {
    std::cerr << "flashjit-gpu-check: " << error.what() << "\n";
    report << (inList ? "\n  ],\n" : "") << "  \"error\": " << flashjit::jsonString(error.what()) << ",\n";
    failures++;
  }
  report << "  \"passed\": " << total - (failures > total ? total : failures) << ",\n  \"failed\": " << failures
         << "\n}\n";
  std::ofstream(reportPath) << report.str();
  std::cout << total - std::min(failures, total) << " passed, " << failures << " failed\n";
  return failures ? 1 : 0;
}
