// Builds the problem-level IR of a forward-attention kernel from its spec and configuration:
//
//   func.func @attention_fwd_d128_bf16(%q, %k, %v, %o, %lse, %scale) attributes {flash.config = ...} {
//     flash.attention %q, %k, %v scale %scale into %o, lse %lse : ...
//   }
//
// Q, K, V, O are [batch, heads, seqlen, head_dim] memrefs with dynamic sizes and strides (any layout
// whose head_dim is contiguous), so one kernel serves every shape and both BSHD and BHSD layouts.
#include "kernels/AttentionKernel.h"
#include "dialects/FlashDialect.h"
#include "runtime/SpecMask.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

using namespace mlir;

namespace flashjit {

namespace {

/// The spec's mask as the IR carries it: none, or #flash.mask.
flash::MaskAttr maskAttr(MLIRContext *context, const AttentionSpec &spec) {
  mask::Mask mask = maskOf(spec);
  return mask.hidesKeys() ? flash::MaskAttr::get(context, mask) : flash::MaskAttr();
}

Type elementType(OpBuilder &b, DType dtype) {
  switch (dtype) {
  case DType::f16:
    return b.getF16Type();
  case DType::bf16:
    return b.getBF16Type();
  case DType::f32:
    return b.getF32Type();
  }
  return b.getBF16Type();
}

} // namespace

ModuleOp buildAttentionModule(MLIRContext &context, const AttentionSpec &spec, const KernelConfig &config) {
  context.loadDialect<flash::FlashDialect, func::FuncDialect>();
  OpBuilder b(&context);
  const int64_t dynamic = ShapedType::kDynamic;
  Type element = elementType(b, spec.dtype);
  auto dataType = MemRefType::get({dynamic, dynamic, dynamic, spec.head_dim}, element,
                                  StridedLayoutAttr::get(&context, dynamic, {dynamic, dynamic, dynamic, 1}));
  auto lseType = MemRefType::get({dynamic, dynamic, dynamic}, b.getF32Type(),
                                 StridedLayoutAttr::get(&context, dynamic, {dynamic, dynamic, 1}));

  SmallVector<Type> argTypes = {dataType, dataType, dataType, dataType};
  SmallVector<Location> argLocs;
  for (const char *name : {"q", "k", "v", "o"})
    argLocs.push_back(NameLoc::get(b.getStringAttr(name)));
  if (spec.logsumexp) {
    argTypes.push_back(lseType);
    argLocs.push_back(NameLoc::get(b.getStringAttr("lse")));
  }
  argTypes.push_back(b.getF32Type());
  argLocs.push_back(NameLoc::get(b.getStringAttr("scale")));

  // Ops are located in the kernel (a file-like location named after it); only the arguments carry
  // NameLocs, which print as their SSA names (%q, %k, ...).
  Location loc = FileLineColLoc::get(&context, spec.name(), 0, 0);
  ModuleOp module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(b, loc, spec.name(), b.getFunctionType(argTypes, {}));
  func->setAttr(flash::FlashDialect::kConfigAttrName,
                flash::KernelConfigAttr::get(&context, config.block_m, config.block_n, config.warps,
                                             config.stages, config.chip, config.wg_overlap, config.tma,
                                             config.warp_specialized, config.persistent,
                                             config.conditional_rescale, config.mma_row_sum));
  Block *entry = func.addEntryBlock();
  for (auto [arg, argLoc] : llvm::zip(entry->getArguments(), argLocs))
    arg.setLoc(argLoc);

  b.setInsertionPointToStart(entry);
  Value lse = spec.logsumexp ? entry->getArgument(4) : Value();
  flash::AttentionOp::create(b, loc, entry->getArgument(0), entry->getArgument(1), entry->getArgument(2),
                             entry->getArguments().back(), entry->getArgument(3), lse,
                             maskAttr(b.getContext(), spec));
  func::ReturnOp::create(b, loc);
  return module;
}

} // namespace flashjit
