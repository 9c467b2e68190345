// Running kernels on the GPU on random inputs: checkOnDevice (NaN-poisoned outputs compared with the float64
// reference) and benchmark (CUDA-event timing with inputs rotated past the L2 cache). Used by `flashjit run`,
// `flashjit bench`, the GPU tests and the autotuner.
#include "runtime/CudaDriver.h"
#include "runtime/DeviceRun.h"
#include "runtime/flashjit.h"
#include "runtime/flashjit_testing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

namespace flashjit {

namespace {

/// The 16-bit pattern of `value`, which is already exactly representable in `dtype` (f16 or bf16).
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
    CudaDriver::get().check(CudaDriver::get().cuMemAlloc_v2(&pointer, bytes), "allocating GPU memory (cuMemAlloc)");
  }
  ~DeviceBuffer() { CudaDriver::get().cuMemFree_v2(pointer); }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
};

void upload(DeviceBuffer &buffer, DType dtype, const std::vector<float> &values) {
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i)
    bits[i] = toBits(dtype, values[i]);
  CudaDriver &cuda = CudaDriver::get();
  cuda.check(cuda.cuMemcpyHtoD_v2(buffer.pointer, bits.data(), bits.size() * 2), "copying inputs to the GPU");
}

/// Device copies of one problem's inputs and outputs.
struct DeviceProblem {
  const AttentionData &data;
  DeviceBuffer q, k, v, o, lse;

  explicit DeviceProblem(const AttentionData &d)
      : data(d), q(d.q.size() * 2), k(d.k.size() * 2), v(d.v.size() * 2), o(d.outputElements() * 2),
        lse(d.lseElements() * 4) {
    upload(q, d.spec.dtype, d.q);
    upload(k, d.spec.dtype, d.k);
    upload(v, d.spec.dtype, d.v);
  }

  /// Fills O and lse with NaN (0xFF bytes) so that anything the kernel leaves unwritten fails the check.
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

  void fetch(std::vector<float> &output, std::vector<float> &logsumexp) const {
    CudaDriver &cuda = CudaDriver::get();
    std::vector<uint16_t> bits(data.outputElements());
    cuda.check(cuda.cuMemcpyDtoH_v2(bits.data(), o.pointer, bits.size() * 2), "copying O from the GPU");
    output.resize(bits.size());
    for (size_t i = 0; i < bits.size(); ++i)
      output[i] = fromBits(data.spec.dtype, bits[i]);
    logsumexp.resize(data.lseElements());
    cuda.check(cuda.cuMemcpyDtoH_v2(logsumexp.data(), lse.pointer, logsumexp.size() * 4),
               "copying lse from the GPU");
  }
};

/// CUDA events for timing, destroyed on every path out.
class Events {
public:
  explicit Events(int count) : events_(count) {
    CudaDriver &cuda = CudaDriver::get();
    for (CUevent &event : events_)
      cuda.check(cuda.cuEventCreate(&event, 0), "cuEventCreate");
  }
  ~Events() {
    for (CUevent event : events_)
      if (event)
        CudaDriver::get().cuEventDestroy_v2(event);
  }
  Events(const Events &) = delete;
  Events &operator=(const Events &) = delete;
  CUevent operator[](int i) const { return events_[i]; }
  /// Milliseconds from event `from` to event `to`, once `to` has completed.
  float elapsedMs(int from, int to) const {
    CudaDriver &cuda = CudaDriver::get();
    cuda.check(cuda.cuEventSynchronize(events_[to]), "running the kernel");
    float ms = 0;
    cuda.check(cuda.cuEventElapsedTime(&ms, events_[from], events_[to]), "cuEventElapsedTime");
    return ms;
  }

private:
  std::vector<CUevent> events_;
};

} // namespace

CheckReport checkOnDevice(const AttentionSpec &spec, const ProblemShape &shape, unsigned seed, int sampled_rows,
                          const std::function<void(const AttentionArgs &)> &launch) {
  CudaDriver &cuda = CudaDriver::get();
  cuda.ensureContext();
  AttentionData data = randomAttentionData(spec, shape, seed);
  DeviceProblem problem(data);
  problem.poison();
  launch(problem.args());
  cuda.check(cuda.cuCtxSynchronize(), "running the kernel");
  std::vector<float> output, lse;
  problem.fetch(output, lse);
  std::vector<int64_t> rows;
  if (sampled_rows > 0 && sampled_rows < data.lseElements()) {
    std::mt19937 generator(seed);
    std::uniform_int_distribution<int64_t> pick(0, data.lseElements() - 1);
    for (int i = 0; i < sampled_rows; ++i)
      rows.push_back(pick(generator));
  }
  return compareWithReference(data, output, lse, rows);
}

CheckReport checkOnDevice(const Kernel &kernel, const ProblemShape &shape, unsigned seed, int sampled_rows) {
  return checkOnDevice(kernel.spec(), shape, seed, sampled_rows,
                       [&](const AttentionArgs &args) { kernel.launch(args); });
}

