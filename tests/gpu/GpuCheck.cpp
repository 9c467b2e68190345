// flashjit-gpu-check: compiles kernels with flashjit, runs them on the GPU on random inputs with NaN-poisoned
// outputs, compares O and lse with the float64 reference (every row of small shapes, sampled rows of large
// ones), times one large shape, and writes a JSON report.
//
//   flashjit-gpu-check --report gpu-report.json [--quick]
#include "runtime/CudaDriver.h"
#include "runtime/flashjit.h"
#include "runtime/flashjit_testing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <vector>

using namespace flashjit;

namespace {

// --- 16-bit conversions of values that are already exactly representable -----------------------------
uint16_t toBits(DType dtype, float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  if (dtype == DType::bf16)
    return uint16_t(x >> 16);
  uint32_t sign = (x >> 16) & 0x8000u, exponent = (x >> 23) & 0xffu, mantissa = x & 0x7fffffu;
  if (exponent == 0xff)
    return uint16_t(sign | 0x7c00u | (mantissa ? 0x200u : 0));
  int e = int(exponent) - 127 + 15;
  if (e >= 31)
    return uint16_t(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10)
      return uint16_t(sign);
    return uint16_t(sign | ((mantissa | 0x800000u) >> (14 - e)));
  }
  return uint16_t(sign | (uint32_t(e) << 10) | (mantissa >> 13));
}

float fromBits(DType dtype, uint16_t bits) {
  uint32_t x;
  if (dtype == DType::bf16) {
    x = uint32_t(bits) << 16;
  } else {
    uint32_t sign = uint32_t(bits & 0x8000u) << 16, exponent = (bits >> 10) & 0x1fu, mantissa = bits & 0x3ffu;
    if (exponent == 0x1f) {
      x = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent == 0) {
      float value = std::ldexp(float(mantissa), -24);
      return sign ? -value : value;
    } else {
      x = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
    }
  }
  float value;
  std::memcpy(&value, &x, 4);
  return value;
}

struct DeviceBuffer {
  CUdeviceptr pointer = 0;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t size) : bytes(std::max<size_t>(size, 16)) {
    CudaDriver::get().check(CudaDriver::get().cuMemAlloc_v2(&pointer, bytes), "cuMemAlloc");
  }
  ~DeviceBuffer() { CudaDriver::get().cuMemFree_v2(pointer); }
  DeviceBuffer(const DeviceBuffer &) = delete;
};

std::vector<uint16_t> toDevice16(DType dtype, const std::vector<float> &values) {
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i)
    bits[i] = toBits(dtype, values[i]);
  return bits;
}

/// A kernel compiled and loaded through the public API, with the time each step took.
struct LoadedKernel {
  std::shared_ptr<Kernel> kernel;
  double load_ms = 0;
  const CompiledKernel &compiled() const { return kernel->compiled(); }
};

LoadedKernel load(const AttentionSpec &spec, const KernelConfig &config) {
  CompiledKernel compiled = compile(spec, config);
  auto start = std::chrono::steady_clock::now();
  LoadedKernel loaded;
  loaded.kernel = Kernel::load(spec, compiled);
  loaded.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return loaded;
}

/// Device copies of one problem and the launch that computes it.
struct DeviceProblem {
  const AttentionData &data;
  DeviceBuffer q, k, v, o, lse;

  explicit DeviceProblem(const AttentionData &d)
      : data(d), q(d.q.size() * 2), k(d.k.size() * 2), v(d.v.size() * 2), o(d.outputElements() * 2),
        lse(d.lseElements() * 4) {
    CudaDriver &cuda = CudaDriver::get();
    for (auto [buffer, values] : {std::pair{&q, &d.q}, std::pair{&k, &d.k}, std::pair{&v, &d.v}}) {
      std::vector<uint16_t> bits = toDevice16(d.spec.dtype, *values);
      cuda.check(cuda.cuMemcpyHtoD_v2(buffer->pointer, bits.data(), bits.size() * 2), "cuMemcpyHtoD");
    }
  }

  /// Poisons O and lse with NaN (0xFF bytes) so that anything left unwritten fails the check.
  void poison() {
    CudaDriver &cuda = CudaDriver::get();
    cuda.check(cuda.cuMemsetD8_v2(o.pointer, 0xff, o.bytes), "cuMemsetD8");
    cuda.check(cuda.cuMemsetD8_v2(lse.pointer, 0xff, lse.bytes), "cuMemsetD8");
  }

