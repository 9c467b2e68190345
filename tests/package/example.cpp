// Using flashjit from a C++ program: compile a causal bf16 attention kernel for the GPU at hand, launch it
// on a CUDA stream, and print its error against flashjit's float64 reference. Built by CI against the
// installed package (tests/package/CMakeLists.txt) and run on the H100 machine.
#include <flashjit/flashjit.h>
#include <flashjit/flashjit_testing.h> // random inputs and the float64 reference

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

// bf16 is the top half of a float; the inputs are already rounded to bf16, so this is exact.
static std::vector<uint16_t> toBF16(const std::vector<float> &values) {
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t x;
    std::memcpy(&x, &values[i], 4);
    bits[i] = uint16_t(x >> 16);
  }
  return bits;
}

static float fromBF16(uint16_t bits) {
  uint32_t x = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &x, 4);
  return value;
}

static void check(cudaError_t result, const char *what) {
  if (result != cudaSuccess) {
    std::fprintf(stderr, "example: %s: %s\n", what, cudaGetErrorString(result));
    std::exit(1);
  }
}

int main() {
  try {
    flashjit::DeviceInfo device = flashjit::deviceInfo(); // throws Error(NoDevice) without a GPU
    flashjit::AttentionSpec spec;                          // head_dim 128, bf16, writes logsumexp
    spec.causal = flashjit::Causal::bottom_right;
    flashjit::KernelConfig config = flashjit::defaultConfig(spec, device.chip);
    flashjit::CompiledKernel compiled = flashjit::compileCached(spec, config);
    std::shared_ptr<flashjit::Kernel> kernel = flashjit::Kernel::load(spec, compiled);
    std::printf("%s on %s (%s): %s, %d threads, %d bytes of shared memory\n", compiled.name.c_str(),
                device.name.c_str(), device.chip.c_str(), config.str().c_str(), compiled.threads,
                compiled.shared_memory);

    // Random inputs of one problem, [batch, seqlen, heads, head_dim] (BSHD).
    flashjit::ProblemShape shape;
    shape.batch = 2, shape.heads = 8, shape.kv_heads = 2, shape.seqlen_q = 1000, shape.seqlen_k = 1500;
    flashjit::AttentionData data = flashjit::randomAttentionData(spec, shape, /*seed=*/42);

    void *q, *k, *v, *o;
    float *lse;
    std::vector<uint16_t> qBits = toBF16(data.q), kBits = toBF16(data.k), vBits = toBF16(data.v);
    check(cudaMalloc(&q, qBits.size() * 2), "cudaMalloc");
    check(cudaMalloc(&k, kBits.size() * 2), "cudaMalloc");
    check(cudaMalloc(&v, vBits.size() * 2), "cudaMalloc");
    check(cudaMalloc(&o, data.outputElements() * 2), "cudaMalloc");
    check(cudaMalloc((void **)&lse, data.lseElements() * 4), "cudaMalloc");
    check(cudaMemcpy(q, qBits.data(), qBits.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
    check(cudaMemcpy(k, kBits.data(), kBits.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
    check(cudaMemcpy(v, vBits.data(), vBits.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy");

    flashjit::AttentionArgs args;
    args.q = q, args.k = k, args.v = v, args.o = o, args.lse = lse;
    args.batch = shape.batch, args.heads = shape.heads, args.kv_heads = shape.kv_heads;
    args.seqlen_q = shape.seqlen_q, args.seqlen_k = shape.seqlen_k;
    for (int i = 0; i < 3; ++i) { // element strides of (batch, head, row)
      args.q_strides[i] = args.o_strides[i] = data.qStrides[i];
      args.k_strides[i] = args.v_strides[i] = data.kvStrides[i];
    }

    cudaStream_t stream;
    check(cudaStreamCreate(&stream), "cudaStreamCreate");
    kernel->launch(args, stream);
    check(cudaStreamSynchronize(stream), "running the kernel");

    std::vector<uint16_t> oBits(data.outputElements());
    std::vector<float> output(oBits.size()), logsumexp(data.lseElements());
    check(cudaMemcpy(oBits.data(), o, oBits.size() * 2, cudaMemcpyDeviceToHost), "cudaMemcpy");
    check(cudaMemcpy(logsumexp.data(), lse, logsumexp.size() * 4, cudaMemcpyDeviceToHost), "cudaMemcpy");
    for (size_t i = 0; i < oBits.size(); ++i)
      output[i] = fromBF16(oBits[i]);

    flashjit::CheckReport report = flashjit::compareWithReference(data, output, logsumexp);
    std::printf("max abs error %.3g, relative error %.3g, lse relative error %.3g over %ld rows: %s\n",
                report.max_abs_error, report.rel_error, report.lse_rel_error, report.rows_checked,
                report.passed ? "PASS" : "FAIL");
    for (void *pointer : {q, k, v, o, (void *)lse})
      cudaFree(pointer);
    cudaStreamDestroy(stream);
    return report.passed ? 0 : 1;
  } catch (const flashjit::Error &error) {
    std::fprintf(stderr, "example: %s\n", error.what());
    return 2;
  }
}
