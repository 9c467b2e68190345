// Builds the problem-level IR of a forward-attention kernel from its spec and configuration:
//
//   func.func @attention_fwd_d128_bf16(%q, %k, %v, %o, %lse, %scale) attributes {flash.config = ...} {
//     flash.attention %q, %k, %v scale %scale into %o, lse %lse : ...
//   }
//
// Q, K, V, O are [batch, heads, seqlen, head_dim] memrefs with dynamic sizes and strides (any layout
// whose head_dim is contiguous), so one kernel serves every shape and both BSHD and BHSD layouts.
#include "dialects/FlashDialect.h"
#include "runtime/flashjit.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace flashjit {

namespace {

flash::CausalMode toCausalMode(Causal causal) {
  switch (causal) {
  case Causal::none:
    return flash::CausalMode::none;
  case Causal::top_left:
    return flash::CausalMode::top_left;
  case Causal::bottom_right:
    return flash::CausalMode::bottom_right;
  }
  return flash::CausalMode::none;
}

ModuleOp buildModule(MLIRContext &context, const AttentionSpec &spec, const KernelConfig &config) {
  OpBuilder b(&context);
  const int64_t dynamic = ShapedType::kDynamic;
  Type element = spec.dtype == DType::f16 ? Type(b.getF16Type()) : Type(b.getBF16Type());
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

  Location loc = NameLoc::get(b.getStringAttr(spec.name()));
  ModuleOp module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(b, loc, spec.name(), b.getFunctionType(argTypes, {}));
  func->setAttr(flash::FlashDialect::kConfigAttrName,
                flash::KernelConfigAttr::get(&context, config.block_m, config.block_n, config.warps,
                                             config.stages, config.chip));
  Block *entry = func.addEntryBlock();
  for (auto [arg, argLoc] : llvm::zip(entry->getArguments(), argLocs))
    arg.setLoc(argLoc);

  b.setInsertionPointToStart(entry);
  Value lse = spec.logsumexp ? entry->getArgument(4) : Value();
  flash::AttentionOp::create(b, loc, entry->getArgument(0), entry->getArgument(1), entry->getArgument(2),
                             entry->getArguments().back(), entry->getArgument(3), lse,
                             toCausalMode(spec.causal));
  func::ReturnOp::create(b, loc);
  return module;
}

} // namespace

std::string attentionIR(const AttentionSpec &spec, const KernelConfig &config) {
  validate(spec);
  validate(config);

  MLIRContext context(MLIRContext::Threading::DISABLED);
  context.loadDialect<flash::FlashDialect, func::FuncDialect>();
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
    diagnostics += diagnostic.str() + "\n";
    return success();
  });

  OwningOpRef<ModuleOp> module = buildModule(context, spec, config);
  if (failed(verify(*module)))
    throw Error(Error::Code::Internal,
                "the generated IR of " + spec.name() + " does not verify:\n" + diagnostics);

  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os, OpPrintingFlags().printNameLocAsPrefix(true));
  return text;
}

} // namespace flashjit
