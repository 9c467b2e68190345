// Loading compiled kernels into a CUDA context and launching them: argument checks, the driver's JIT, the
// launch geometry.
#include "runtime/CudaDriver.h"
#include "runtime/FastDivisor.h"
#include "runtime/PersistentSchedule.h"
#include "runtime/SpecMask.h"
#include "runtime/SplitTail.h"
#include "dialects/AttentionParameters.h"
#include "runtime/TensorMap.h"
#include "runtime/flashjit.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace flashjit {

namespace {

void require(bool ok, Error::Code code, const std::string &message) {
  if (!ok)
    throw Error(code, "attention arguments: " + message);
}

void checkPointer(const void *pointer, const char *name, uintptr_t alignment) {
  require(pointer != nullptr, Error::Code::InvalidArgument, std::string(name) + " is null");
  require(reinterpret_cast<uintptr_t>(pointer) % alignment == 0, Error::Code::InvalidArgument,
          std::string(name) + " is not " + std::to_string(alignment) + "-byte aligned");
}

void checkStrides(const long long (&strides)[3], const char *name) {
  static const char *const dims[] = {"batch", "head", "row"};
  for (int i = 0; i < 3; ++i)
    require(strides[i] > 0 && strides[i] % 8 == 0, Error::Code::InvalidArgument,
            std::string(name) + " " + dims[i] + " stride = " + std::to_string(strides[i]) +
                " must be a positive multiple of 8 elements (tiles move in 16-byte pieces)");
}

} // namespace

void validate(const AttentionSpec &spec, const AttentionArgs &args) {
  checkPointer(args.q, "q", 16);
  checkPointer(args.k, "k", 16);
  checkPointer(args.v, "v", 16);
  checkPointer(args.o, "o", 16);
  if (spec.logsumexp)
    require(args.lse != nullptr, Error::Code::InvalidArgument,
            "lse is null, but " + spec.name() + " writes the logsumexp; pass an lse buffer");
  if (args.lse)
    checkPointer(args.lse, "lse", 4);
  for (auto [value, name] : {std::pair{args.batch, "batch"}, std::pair{args.heads, "heads"},
                             std::pair{args.seqlen_q, "seqlen_q"}, std::pair{args.seqlen_k, "seqlen_k"}})
    require(value > 0, Error::Code::InvalidArgument, std::string(name) + " = " + std::to_string(value) +
                                                         " must be positive");
  int kvHeads = args.kv_heads == 0 ? args.heads : args.kv_heads;
  require(kvHeads > 0 && args.heads % kvHeads == 0, Error::Code::InvalidArgument,
          "kv_heads = " + std::to_string(args.kv_heads) + " must be positive and divide heads = " +
              std::to_string(args.heads));
  require(args.softmax_scale == 0 || (args.softmax_scale > 0 && std::isfinite(args.softmax_scale)),
          Error::Code::InvalidArgument,
          "softmax_scale = " + std::to_string(args.softmax_scale) + " must be positive and finite (or 0)");
  checkStrides(args.q_strides, "q");
  checkStrides(args.k_strides, "k");
  checkStrides(args.v_strides, "v");
  checkStrides(args.o_strides, "o");
}

namespace {

/// The values the launcher supplies: the attention kernels' parameters, under the names the lowering gives
/// them (dialects/AttentionParameters.h, the one list of both). A kernel's parameters are matched to these
/// once, when it is loaded; a launch fills in the values and passes those the kernel takes, in its order.
using Supplied = abi::Parameter;
static_assert(int(abi::ParameterKind::pointer) == int(KernelParameter::Kind::pointer) &&
                  int(abi::ParameterKind::i64) == int(KernelParameter::Kind::i64) &&
                  int(abi::ParameterKind::i32) == int(KernelParameter::Kind::i32) &&
                  int(abi::ParameterKind::f32) == int(KernelParameter::Kind::f32) &&
                  int(abi::ParameterKind::tensor_map) == int(KernelParameter::Kind::tensor_map),
              "ParameterKind follows KernelParameter::Kind");

/// Where each of `compiled`'s parameters comes from; throws if the launcher supplies no such value.
std::vector<Supplied> resolveParameters(const CompiledKernel &compiled) {
  std::vector<Supplied> slots;
  for (const KernelParameter &parameter : compiled.parameters) {
    const abi::ParameterInfo *found =
        std::find_if(std::begin(abi::kParameters), std::end(abi::kParameters),
                     [&](const abi::ParameterInfo &v) {
                       return parameter.name == v.name && int(parameter.kind) == int(v.kind);
                     });
    if (found == std::end(abi::kParameters))
      throw Error(Error::Code::Internal, "loading " + compiled.name + ": its parameter '" + parameter.name +
                                             "' is not one this launcher supplies with that type");
    slots.push_back(Supplied(found - std::begin(abi::kParameters)));
  }
  return slots;
}

} // namespace

