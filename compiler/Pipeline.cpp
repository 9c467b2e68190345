// Stages of a kernel's IR: flash -> tiled -> fused -> causal -> gpu -> llvm, then PTX. Each stage is the
// previous one after its passes and a clean-up (canonicalize, cse), so each printed stage reads on its own.
#include "compiler/Pipeline.h"
#include "compiler/EmitPTX.h"
#include "compiler/Passes.h"
#include "dialects/FlashDialect.h"
#include "dialects/KernelConfigRules.h"
#include "compiler/Registration.h"
#include "kernels/AttentionKernel.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace flashjit {

using namespace mlir;

namespace {

/// One kernel's IR in a context of its own, with every diagnostic collected for error messages.
class KernelIR {
public:
  KernelIR(const AttentionSpec &spec, const KernelConfig &config)
      : context(registry(), MLIRContext::Threading::DISABLED),
        handler(&context, [this](Diagnostic &diagnostic) {
          diagnostics += diagnostic.str() + "\n";
          return success();
        }),
        name(spec.name()) {
    validate(spec);
    validate(config);
    module = buildAttentionModule(context, spec, config);
    if (failed(verify(*module)))
      fail("the generated IR does not verify");
  }

  /// Runs the stages after the one the IR is at, up to `stage`: each stage's passes, then a clean-up
  /// (canonicalize, cse), so that each stage reads on its own whichever way it was reached.
  void lowerTo(Stage stage) {
    for (Stage next : allStages()) {
      if (next <= reached || next > stage)
        continue;
      PassManager pm(&context, ModuleOp::getOperationName());
      // The IR is verified once per stage (below), not after every pass: the gpu and llvm stages hold
      // thousands of ops, and verifying them after each of their nine passes took a fifth of the compile.
      pm.enableVerifier(false);
      addPassesOf(next, pm);
      // Bottom-up: on the gpu stage's kernels (thousands of ops) the canonicalizer's default top-down walk
      // takes five times as long for the same result (73 vs 14 ms at head_dim 128, 128 rows over 4 warps).
      // One sweep without region simplification gives the same IR again at half that (every stage and
      // the PTX of the whole default tuning space are byte-identical).
      GreedyRewriteConfig cleanUp;
      cleanUp.setUseTopDownTraversal(false);
      cleanUp.setMaxIterations(1);
      cleanUp.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
      pm.addPass(createCanonicalizerPass(cleanUp));
      pm.addPass(createCSEPass());
      if (failed(pm.run(*module)))
        fail(std::string("lowering to the ") + toString(next) + " stage failed");
      if (failed(verify(*module)))
        fail(std::string("the ") + toString(next) + " stage's IR does not verify");
      reached = next;
    }
  }

  std::string print() {
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os, OpPrintingFlags().printNameLocAsPrefix(true));
    return text;
  }

  func::FuncOp function() { return *module->getOps<func::FuncOp>().begin(); }

  /// The kernel's parameters: the names the lowering recorded, the kinds its signature gives.
  std::vector<KernelParameter> parametersOf(LLVM::LLVMFuncOp kernel, ArrayAttr names) {
    std::vector<KernelParameter> parameters;
    for (auto [name, type] : llvm::zip_equal(names, kernel.getFunctionType().getParams())) {
      KernelParameter parameter{cast<StringAttr>(name).str()};
      if (auto pointer = dyn_cast<LLVM::LLVMPointerType>(type))
        // Global memory, or (generic, by value) a TMA tensor map in the parameter space.
        parameter.kind = pointer.getAddressSpace() == 1 ? KernelParameter::Kind::pointer
                                                        : KernelParameter::Kind::tensor_map;
      else if (type.isInteger(64))
        parameter.kind = KernelParameter::Kind::i64;
      else if (type.isInteger(32))
        parameter.kind = KernelParameter::Kind::i32;
      else if (type.isF32())
        parameter.kind = KernelParameter::Kind::f32;
      else
        fail("kernel parameter '" + parameter.name + "' has a type the launcher cannot pass");
      parameters.push_back(parameter);
    }
    return parameters;
  }

