// The flash dialect, its attributes, and the check of the `flash.config` attribute on kernels.
#include "dialects/FlashDialect.h"
#include "dialects/KernelConfigRules.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace flashjit::flash;

#include "dialects/FlashDialect.cpp.inc"
#include "dialects/FlashEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/FlashAttrs.cpp.inc"

void FlashDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/FlashAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/FlashOps.cpp.inc"
      >();
}

static_assert(int(MaskAlignment::top_left) == int(flashjit::mask::Alignment::top_left) &&
              int(MaskAlignment::bottom_right) == int(flashjit::mask::Alignment::bottom_right));

LogicalResult MaskAttr::verify(function_ref<InFlightDiagnostic()> emitError, MaskAlignment, int64_t left,
                               int64_t right) {
  std::string problem = flashjit::mask::maskError({flashjit::mask::Alignment::top_left, left, right});
  if (!problem.empty())
    return emitError() << "#flash.mask: " << problem;
  if (left == flashjit::mask::kUnbounded && right == flashjit::mask::kUnbounded)
    return emitError() << "#flash.mask: a mask with neither bound hides no key; leave the mask out";
  return success();
}

flashjit::mask::Mask MaskAttr::getMask() const {
  return {flashjit::mask::Alignment(getAlignment()), getLeft(), getRight()};
}

MaskAttr MaskAttr::get(MLIRContext *context, const flashjit::mask::Mask &mask) {
  return get(context, MaskAlignment(mask.alignment), mask.left, mask.right);
}

LogicalResult OperandLayoutsAttr::verify(function_ref<InFlightDiagnostic()> emitError, OperandLayout a,
                                         OperandLayout b) {
  if (b == OperandLayout::registers || b == OperandLayout::accumulator)
    return emitError() << "#flash.layouts: the B operand lies in shared memory (shared_k_major or "
                          "shared_mn_major), got "
                       << stringifyOperandLayout(b);
  return success();
}

LogicalResult KeyLoopAttr::verify(function_ref<InFlightDiagnostic()> emitError, bool pipelined,
                                  bool firstBlockAhead, int64_t shortLastBlock, bool warpgroupEnds) {
  if (firstBlockAhead && !pipelined)
    return emitError() << "#flash.key_loop: first_block_ahead runs a pipelined loop's first block ahead of it; "
                          "it needs pipelined";
  if (shortLastBlock < 0 || shortLastBlock % 64 != 0)
    return emitError() << "#flash.key_loop: short_last_block must be a multiple of 64 keys (0: none), got "
                       << shortLastBlock;
  if (shortLastBlock && warpgroupEnds)
    return emitError() << "#flash.key_loop: short_last_block and warpgroup_ends do not go together (idle turns "
                          "count whole blocks)";
  return success();
}

LogicalResult KernelConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError, int64_t blockM,
                                       int64_t blockN, int64_t warps, int64_t stages,
                                       StringRef chip, bool wgOverlap, bool tma,
                                       bool warpSpecialized, bool persistent, bool conditionalRescale,
                                       bool mmaRowSum) {
  std::string problem = flashjit::kernelConfigError(blockM, blockN, warps, stages, chip, mmaRowSum);
  if (!problem.empty())
    return emitError() << "#flash.config: " << problem;
  if (warpSpecialized && !tma)
    return emitError() << "#flash.config: warp_specialized needs tma (its producer warpgroup issues TMA loads)";
  if (persistent && !warpSpecialized)
    return emitError() << "#flash.config: persistent needs warp_specialized (its producer warpgroup loads each "
                          "tile's key blocks ahead)";
  return success();
}

LogicalResult FlashDialect::verifyOperationAttribute(Operation *op, NamedAttribute attribute) {
  if (attribute.getName() == kPTXAttrName) {
    if (!isa<ModuleOp>(op) || !isa<StringAttr>(attribute.getValue()))
      return op->emitError() << "'" << kPTXAttrName << "' must be a string attribute on a builtin.module";
    return success();
  }
  if (attribute.getName() == kSharedMemoryAttrName) {
    if (!isa<FunctionOpInterface>(op) || !isa<IntegerAttr>(attribute.getValue()))
      return op->emitError() << "'" << kSharedMemoryAttrName
                             << "' must be an integer attribute (bytes) on a kernel function";
    return success();
  }
  if (attribute.getName() == kParametersAttrName) {
    auto names = dyn_cast<ArrayAttr>(attribute.getValue());
    auto function = dyn_cast<FunctionOpInterface>(op);
    if (!function || !names || !llvm::all_of(names, [](Attribute name) { return isa<StringAttr>(name); }))
      return op->emitError() << "'" << kParametersAttrName
                             << "' must be an array of strings (the parameters' names) on a kernel function";
    if (names.size() != function.getNumArguments())
      return op->emitError() << "'" << kParametersAttrName << "' names " << names.size()
                             << " parameters; the function has " << function.getNumArguments();
    return success();
  }
  if (attribute.getName() == kScheduleAttrName) {
    auto schedule = dyn_cast<StringAttr>(attribute.getValue());
    if (!isa<FunctionOpInterface>(op) || !schedule || !symbolizeTileSchedule(schedule.getValue()))
      return op->emitError() << "'" << kScheduleAttrName
                             << "' must name a tile schedule (one_per_block, persistent or split_tail) on a kernel "
                                "function";
    return success();
  }
  if (attribute.getName() == kKeyLoopAttrName) {
    if (op->getName().getStringRef() != "scf.for" || !isa<KeyLoopAttr>(attribute.getValue()))
      return op->emitError() << "'" << kKeyLoopAttrName << "' must be a #flash.key_loop<...> attribute on a key "
                                "loop (scf.for)";
    return success();
  }
  if (attribute.getName() != kConfigAttrName)
    return op->emitError() << "unknown attribute '" << attribute.getName().getValue()
                           << "' of the flash dialect; expected '" << kConfigAttrName << "', '" << kPTXAttrName
                           << "', '" << kSharedMemoryAttrName << "', '" << kParametersAttrName << "', '"
                           << kScheduleAttrName << "' or '" << kKeyLoopAttrName << "'";
  if (!isa<KernelConfigAttr>(attribute.getValue()))
    return op->emitError() << "'" << kConfigAttrName << "' must be a #flash.config<...> attribute, got "
                           << attribute.getValue();
  if (!isa<FunctionOpInterface>(op))
    return op->emitError() << "'" << kConfigAttrName
                           << "' belongs on a kernel function (func.func or gpu.func), not on '"
                           << op->getName() << "'";
  return success();
}

KernelConfigAttr FlashDialect::lookupConfig(Operation *op) {
  for (; op; op = op->getParentOp())
    if (auto config = op->getAttrOfType<KernelConfigAttr>(kConfigAttrName))
      return config;
  return {};
}