  AttentionArgs args() const {
    const ProblemShape &s = data.shape;
    AttentionArgs args;
    args.q = reinterpret_cast<const void *>(q.pointer);
    args.k = reinterpret_cast<const void *>(k.pointer);
    args.v = reinterpret_cast<const void *>(v.pointer);
    args.o = reinterpret_cast<void *>(o.pointer);
    args.lse = data.spec.logsumexp ? reinterpret_cast<float *>(lse.pointer) : nullptr;
    args.batch = s.batch;
    args.heads = s.heads;
    args.kv_heads = s.kv_heads;
    args.seqlen_q = s.seqlen_q;
    args.seqlen_k = s.seqlen_k;
    args.softmax_scale = s.softmax_scale;
    for (int i = 0; i < 3; ++i) {
      args.q_strides[i] = args.o_strides[i] = data.qStrides[i];
      args.k_strides[i] = args.v_strides[i] = data.kvStrides[i];
    }
    return args;
  }

  void launch(const LoadedKernel &loaded) { loaded.kernel->launch(args()); }

  void fetch(std::vector<float> &output, std::vector<float> &logsumexp) {
    CudaDriver &cuda = CudaDriver::get();
    std::vector<uint16_t> bits(data.outputElements());
    cuda.check(cuda.cuMemcpyDtoH_v2(bits.data(), o.pointer, bits.size() * 2), "cuMemcpyDtoH");
    output.resize(bits.size());
    for (size_t i = 0; i < bits.size(); ++i)
      output[i] = fromBits(data.spec.dtype, bits[i]);
    logsumexp.resize(data.lseElements());
    cuda.check(cuda.cuMemcpyDtoH_v2(logsumexp.data(), lse.pointer, logsumexp.size() * 4), "cuMemcpyDtoH");
  }
};

struct Case {
  AttentionSpec spec;
  ProblemShape shape;
  int sampledRows = 0;                // 0: check every row
  std::optional<KernelConfig> config; // default: defaultConfig(spec, chip)
  bool oneCall = false;               // run through attention() instead of compile() + Kernel
};

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
  if (!quick) {
    Case longest;
    longest.spec = AttentionSpec{64, DType::bf16, Causal::bottom_right, true};
    longest.shape = ProblemShape{1, 2, 0, 16384, 16384, 0, Layout::BSHD};
    longest.sampledRows = 300;
    cases.push_back(longest);
  }
  return cases;
}

std::string json(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

} // namespace

