#include "compiler/OptTool.h"
#include "compiler/Registration.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

namespace flashjit {

int runOptTool(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registerCompilerDialects(registry);
  registerCompilerPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "flashjit-opt: runs flashjit's passes over flash IR, one stage at a time\n", registry));
}

} // namespace flashjit
