// The `flash` dialect: attention at the problem level and at the tile level. Include only from .cpp files
// that already work with MLIR (this header pulls in MLIR's IR headers).
#pragma once

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/Mask.h"

#include "dialects/FlashEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/FlashAttrs.h.inc"

#include "dialects/FlashDialect.h.inc"

#define GET_OP_CLASSES
#include "dialects/FlashOps.h.inc"
