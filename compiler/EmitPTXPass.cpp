// flash-emit-ptx: attaches the PTX of the module's kernels as the flash.ptx attribute (see Passes.td).
#include "compiler/EmitPTX.h"
#include "compiler/Passes.h"
#include "dialects/FlashDialect.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

namespace flashjit {

#define GEN_PASS_DEF_EMITPTX
#include "compiler/Passes.h.inc"

using namespace mlir;

namespace {

class EmitPTXPass : public impl::EmitPTXBase<EmitPTXPass> {
public:
  using impl::EmitPTXBase<EmitPTXPass>::EmitPTXBase;

  void getDependentDialects(DialectRegistry &registry) const override {
    registerPTXTranslations(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string target = chip;
    if (target.empty())
      module.walk([&](LLVM::LLVMFuncOp function) {
        if (auto config = flash::FlashDialect::lookupConfig(function))
          target = config.getChip().str();
      });
    if (target.empty()) {
      module.emitError() << "no target chip: pass chip=sm_XX or put a flash.config on the kernels";
      return signalPassFailure();
    }
    std::string error;
    std::string ptx = emitPTX(module, target, error);
    if (ptx.empty()) {
      module.emitError() << "PTX emission failed: " << error;
      return signalPassFailure();
    }
    module->setAttr(flash::FlashDialect::kPTXAttrName, StringAttr::get(module.getContext(), ptx));
    if (!output.empty()) {
      std::error_code failure;
      llvm::raw_fd_ostream file(output, failure);
      if (failure) {
        module.emitError() << "cannot write the PTX to " << output << ": " << failure.message();
        return signalPassFailure();
      }
      file << ptx;
    }
  }
};

} // namespace

} // namespace flashjit
