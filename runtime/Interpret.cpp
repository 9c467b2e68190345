// Interpret mode: a kernel's tile-level IR run on the CPU and checked against the float64 reference.
#include "compiler/Pipeline.h"
#include "runtime/flashjit_testing.h"

#include <limits>

namespace flashjit {

namespace {

HostMemRef view(std::vector<float> &buffer, std::vector<int64_t> sizes, std::vector<int64_t> strides) {
  HostMemRef memref;
  memref.data = buffer.data();
  memref.sizes = std::move(sizes);
  memref.strides = std::move(strides);
  return memref;
}

} // namespace

CheckReport interpretAndCheck(const AttentionSpec &spec, const KernelConfig &config,
                              const ProblemShape &shape, unsigned seed, Stage stage) {
  if (stage == Stage::flash || stage > Stage::scheduled)
    throw Error(Error::Code::InvalidArgument, std::string("interpret mode runs tile-level IR: pick the "
                                                          "tiled, fused, causal or scheduled stage, not ") +
                                                  toString(stage));
  validate(spec);
  validate(config);
  AttentionData data = randomAttentionData(spec, shape, seed);
  const ProblemShape &s = data.shape;
  const int64_t d = spec.head_dim;
  std::vector<float> q = data.q, k = data.k, v = data.v;
  // Poisoned: a row the kernel forgets to write shows up as NaN.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> output(data.outputElements(), nan), lse(data.lseElements(), nan);
  auto strides = [](const std::array<int64_t, 4> &a) { return std::vector<int64_t>(a.begin(), a.end()); };

  std::vector<InterpreterArg> args = {
      InterpreterArg::of(view(q, {s.batch, s.heads, s.seqlen_q, d}, strides(data.qStrides))),
      InterpreterArg::of(view(k, {s.batch, s.kv_heads, s.seqlen_k, d}, strides(data.kvStrides))),
      InterpreterArg::of(view(v, {s.batch, s.kv_heads, s.seqlen_k, d}, strides(data.kvStrides))),
      InterpreterArg::of(view(output, {s.batch, s.heads, s.seqlen_q, d}, strides(data.qStrides)))};
  if (spec.logsumexp)
    args.push_back(InterpreterArg::of(
        view(lse, {s.batch, s.heads, s.seqlen_q}, {int64_t(s.heads) * s.seqlen_q, s.seqlen_q, 1})));
  args.push_back(InterpreterArg::of(s.softmax_scale));

  std::string problem = compiler::interpretAttentionKernel(spec, config, stage, args);
  if (!problem.empty())
    throw Error(Error::Code::Internal, "interpreting " + spec.name() + ": " + problem);
  return compareWithReference(data, output, lse);
}

} // namespace flashjit