  /// PTX of the kernel, which must be at the llvm stage.
  CompiledKernel toPTX(const KernelConfig &config, PhaseTimes *phases = nullptr) {
    std::string error;
    CompiledKernel compiled;
    compiled.name = name;
    compiled.chip = config.chip;
    compiled.block_m = config.block_m;
    // What the lowering put on the kernel: its block size (a producer warpgroup adds 128 threads to the
    // warps) and its shared memory.
    for (auto kernel : module->getOps<LLVM::LLVMFuncOp>()) {
      if (auto threads = kernel->getAttrOfType<DenseI32ArrayAttr>("nvvm.maxntid"))
        compiled.threads = threads.asArrayRef()[0];
      if (auto bytes = kernel->getAttrOfType<IntegerAttr>(flash::FlashDialect::kSharedMemoryAttrName))
        compiled.shared_memory = int(bytes.getInt());
      if (auto names = kernel->getAttrOfType<ArrayAttr>(flash::FlashDialect::kParametersAttrName))
        compiled.parameters = parametersOf(kernel, names);
      // A kernel that loads K and V by TMA takes their tensor maps, with boxes of a key block's rows.
      for (const KernelParameter &parameter : compiled.parameters)
        if (parameter.kind == KernelParameter::Kind::tensor_map)
          compiled.tma_box_rows = config.block_n;
      // The launch follows the tile schedule the lowering took (flash.tile_loop's).
      if (auto schedule = kernel->getAttrOfType<StringAttr>(flash::FlashDialect::kScheduleAttrName)) {
        compiled.persistent = schedule.getValue() != "one_per_block";
        compiled.split_tail = schedule.getValue() == "split_tail";
      }
    }
    compiled.ptx = emitPTX(*module, config.chip, error, phases);
    if (compiled.ptx.empty())
      fail("PTX emission failed: " + error);
    return compiled;
  }

private:
  static void addPassesOf(Stage stage, PassManager &pm) {
    switch (stage) {
    case Stage::flash:
      break;
    case Stage::tiled:
      pm.addPass(createTileAttention());
      break;
    case Stage::fused:
      pm.addPass(createFuseOnlineSoftmax());
      break;
    case Stage::causal:
      pm.addPass(createClassifyCausalBlocks());
      break;
    case Stage::scheduled:
      pm.addPass(createScheduleTiles());
      pm.addPass(createSpecializeWarps());
      pm.addPass(createScheduleKeyLoops());
      pm.addPass(createAssignStreams());
      break;
    case Stage::gpu:
      pm.addPass(createLowerToGPU());
      break;
    case Stage::llvm:
      pm.addPass(createSCFToControlFlowPass());
      pm.addPass(createArithToLLVMConversionPass());
      pm.addPass(createConvertControlFlowToLLVMPass());
      pm.addPass(createReconcileUnrealizedCastsPass());
      break;
    }
  }

  static DialectRegistry registry() {
    DialectRegistry registry;
    registerCompilerDialects(registry);
    return registry;
  }

  [[noreturn]] void fail(const std::string &what) {
    throw Error(Error::Code::Internal, name + ": " + what + ":\n" + diagnostics);
  }

  MLIRContext context;
  std::string diagnostics;
  ScopedDiagnosticHandler handler;
  std::string name;
  OwningOpRef<ModuleOp> module;
  Stage reached = Stage::flash;
};

} // namespace

