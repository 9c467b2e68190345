// Marks the symbols libflashjit exports; everything else in the library (LLVM and MLIR included) is hidden.
#pragma once

#define FLASHJIT_API __attribute__((visibility("default")))