struct Kernel::Impl {
  AttentionSpec spec;
  CompiledKernel compiled;
  std::vector<Supplied> parameterSlots; // where each parameter's value comes from (resolveParameters)
  bool takesSplitTail = false, takesTensorMaps = false;
  CUmodule module = nullptr;
  CUfunction function = nullptr;
  double load_ms = 0;
  int registers = 0, spill_bytes = 0;
  int multiprocessors = 0; // of the module's device: a persistent kernel's grid
  // A persistent kernel's schedule for the last launch's sizes (seqlen_q, seqlen_k, heads, batch): its
  // search costs up to ~0.2 ms, the launch a few microseconds.
  std::mutex scheduleMutex;
  std::array<int64_t, 4> scheduleSizes{};
  PersistentSchedule schedule;
  SplitTail splitTail; // without a causal mask: the split tail for those sizes (tiles 0: none)

  /// The persistent schedule (and split tail) for the launch's sizes.
  std::pair<PersistentSchedule, SplitTail> scheduleFor(const AttentionArgs &args) {
    const std::array<int64_t, 4> sizes{args.seqlen_q, args.seqlen_k, args.heads, args.batch};
    std::lock_guard<std::mutex> lock(scheduleMutex);
    if (sizes != scheduleSizes) { // the first launch too: validated sizes are positive
      // Without a causal mask the tiles are alike: round robin, the last partial wave split by keys
      // (FLASHJIT_SPLIT_TAIL=0: not split; =wave: that wave alone, the most parts). Under one, the tail's
      // K and V (seqlen_k x head_dim x 2 tensors x 2 bytes a slice) within 32 MiB of L2.
      const int64_t slices = int64_t(args.heads) * args.batch;
      const int64_t sliceBytes = std::max<int64_t>(1, int64_t(args.seqlen_k) * spec.head_dim * 4);
      std::vector<int64_t> keyBlocks =
          keyBlocksPerQueryBlock(maskOf(spec), args.seqlen_q, args.seqlen_k, compiled.block_m, compiled.tma_box_rows);
      if (compiled.split_tail) {
        const int64_t tiles = int64_t(keyBlocks.size()) * slices;
        schedule = PersistentSchedule{int64_t(keyBlocks.size()), slices, 0, std::min(tiles, int64_t(multiprocessors)),
                                      false};
        const char *mode = std::getenv("FLASHJIT_SPLIT_TAIL");
        splitTail = splitTailFor(mode ? mode : "", tiles, keyBlocks[0], schedule.blocks);
      } else {
        schedule = planPersistentSchedule(keyBlocks, slices, multiprocessors,
                                          std::max<int64_t>(1, (int64_t(32) << 20) / sliceBytes));
      }
      scheduleSizes = sizes;
    }
    return {schedule, splitTail};
  }

  // The split tail's workspace, one per stream (launches on one stream run in order; the last part of a
  // tile resets its counter for the next), grown as launches need: the counters, zeroed whenever they are
  // allocated, and the parts' slots. A buffer outgrown is kept until the kernel is destroyed: launches
  // already queued (from any thread) may still use it, and freeing it would wait for them.
  struct Buffer {
    CUdeviceptr pointer = 0;
    int64_t bytes = 0;
  };
  struct Workspace {
    Buffer counters, parts;
  };
  std::mutex workspaceMutex;
  std::map<CUstream, Workspace> workspaces;
  std::vector<CUdeviceptr> outgrown;