namespace compiler {

std::string attentionIR(const AttentionSpec &spec, const KernelConfig &config, Stage stage) {
  KernelIR kernel(spec, config);
  kernel.lowerTo(stage);
  return kernel.print();
}

CompiledKernel compile(const AttentionSpec &spec, const KernelConfig &config) {
  auto start = std::chrono::steady_clock::now();
  if (spec.dtype == DType::f32)
    throw Error(Error::Code::Unsupported, spec.name() + ": GPU kernels support f16 and bf16 data; f32 "
                                                        "runs only in the interpreter (flashjit run --interpret)");
  if (spec.window_left >= 0)
    throw Error(Error::Code::Unsupported, spec.name() + ": GPU kernels take causal masks (none, top_left, "
                                                        "bottom_right) without a window so far; sliding windows "
                                                        "(window_left) run in the interpreter (flashjit run --interpret)");
  // What the GPU lowering cannot build from a valid configuration: a user's choice, not a bug.
  std::string unsupported =
      gpuLoweringError(config.block_m, config.block_n, config.warps, config.stages, spec.head_dim, config.chip,
                       config.mma_row_sum);
  if (unsupported.empty() && (config.wg_overlap || config.tma) &&
      !usesWgmma(config.chip, config.block_m, config.block_n, config.warps, spec.head_dim))
    unsupported = std::string(config.tma ? "tma" : "wg_overlap") + " needs the wgmma path (sm_90a, 16 query rows per warp in whole warpgroups, block_n "
                  "a multiple of 64 up to 256, head_dim 64 or 128)";
  if (unsupported.empty() && config.persistent && !config.warp_specialized)
    unsupported = "persistent needs warp_specialized (its producer warpgroup loads each tile's key blocks ahead)";
  if (unsupported.empty() && config.warp_specialized && !config.tma)
    unsupported = "warp_specialized needs tma (its producer warpgroup issues TMA loads)";
  // ptxas -v: with both, 256-key blocks spill (the producer's warpgroup lowers the register budget).
  if (unsupported.empty() && config.warp_specialized && config.wg_overlap && config.block_n > 192)
    unsupported = "warp_specialized with wg_overlap supports block_n up to 192";
  // ptxas -v: three warpgroups without a producer get 168 registers each, and with the overlap the causal
  // kernels spill; the producer's setmaxnreg gives them 160 of their own, which fit.
  if (unsupported.empty() && config.wg_overlap && config.warps == 12 && !config.warp_specialized)
    unsupported = "wg_overlap on 12 warps needs warp_specialized";
  // ptxas -v: persistent blocks keep the tile loop's state live next to three computing warpgroups'
  // accumulators (160 registers each). At head_dim 64 they assemble without spills (the mask's
  // seqlen_k − seqlen_q is recomputed per key block, emitMask); at 128 under a bottom-right mask 192x64
  // spills.
  if (unsupported.empty() && config.persistent && config.warps == 12 && spec.head_dim == 128 &&
      spec.causal == Causal::bottom_right)
    unsupported = "persistent on 12 warps under a bottom_right causal mask supports head_dim 64 only (at 128 it "
                  "spills); use 8 warps or persistent = false";
  if (!unsupported.empty())
    throw Error(Error::Code::Unsupported, spec.name() + " " + config.str() + ": " + unsupported);
  PhaseTimes phases;
  PhaseTimer timer(&phases);
  KernelIR kernel(spec, config);
  timer.lap("build");
  // FLASHJIT_DUMP_DIR: every stage of every kernel compiled, as Triton's TRITON_KERNEL_DUMP does.
  const char *dumpDir = std::getenv("FLASHJIT_DUMP_DIR");
  std::string prefix;
  if (dumpDir && *dumpDir) {
    prefix = std::string(dumpDir) + "/" + spec.name() + "." + config.chip + ".m" + std::to_string(config.block_m) +
             "n" + std::to_string(config.block_n) + "w" + std::to_string(config.warps) + "s" +
             std::to_string(config.stages) + (config.wg_overlap ? "o" : "") + (config.tma ? "t" : "") +
             (config.warp_specialized ? "p" : "") + (config.persistent ? "r" : "") +
             (config.conditional_rescale ? "c" : "") + (config.mma_row_sum ? "s" : "") + ".";
    std::error_code error;
    std::filesystem::create_directories(dumpDir, error);
  }
  int index = 0;
  for (Stage stage : allStages()) {
    kernel.lowerTo(stage);
    if (stage != Stage::flash)
      timer.lap(toString(stage));
    if (!prefix.empty()) {
      std::ofstream(prefix + std::to_string(index++) + "-" + toString(stage) + ".mlir") << kernel.print();
      timer.lap("dump");
    }
  }
  CompiledKernel compiled = kernel.toPTX(config, &phases);
  if (!prefix.empty()) {
    PhaseTimer ptxDump(&phases); // emitPTX timed its own phases
    std::ofstream(prefix + std::to_string(index) + "-ptx.ptx") << compiled.ptx;
    ptxDump.lap("dump");
  }
  compiled.phase_ms = std::move(phases);
  compiled.compile_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return compiled;
}

std::string interpretAttentionKernel(const AttentionSpec &spec, const KernelConfig &config, Stage stage,
                                     const std::vector<InterpreterArg> &args) {
  KernelIR kernel(spec, config);
  kernel.lowerTo(stage);
  return interpret(kernel.function(), args);
}

std::string interpretFunction(const std::string &ir, const std::vector<InterpreterArg> &args,
                              const std::string &passes) {
  DialectRegistry registry;
  registerCompilerDialects(registry);
  MLIRContext context(registry, MLIRContext::Threading::DISABLED);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
    diagnostics += diagnostic.str() + "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(ir, &context);
  if (!module)
    return "cannot parse the IR: " + diagnostics;
  if (!passes.empty()) {
    static const bool registered = (registerCompilerPasses(), true); // once per process
    (void)registered;
    PassManager pm(&context);
    std::string pipelineErrors;
    llvm::raw_string_ostream errors(pipelineErrors);
    if (failed(parsePassPipeline(passes, pm, errors)))
      return "cannot parse the pass pipeline '" + passes + "': " + pipelineErrors;
    if (failed(pm.run(*module)))
      return "the passes '" + passes + "' failed: " + diagnostics;
  }
  auto functions = module->getOps<func::FuncOp>();
  if (functions.empty())
    return "the IR holds no function";
  return interpret(*functions.begin(), args);
}

} // namespace compiler

} // namespace flashjit
