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
  if (attribute.getName() != kConfigAttrName)
    return op->emitError() << "unknown attribute '" << attribute.getName().getValue()
                           << "' of the flash dialect; expected '" << kConfigAttrName << "', '"
                           << kPTXAttrName << "' or '" << kSharedMemoryAttrName << "'";
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