  /// `buffer` with at least `bytes` (zeroed in the stream's order if `zero`).
  void grow(Buffer &buffer, int64_t bytes, bool zero, CUstream stream) {
    CudaDriver &cuda = CudaDriver::get();
    if (buffer.bytes >= bytes)
      return;
    if (buffer.pointer)
      outgrown.push_back(buffer.pointer);
    buffer = {};
    cuda.check(cuda.cuMemAlloc_v2(&buffer.pointer, size_t(bytes)), "allocating the split tail's workspace");
    buffer.bytes = bytes;
    if (zero)
      cuda.check(cuda.cuMemsetD32Async(buffer.pointer, 0, size_t(bytes / 4), stream),
                 "zeroing the split tail's counters");
  }

  /// The workspace of `stream` for a launch that splits `split`'s tail.
  Workspace workspaceFor(CUstream stream, const SplitTail &split) {
    const int64_t warpgroups = compiled.block_m / 64;
    std::lock_guard<std::mutex> lock(workspaceMutex);
    Workspace &w = workspaces[stream];
    grow(w.counters, splitTailCounterBytes(split, warpgroups), /*zero=*/true, stream);
    grow(w.parts, splitTailPartBytes(split, warpgroups, spec.head_dim), /*zero=*/false, stream);
    return w;
  }
};

Kernel::Kernel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Kernel::~Kernel() {
  if (!impl_)
    return;
  for (auto &[stream, workspace] : impl_->workspaces)
    for (Impl::Buffer *buffer : {&workspace.counters, &workspace.parts})
      if (buffer->pointer)
        CudaDriver::get().cuMemFree_v2(buffer->pointer);
  for (CUdeviceptr pointer : impl_->outgrown)
    CudaDriver::get().cuMemFree_v2(pointer);
  if (impl_->module)
    CudaDriver::get().cuModuleUnload(impl_->module);
}

const AttentionSpec &Kernel::spec() const { return impl_->spec; }
const CompiledKernel &Kernel::compiled() const { return impl_->compiled; }
double Kernel::load_ms() const { return impl_->load_ms; }
int Kernel::registers() const { return impl_->registers; }
int Kernel::spill_bytes() const { return impl_->spill_bytes; }

/// The driver compiles the PTX as a whole program (cuModuleLoadDataEx), not through its linker: cuLink*
/// compiles relocatable code (ptxas -c), whose register cap spills the register-hungry warp-specialised
/// kernels (setmaxnreg cannot give relocatable code more) and slows the others (measured: benchmarks/NOTES.md,
/// 'Measurements behind the tuning space's choices'). The driver keeps the machine code in its own cache
/// (CUDA_CACHE_PATH).
static void loadModule(const CompiledKernel &compiled, CUmodule &module) {
  CudaDriver &cuda = CudaDriver::get();
  std::vector<char> log(16384, 0);
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {log.data(), reinterpret_cast<void *>(uintptr_t(log.size()))};
  CUresult result = cuda.cuModuleLoadDataEx(&module, compiled.ptx.c_str(), 2, options, values);
  if (result != CUDA_SUCCESS) {
    const char *name = nullptr;
    cuda.cuGetErrorName(result, &name);
    throw Error(Error::Code::DriverError, "the CUDA driver could not compile the PTX of " + compiled.name + " (" +
                                              (name ? name : "unknown error") + "):\n" + log.data());
  }
}

std::shared_ptr<Kernel> Kernel::load(const AttentionSpec &spec, const CompiledKernel &compiled) {
  CudaDriver &cuda = CudaDriver::get();
  cuda.ensureContext();
  auto start = std::chrono::steady_clock::now();
  auto impl = std::make_unique<Impl>();
  impl->spec = spec;
  impl->compiled = compiled;
  impl->parameterSlots = resolveParameters(compiled);
  for (Supplied slot : impl->parameterSlots) {
    impl->takesSplitTail |= slot == Supplied::split_tiles;
    impl->takesTensorMaps |= slot == Supplied::k_tensor_map || slot == Supplied::v_tensor_map;
  }
  loadModule(compiled, impl->module);
  std::shared_ptr<Kernel> kernel(new Kernel(std::move(impl)));
  cuda.check(cuda.cuModuleGetFunction(&kernel->impl_->function, kernel->impl_->module, compiled.name.c_str()),
             "cuModuleGetFunction");
  cuda.check(cuda.cuFuncSetAttribute(kernel->impl_->function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                     compiled.shared_memory),
             "setting the kernel's dynamic shared memory");
  cuda.check(cuda.cuFuncGetAttribute(&kernel->impl_->registers, CU_FUNC_ATTRIBUTE_NUM_REGS, kernel->impl_->function),
             "cuFuncGetAttribute");
  cuda.check(cuda.cuFuncGetAttribute(&kernel->impl_->spill_bytes, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES,
                                     kernel->impl_->function),
             "cuFuncGetAttribute");
  if (compiled.persistent) {
    CUdevice device;
    cuda.check(cuda.cuCtxGetDevice(&device), "cuCtxGetDevice");
    cuda.check(cuda.cuDeviceGetAttribute(&kernel->impl_->multiprocessors, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                                         device),
               "cuDeviceGetAttribute");
  }
  kernel->impl_->load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return kernel;
}

