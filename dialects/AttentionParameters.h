// The attention kernels' parameters: every value a launch can pass them, by name and kind, written once.
// The GPU lowering builds each kernel's parameters from this list (their names are the kernel's
// flash.parameters) and the runtime's launcher resolves each name to the value it supplies
// (runtime/Kernel.cpp), so the two cannot drift apart. Plain C++: no MLIR.
#pragma once

namespace flashjit::abi {

/// name, kind: pointers to global memory, i64 element strides, i32 sizes and fast divisors (magic, shift:
/// runtime/FastDivisor.h), the f32 softmax scale, and 128-byte CUtensorMaps passed by value.
#define FLASHJIT_ATTENTION_PARAMETERS(X)                                                                     \
  X(q, pointer) X(k, pointer) X(v, pointer) X(o, pointer) X(lse, pointer)                                    \
  X(q_stride_batch, i64) X(q_stride_head, i64) X(q_stride_row, i64)                                          \
  X(k_stride_batch, i64) X(k_stride_head, i64) X(k_stride_row, i64)                                          \
  X(v_stride_batch, i64) X(v_stride_head, i64) X(v_stride_row, i64)                                          \
  X(o_stride_batch, i64) X(o_stride_head, i64) X(o_stride_row, i64)                                          \
  X(lse_stride_batch, i64) X(lse_stride_head, i64)                                                           \
  X(seqlen_q, i32) X(seqlen_k, i32) X(group, i32) X(heads, i32) X(batch, i32)                                \
  X(query_blocks_magic, i32) X(query_blocks_shift, i32) X(heads_magic, i32) X(heads_shift, i32)              \
  X(group_magic, i32) X(group_shift, i32) X(scale, f32)                                                      \
  X(tail_slices, i32) X(tail_slices_magic, i32) X(tail_slices_shift, i32)                                    \
  X(split_tiles, i32) X(split_part_slots, i32) X(split_counters, pointer) X(split_parts, pointer)            \
  X(k_tensor_map, tensor_map) X(v_tensor_map, tensor_map)

enum class Parameter : int {
#define FLASHJIT_PARAMETER(name, kind) name,
  FLASHJIT_ATTENTION_PARAMETERS(FLASHJIT_PARAMETER)
#undef FLASHJIT_PARAMETER
      count
};

/// In the order of KernelParameter::Kind (runtime/flashjit_types.h).
enum class ParameterKind { pointer, i64, i32, f32, tensor_map };

struct ParameterInfo {
  const char *name;
  ParameterKind kind;
};

inline constexpr ParameterInfo kParameters[] = {
#define FLASHJIT_PARAMETER(name, kind) {#name, ParameterKind::kind},
    FLASHJIT_ATTENTION_PARAMETERS(FLASHJIT_PARAMETER)
#undef FLASHJIT_PARAMETER
};

constexpr const char *nameOf(Parameter parameter) { return kParameters[int(parameter)].name; }
constexpr ParameterKind kindOf(Parameter parameter) { return kParameters[int(parameter)].kind; }
/// The parameter `offset` places after `first` in the list (a tensor's next stride, a divisor's shift).
constexpr Parameter after(Parameter first, int offset) { return Parameter(int(first) + offset); }

} // namespace flashjit::abi
