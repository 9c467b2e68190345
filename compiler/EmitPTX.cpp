#include "compiler/EmitPTX.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Triple.h"

#include <memory>
#include <mutex>

// Only the NVPTX backend is linked into libflashjit, so initialize it alone (not InitializeAllTargets).
extern "C" void LLVMInitializeNVPTXTargetInfo();
extern "C" void LLVMInitializeNVPTXTarget();
extern "C" void LLVMInitializeNVPTXTargetMC();
extern "C" void LLVMInitializeNVPTXAsmPrinter();

namespace flashjit {

void registerPTXTranslations(mlir::DialectRegistry &registry) {
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  mlir::registerNVVMDialectTranslation(registry);
}

const char *ptxVersionFor(const std::string &chip) {
  (void)chip;
  return "8.0";
}

namespace {

/// LLVM's standard O1 pipeline, tuned for the target machine (SROA, instcombine, simplifycfg, ...). The
/// IR from MLIR is already clean and ptxas does the heavy optimisation: O2 and O3 give byte-identical PTX
/// for the whole default tuning space and take ~15% longer here; instcombine alone is 6x faster but 4%
/// slower at head_dim 128 causal on the H100 (benchmarks/results/h100-llvm-pipeline.txt).
void optimize(llvm::Module &module, llvm::TargetMachine &machine) {
  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager sccs;
  llvm::ModuleAnalysisManager modules;
  llvm::PassBuilder builder(&machine);
  builder.registerModuleAnalyses(modules);
  builder.registerCGSCCAnalyses(sccs);
  builder.registerFunctionAnalyses(functions);
  builder.registerLoopAnalyses(loops);
  builder.crossRegisterProxies(loops, functions, sccs, modules);
  builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O1).run(module, modules);
}

} // namespace

std::string emitPTX(mlir::ModuleOp module, const std::string &chip, std::string &error, PhaseTimes *phases) {
  static std::once_flag initialized;
  std::call_once(initialized, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
    // 32-bit shared-memory addresses: one register each instead of two (LLVM's copy is private to
    // libflashjit, so setting its option affects no one else).
    auto &options = llvm::cl::getRegisteredOptions();
    if (auto found = options.find("nvptx-short-ptr"); found != options.end())
      static_cast<llvm::cl::opt<bool> *>(found->second)->setValue(true);
  });

  PhaseTimer laps(phases);
  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> llvmModule = mlir::translateModuleToLLVMIR(module, context, "flashjit");
  if (!llvmModule) {
    error = "translating the LLVM dialect to LLVM IR failed";
    return "";
  }

  llvm::Triple triple("nvptx64-nvidia-cuda");
  std::string lookupError;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, lookupError);
  if (!target) {
    error = "the NVPTX backend is not available: " + lookupError;
    return "";
  }
  std::string features = std::string("+ptx") + std::string(ptxVersionFor(chip)).erase(1, 1);
  // Code generation at 'Less': the whole default tuning space gets the same PTX as at 'Aggressive' but for
  // virtual register numbers (the same cubins from ptxas), ~20% sooner.
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, chip, features, llvm::TargetOptions(), std::nullopt, std::nullopt,
      llvm::CodeGenOptLevel::Less));
  if (!machine) {
    error = "LLVM cannot target chip '" + chip + "'";
    return "";
  }
  llvmModule->setTargetTriple(triple);
  llvmModule->setDataLayout(machine->createDataLayout());

  std::string verifyErrors;
  llvm::raw_string_ostream verifyStream(verifyErrors);
  if (llvm::verifyModule(*llvmModule, &verifyStream)) {
    error = "the LLVM IR does not verify: " + verifyErrors;
    return "";
  }
  laps.lap("llvm-ir");
  optimize(*llvmModule, *machine);
  laps.lap("llvm-opt");

  llvm::SmallString<0> ptx;
  llvm::raw_svector_ostream ptxStream(ptx);
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, ptxStream, nullptr, llvm::CodeGenFileType::AssemblyFile)) {
    error = "the NVPTX backend cannot emit assembly";
    return "";
  }
  codegen.run(*llvmModule);
  laps.lap("nvptx");
  return std::string(ptx.str());
}

} // namespace flashjit