void Kernel::launch(const AttentionArgs &args, void *stream) const {
  validate(impl_->spec, args);
  CudaDriver &cuda = CudaDriver::get();
  int32_t seqlenQ = args.seqlen_q, seqlenK = args.seqlen_k;
  int32_t group = args.heads / (args.kv_heads == 0 ? args.heads : args.kv_heads);
  float scale = args.softmax_scale == 0 ? 1.0f / std::sqrt(float(impl_->spec.head_dim)) : args.softmax_scale;
  long long lseStrides[2] = {(long long)args.heads * args.seqlen_q, args.seqlen_q};
  int32_t heads = args.heads, batch = args.batch;
  const CompiledKernel &c = impl_->compiled;
  std::array<void *, size_t(Supplied::count)> supplied{};
  auto supply = [&](Supplied slot, const void *value) { supplied[size_t(slot)] = const_cast<void *>(value); };
  supply(Supplied::q, &args.q);
  supply(Supplied::k, &args.k);
  supply(Supplied::v, &args.v);
  supply(Supplied::o, &args.o);
  supply(Supplied::lse, &args.lse);
  for (int i = 0; i < 3; ++i) {
    supply(Supplied(int(Supplied::q_stride_batch) + i), &args.q_strides[i]);
    supply(Supplied(int(Supplied::k_stride_batch) + i), &args.k_strides[i]);
    supply(Supplied(int(Supplied::v_stride_batch) + i), &args.v_strides[i]);
    supply(Supplied(int(Supplied::o_stride_batch) + i), &args.o_strides[i]);
  }
  supply(Supplied::lse_stride_batch, &lseStrides[0]);
  supply(Supplied::lse_stride_head, &lseStrides[1]);
  supply(Supplied::seqlen_q, &seqlenQ);
  supply(Supplied::seqlen_k, &seqlenK);
  supply(Supplied::group, &group);
  supply(Supplied::heads, &heads);
  supply(Supplied::batch, &batch);
  // The kernel's divisors (the grid mapping's query blocks and heads, the query heads per K/V head). A
  // persistent kernel takes a head's query blocks in pairs from both ends (and the middle one alone): its
  // mapping divides by the pairs per head instead.
  const int64_t queryBlockCount = (int64_t(args.seqlen_q) + c.block_m - 1) / c.block_m;
  const int64_t tiles = queryBlockCount * args.heads * args.batch;
  if (tiles > 0x7fffffff)
    throw Error(Error::Code::Unsupported, "attention arguments: the launch needs " + std::to_string(tiles) +
                                              " thread blocks (query blocks x heads x batch); at most 2147483647");
  const bool splitsTail = c.split_tail;
  FastDivisor queryBlocks = fastDivisor(uint32_t(
      c.persistent && !splitsTail ? std::max<int64_t>(1, queryBlockCount / 2) : queryBlockCount));
  FastDivisor headCount = fastDivisor(uint32_t(args.heads)), groupSize = fastDivisor(uint32_t(group));
  for (auto [magic, divisor] : {std::pair{Supplied::query_blocks_magic, &queryBlocks},
                                {Supplied::heads_magic, &headCount}, {Supplied::group_magic, &groupSize}}) {
    supply(magic, &divisor->magic);
    supply(Supplied(int(magic) + 1), &divisor->shift); // its _shift follows
  }
  supply(Supplied::scale, &scale);
  // A persistent kernel's schedule: the slices its tail deals tile by tile, and their divisor.
  PersistentSchedule schedule;
  SplitTail split;
  int32_t tailSlices = 0, splitTiles = 0, partSlots = 0;
  FastDivisor tailDivisor{};
  Impl::Workspace workspace;
  if (c.persistent) {
    std::tie(schedule, split) = impl_->scheduleFor(args);
    const std::string problem = splitsTail ? "" : numberingProblem(schedule);
    if (!problem.empty())
      throw Error(Error::Code::Unsupported, "attention arguments: " + problem);
    tailSlices = int32_t(schedule.tail_slices);
    tailDivisor = fastDivisor(uint32_t(std::max<int64_t>(1, schedule.tail_slices)));
    supply(Supplied::tail_slices, &tailSlices);
    supply(Supplied::tail_slices_magic, &tailDivisor.magic);
    supply(Supplied::tail_slices_shift, &tailDivisor.shift);
  }
  if (impl_->takesSplitTail) { // the kernel reads the workspace only where the tail is split
    splitTiles = int32_t(split.tiles);
    partSlots = int32_t(split.part_slots);
    if (split.tiles > 0)
      workspace = impl_->workspaceFor(static_cast<CUstream>(stream), split);
    supply(Supplied::split_tiles, &splitTiles);
    supply(Supplied::split_part_slots, &partSlots);
    supply(Supplied::split_counters, &workspace.counters.pointer);
    supply(Supplied::split_parts, &workspace.parts.pointer);
  }
  CUtensorMap keyMap, valueMap; // kernel parameters by value: live until cuLaunchKernel returns
  if (impl_->takesTensorMaps) {
    const int kvHeads = args.kv_heads == 0 ? args.heads : args.kv_heads;
    for (auto [map, pointer, strides, name, parameter] :
         {std::tuple{&keyMap, args.k, args.k_strides, "K", Supplied::k_tensor_map},
          std::tuple{&valueMap, args.v, args.v_strides, "V", Supplied::v_tensor_map}}) {
      TensorMapLayout layout;
      std::string problem = tensorMapLayout(impl_->spec.head_dim, args.seqlen_k, kvHeads, args.batch, strides, 2,
                                            c.tma_box_rows, layout);
      if (!problem.empty())
        throw Error(Error::Code::Unsupported, std::string("attention arguments: ") + name + ": " + problem);
      const cuuint32_t elementStrides[4] = {1, 1, 1, 1};
      cuda.check(cuda.cuTensorMapEncodeTiled(
                     map, impl_->spec.dtype == DType::bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
                     4, const_cast<void *>(pointer), layout.dims.data(), layout.strides.data(), layout.box.data(),
                     elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                     CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
                 (std::string("encoding the TMA tensor map of ") + name).c_str());
      supply(parameter, map);
    }
  }
  std::vector<void *> params;
  for (Supplied slot : impl_->parameterSlots) {
    if (!supplied[size_t(slot)]) // a value this launch did not compute (a schedule the kernel does not have)
      throw Error(Error::Code::Internal, "launching " + c.name + ": no value for its parameter '" +
                                             abi::nameOf(slot) + "'");
    params.push_back(supplied[size_t(slot)]);
  }
  // One-dimensional grid: (query block, head, batch), query blocks fastest.
  int64_t blocks = tiles;
  if (c.persistent) // one block per multiprocessor (one fits: 1 per SM by registers), each looping over items
    blocks = schedule.blocks;
  cuda.check(cuda.cuLaunchKernel(impl_->function, unsigned(blocks), 1, 1,
                                 unsigned(c.threads), 1, 1, unsigned(c.shared_memory),
                                 static_cast<CUstream>(stream), params.data(), nullptr),
             ("launching " + c.name).c_str());
}

DeviceInfo deviceInfo() {
  CudaDriver &cuda = CudaDriver::get();
  DeviceInfo info;
  cuda.check(cuda.cuDriverGetVersion(&info.driver_version), "cuDriverGetVersion");
  CUdevice device;
  cuda.check(cuda.cuDeviceGet(&device, 0), "cuDeviceGet");
  char name[256] = {0};
  cuda.check(cuda.cuDeviceGetName(name, sizeof name, device), "cuDeviceGetName");
  info.name = name;
  cuda.check(cuda.cuDeviceGetAttribute(&info.multiprocessors, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
             "cuDeviceGetAttribute");
  info.chip = cuda.targetChipOf(device);
  return info;
}

} // namespace flashjit
