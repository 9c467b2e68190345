//===- FlashDialect.td - the flash dialect ---------------------*- tablegen -*-===//
//
// `flash` describes attention at two levels: one problem-level op (`flash.attention`) and the tile-level ops
// that tiling and softmax fusion produce on register tiles (vectors) of one block of queries.
//
//===----------------------------------------------------------------------===//

#ifndef FLASHJIT_FLASH_DIALECT
#define FLASHJIT_FLASH_DIALECT

include "mlir/IR/OpBase.td"

def Flash_Dialect : Dialect {
  let name = "flash";
  let cppNamespace = "::flashjit::flash";
  let summary = "Tiled FlashAttention: the attention problem and the tile ops of its online-softmax form";
  let description = [{
    The `flash` dialect describes scaled dot-product attention, O = softmax(scale · Q·Kᵀ + mask) · V, at
    two levels.

    * Problem level: `flash.attention` reads Q, K, V and writes O (and optionally the logsumexp of each
      query row) for a whole [batch, heads, sequence, head_dim] problem.
    * Tile level: ops on register tiles of one block of `block_m` query rows against one block of
      `block_n` keys: `flash.qk`, `flash.mask`, `flash.row_max`, `flash.exp_scores`,
      `flash.online_softmax`, `flash.rescale`, `flash.pv` and `flash.normalize`.

    The tile level has two forms. The *two-pass* form first finds each row's maximum score over all key
    blocks (`flash.row_max`), then exponentiates against that final maximum (`flash.exp_scores`) and
    accumulates P·V. The *online* form (FlashAttention) does both in one pass: `flash.online_softmax`
    keeps a running maximum and sum and yields the factor exp2(m_old − m_new) by which `flash.rescale`
    corrects the output accumulator. Fusing softmax is the rewrite from the first form to the second.

    Scores are kept in raw units (Q·Kᵀ, unscaled); the ops that exponentiate take the softmax scale and
    fold scale·log2(e) into one multiply before exp2. Masked scores are −inf. A row that sees no key has
    running max −inf and sum 0; its output is 0 and its logsumexp −inf.

    A kernel configuration (`#flash.config<...>`) rides on the kernel function as the `flash.config`
    attribute, so the same IR can be compiled for several configurations.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    /// Name of the discardable attribute that carries a kernel's configuration.
    static constexpr ::llvm::StringLiteral kConfigAttrName = "flash.config";
    /// Name of the module attribute that holds the PTX emitted for its kernels.
    static constexpr ::llvm::StringLiteral kPTXAttrName = "flash.ptx";
    /// Name of the kernel attribute that gives the bytes of dynamic shared memory a launch needs.
    static constexpr ::llvm::StringLiteral kSharedMemoryAttrName = "flash.shared_memory";
    /// Name of the kernel attribute that names its parameters, in order (the kernel's ABI, which the
    /// launcher packs arguments from).
    static constexpr ::llvm::StringLiteral kParametersAttrName = "flash.parameters";
    /// Name of the kernel attribute that gives its tile schedule (flash.tile_loop's), which the launch follows.
    static constexpr ::llvm::StringLiteral kScheduleAttrName = "flash.schedule";
    /// Name of the key loop attribute (#flash.key_loop) that says how the loop runs its blocks.
    static constexpr ::llvm::StringLiteral kKeyLoopAttrName = "flash.key_loop";
    /// The configuration of the kernel function that holds `op` (or is `op`), or null if it has none.
    static KernelConfigAttr lookupConfig(::mlir::Operation *op);
  }];
}

class Flash_Op<string mnemonic, list<Trait> traits = []> : Op<Flash_Dialect, mnemonic, traits>;

#endif // FLASHJIT_FLASH_DIALECT