double attentionFlops(const AttentionSpec &spec, const ProblemShape &shape) {
  double pairs = double(shape.seqlen_q) * shape.seqlen_k;
  if (spec.causal != Causal::none) {
    if (shape.seqlen_q == shape.seqlen_k) {
      pairs /= 2; // as the FlashAttention papers count causal attention
    } else {
      // Row i sees keys j <= i + offset (offset 0 top-left, seqlen_k - seqlen_q bottom-right).
      long long offset = spec.causal == Causal::bottom_right ? (long long)shape.seqlen_k - shape.seqlen_q : 0;
      pairs = 0;
      for (long long i = 0; i < shape.seqlen_q; ++i)
        pairs += double(std::clamp<long long>(i + offset + 1, 0, shape.seqlen_k));
    }
  }
  return 4.0 * shape.batch * shape.heads * pairs * spec.head_dim;
}

struct BenchInputs::Impl {
  AttentionData data;
  std::vector<std::unique_ptr<DeviceProblem>> copies;
  size_t launches = 0; // rotates through the copies
  void launch(const Kernel &kernel) { kernel.launch(copies[launches++ % copies.size()]->args()); }
};

BenchInputs::BenchInputs(const AttentionSpec &spec, const ProblemShape &shape) : impl_(std::make_unique<Impl>()) {
  CudaDriver &cuda = CudaDriver::get();
  cuda.ensureContext();
  impl_->data = randomAttentionData(spec, shape, 1);
  const AttentionData &data = impl_->data;
  // Enough copies of the inputs and outputs that consecutive launches do not find them in the L2 cache.
  CUdevice device;
  cuda.check(cuda.cuCtxGetDevice(&device), "cuCtxGetDevice");
  int l2 = 0;
  cuda.check(cuda.cuDeviceGetAttribute(&l2, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, device), "cuDeviceGetAttribute");
  double bytes = 2.0 * (data.q.size() + data.k.size() + data.v.size() + data.outputElements());
  int copies = int(std::clamp(std::ceil(3.0 * l2 / bytes), 1.0, 16.0));
  for (int i = 0; i < copies; ++i)
    impl_->copies.push_back(std::make_unique<DeviceProblem>(impl_->data));
}

BenchInputs::~BenchInputs() = default;

const ProblemShape &BenchInputs::shape() const { return impl_->data.shape; }

void BenchInputs::warmUp(const Kernel &kernel, double ms) {
  CudaDriver &cuda = CudaDriver::get();
  auto start = std::chrono::steady_clock::now();
  auto elapsedMs = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  // Batches of launches of about a tenth of `ms` each, waited for, so that the queue (and so the wall
  // time) stays close to the GPU's time.
  int batch = 1;
  while (elapsedMs() < ms) {
    auto batchStart = std::chrono::steady_clock::now();
    for (int i = 0; i < batch; ++i)
      impl_->launch(kernel);
    cuda.check(cuda.cuCtxSynchronize(), "running the kernel");
    double batchMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - batchStart).count();
    batch = int(std::clamp(ms / 10 / std::max(batchMs / batch, 1e-3), 1.0, 1000.0));
  }
}

BenchReport BenchInputs::run(const Kernel &kernel, int repeats, int warmup, bool back_to_back) {
  if (repeats < 1 || warmup < 0)
    throw Error(Error::Code::InvalidArgument, "benchmark: repeats = " + std::to_string(repeats) +
                                                  " must be at least 1 and warmup = " + std::to_string(warmup) +
                                                  " at least 0");
  CudaDriver &cuda = CudaDriver::get();
  for (int i = 0; i < warmup; ++i)
    impl_->launch(kernel);
  // Back to back: one event before each launch and one after the last, waited for once at the end.
  Events events(back_to_back ? repeats + 1 : 2);
  std::vector<float> times;
  for (int i = 0; i < repeats; ++i) {
    CUevent start = events[back_to_back ? i : 0], stop = events[back_to_back ? i + 1 : 1];
    if (i == 0 || !back_to_back)
      cuda.check(cuda.cuEventRecord(start, nullptr), "cuEventRecord");
    impl_->launch(kernel);
    cuda.check(cuda.cuEventRecord(stop, nullptr), "cuEventRecord");
    if (!back_to_back)
      times.push_back(events.elapsedMs(0, 1));
  }
  if (back_to_back)
    for (int i = 0; i < repeats; ++i)
      times.push_back(events.elapsedMs(i, i + 1));
  std::sort(times.begin(), times.end());
  BenchReport report;
  report.repeats = repeats;
  report.input_copies = int(impl_->copies.size());
  report.back_to_back = back_to_back;
  report.median_ms = times[times.size() / 2];
  report.min_ms = times.front();
  report.max_ms = times.back();
  report.flops = attentionFlops(kernel.spec(), impl_->data.shape);
  report.tflops = report.flops / (report.median_ms * 1e-3) / 1e12;
  return report;
}

BenchReport benchmark(const Kernel &kernel, const ProblemShape &shape, int repeats, int warmup, bool back_to_back) {
  BenchInputs inputs(kernel.spec(), shape);
  return inputs.run(kernel, repeats, warmup, back_to_back);
}

} // namespace flashjit