int main(int argc, char **argv) {
  std::string reportPath = "gpu-report.json";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--report" && i + 1 < argc)
      reportPath = argv[++i];
    else if (arg == "--quick")
      quick = true;
    else {
      std::cerr << "usage: flashjit-gpu-check [--report FILE] [--quick]\n";
      return 2;
    }
  }

  std::ostringstream report;
  report << "{\n";
  int failures = 0, total = 0;
  bool inList = false; // a JSON list is open and must be closed on error
  try {
    CudaDriver &cuda = CudaDriver::get();
    cuda.ensureContext();
    DeviceInfo device = deviceInfo();
    const std::string &chip = device.chip;
    const char *name = device.name.c_str();
    int driverVersion = device.driver_version;
    std::cout << "device: " << name << " (" << chip << "), driver " << driverVersion << "\n";

    report << "  \"device\": " << json(name) << ",\n  \"chip\": " << json(chip)
           << ",\n  \"driver\": " << driverVersion << ",\n  \"flashjit\": " << json(version())
           << ",\n  \"cases\": [\n";
    inList = true;
    std::map<std::string, LoadedKernel> kernels;
    unsigned seed = 0;
    for (const Case &c : correctnessCases(quick, chip)) {
      KernelConfig config = c.config ? *c.config : defaultConfig(c.spec, chip);
      std::string key = c.spec.name() + config.str();
      if (!c.oneCall && !kernels.count(key))
        kernels[key] = load(c.spec, config);
      AttentionData data = randomAttentionData(c.spec, c.shape, ++seed);
      DeviceProblem problem(data);
      problem.poison();
      if (c.oneCall)
        attention(c.spec, problem.args());
      else
        problem.launch(kernels[key]);
      cuda.check(cuda.cuCtxSynchronize(), "running the kernel");
      std::vector<float> output, lse;
      problem.fetch(output, lse);
      std::vector<int64_t> rows;
      if (c.sampledRows) {
        std::mt19937 generator(seed);
        std::uniform_int_distribution<int64_t> pick(0, data.lseElements() - 1);
        for (int i = 0; i < c.sampledRows; ++i)
          rows.push_back(pick(generator));
      }
      CheckReport check = compareWithReference(data, output, lse, rows);
      ++total;
      failures += check.passed ? 0 : 1;
      const ProblemShape &s = data.shape;
      std::cout << (check.passed ? "PASS " : "FAIL ") << (c.oneCall ? "attention() " : "") << c.spec.name() << " "
                << config.str().substr(14) << " b" << s.batch << " h" << s.heads
                << "/" << s.kv_heads << " q" << s.seqlen_q << " k" << s.seqlen_k << " " << layoutName(s.layout)
                << ": rel " << check.rel_error << ", lse rel " << check.lse_rel_error << ", rows "
                << check.rows_checked << " (empty " << check.empty_rows << ", wrong " << check.empty_rows_wrong
                << "), NaN " << check.nan_count << "\n";
      report << (total > 1 ? ",\n" : "") << "    {\"kernel\": " << json(c.spec.name())
             << ", \"api\": " << json(c.oneCall ? "attention" : "Kernel")
             << ", \"config\": " << json(config.str().substr(14, config.str().size() - 15)) << ", \"batch\": " << s.batch
             << ", \"heads\": " << s.heads << ", \"kv_heads\": " << s.kv_heads << ", \"seqlen_q\": " << s.seqlen_q
             << ", \"seqlen_k\": " << s.seqlen_k << ", \"layout\": " << json(layoutName(s.layout))
             << ", \"scale\": " << s.softmax_scale << ", \"rows_checked\": " << check.rows_checked
             << ", \"empty_rows\": " << check.empty_rows << ", \"empty_rows_wrong\": " << check.empty_rows_wrong
             << ", \"nan\": " << check.nan_count << ", \"rel_error\": " << check.rel_error
             << ", \"lse_rel_error\": " << check.lse_rel_error << ", \"tolerance\": " << check.tolerance
             << ", \"passed\": " << (check.passed ? "true" : "false") << "}";
    }
    report << "\n  ],\n  \"compile\": [\n";
    bool first = true;
    for (auto &[key, kernel] : kernels) {
      report << (first ? "" : ",\n") << "    {\"kernel\": " << json(kernel.compiled().name)
             << ", \"compile_ms\": " << kernel.compiled().compile_ms << ", \"driver_load_ms\": " << kernel.load_ms
             << "}";
      first = false;
    }

    // Throughput on the papers' grid point: 16k tokens, hidden 2048, seqlen 4096, bf16 (not a pass/fail
    // criterion; the benchmark issue owns the full grid).
    report << "\n  ],\n  \"timing\": [\n";
    first = true;
    for (int headDim : {64, 128})
      for (Causal causal : {Causal::none, Causal::bottom_right}) {
        AttentionSpec spec{headDim, DType::bf16, causal, false};
        ProblemShape shape{4, 2048 / headDim, 0, 4096, 4096, 0, Layout::BSHD};
        for (const KernelConfig &config : tuningSpace(spec, chip)) {
        LoadedKernel kernel = load(spec, config);
        AttentionData data = randomAttentionData(spec, shape, 99);
        DeviceProblem problem(data);
        CUevent start, stop;
        cuda.check(cuda.cuEventCreate(&start, 0), "cuEventCreate");
        cuda.check(cuda.cuEventCreate(&stop, 0), "cuEventCreate");
        std::vector<float> times;
        for (int i = 0; i < 3; ++i)
          problem.launch(kernel);
        for (int i = 0; i < 20; ++i) {
          cuda.cuEventRecord(start, nullptr);
          problem.launch(kernel);
          cuda.cuEventRecord(stop, nullptr);
          cuda.check(cuda.cuEventSynchronize(stop), "timing the kernel");
          float ms = 0;
          cuda.cuEventElapsedTime(&ms, start, stop);
          times.push_back(ms);
        }
        std::sort(times.begin(), times.end());
        double median = times[times.size() / 2];
        double flops = 4.0 * shape.batch * shape.heads * double(shape.seqlen_q) * shape.seqlen_k * headDim;
        if (causal != Causal::none)
          flops /= 2;
        double tflops = flops / (median * 1e-3) / 1e12;
        std::cout << "time " << spec.name() << " " << config.str().substr(14) << " b" << shape.batch << " h" << shape.heads << " s4096: " << median
                  << " ms, " << tflops << " TFLOP/s\n";
        report << (first ? "" : ",\n") << "    {\"kernel\": " << json(spec.name()) << ", \"config\": "
               << json(config.str().substr(14, config.str().size() - 15)) << ", \"batch\": " << shape.batch << ", \"heads\": " << shape.heads
               << ", \"seqlen\": 4096, \"median_ms\": " << median << ", \"tflops\": " << tflops << "}";
        first = false;
        cuda.cuEventDestroy_v2(start);
        cuda.cuEventDestroy_v2(stop);
        }
      }
    report << "\n  ],\n";
    inList = false;
  } catch (const std::exception &error) {
    std::cerr << "flashjit-gpu-check: " << error.what() << "\n";
    report << (inList ? "\n  ],\n" : "") << "  \"error\": " << json(error.what()) << ",\n";
    failures++;
  }
  report << "  \"passed\": " << total - (failures > total ? total : failures) << ",\n  \"failed\": " << failures
         << "\n}\n";
  std::ofstream(reportPath) << report.str();
  std::cout << total - std::min(failures, total) << " passed, " << failures << " failed\n";
  return failures ? 1 : 0;
}
