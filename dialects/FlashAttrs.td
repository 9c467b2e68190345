//===- FlashAttrs.td - flash attributes ------------------------*- tablegen -*-===//

#ifndef FLASHJIT_FLASH_ATTRS
#define FLASHJIT_FLASH_ATTRS

include "FlashDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Flash_MaskAlignment : I32EnumAttr<"MaskAlignment", "where a mask's diagonal lies", [
    // key j is on query i's diagonal iff j = i (the masks' top-left corners coincide)
    I32EnumAttrCase<"top_left", 0>,
    // key j is on query i's diagonal iff j = i + seqlen_k - seqlen_q (bottom-right corners coincide;
    // FlashAttention >= 2.1 and cuDNN)
    I32EnumAttrCase<"bottom_right", 1>]> {
  let cppNamespace = "::flashjit::flash";
  let genSpecializedAttr = 0;
}

def Flash_MaskAttr : AttrDef<Flash_Dialect, "Mask"> {
  let mnemonic = "mask";
  let summary = "which keys each query row sees: bounds left and right of a diagonal";
  let description = [{
    Query row i sees key j iff j < seqlen_k and, for each bound that is set (-1: unbounded),
    i + d - left <= j <= i + d + right, with the diagonal d = 0 (`top_left`) or seqlen_k - seqlen_q
    (`bottom_right`). A causal mask is right = 0 with no left bound; a sliding window of w keys to the
    left is left = w, right = 0. The formulas live in `dialects/Mask.h` (`getMask()` gives that form).
    On ops it prints as `causal(bottom_right)` or `window(bottom_right, left = 128, right = 0)`.
  }];
  let parameters = (ins
    EnumParameter<Flash_MaskAlignment>:$alignment,
    "int64_t":$left,
    "int64_t":$right
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The mask in the plain-C++ form that its formulas take (dialects/Mask.h).
    ::flashjit::mask::Mask getMask() const;
    static MaskAttr get(::mlir::MLIRContext *context, const ::flashjit::mask::Mask &mask);
  }];
}

def Flash_TileSchedule : I32EnumAttr<"TileSchedule", "how thread blocks walk a kernel's tiles", [
    // a grid of one thread block per tile, query blocks fastest, the last query block first
    I32EnumAttrCase<"one_per_block", 0>,
    // at most one block per multiprocessor, each looping over pairs of query blocks and then a tail of
    // tiles dealt one by one (dialects/PersistentTiles.h)
    I32EnumAttrCase<"persistent", 1>,
    // persistent, tiles in round robin, the last partial wave's tiles split along their keys over every
    // block and combined by the last (dialects/SplitTailTiles.h)
    I32EnumAttrCase<"split_tail", 2>]> {
  let cppNamespace = "::flashjit::flash";
}

def Flash_StreamLoad : I32EnumAttr<"StreamLoad", "who loads a stream's blocks into its slots, and how", [
    // every computing thread, with 16-byte cp.async copies
    I32EnumAttrCase<"cp_async", 0>,
    // one computing thread, with the Tensor Memory Accelerator (sm_90a)
    I32EnumAttrCase<"tma", 1>,
    // a producer warpgroup of its own, with TMA; the computing warpgroups only wait for full slots (sm_90a)
    I32EnumAttrCase<"tma_producer", 2>]> {
  let cppNamespace = "::flashjit::flash";
}

def Flash_WarpTurns : I32EnumAttr<"WarpTurns", "how computing warpgroups share the tensor cores", [
    // each issues its products when it is ready
    I32EnumAttrCase<"free", 0>,
    // they take turns, round robin (FlashAttention-3's ping-pong): one's softmax runs under the next one's
    // products
    I32EnumAttrCase<"round_robin", 1>]> {
  let cppNamespace = "::flashjit::flash";
}

def Flash_OperandLayout : I32EnumAttr<"OperandLayout", "where a product's operand lies on the GPU", [
    // registers in the A layout of mma.sync (loaded from memory; A only)
    I32EnumAttrCase<"registers", 0>,
    // registers of an earlier product's accumulator, converted to 16 bits: the A layout as it lies (A only)
    I32EnumAttrCase<"accumulator", 1>,
    // shared memory with the contraction dimension (K) contiguous
    I32EnumAttrCase<"shared_k_major", 2>,
    // shared memory with the other dimension (M of A, N of B) contiguous: read transposed
    I32EnumAttrCase<"shared_mn_major", 3>]> {
  let cppNamespace = "::flashjit::flash";
  let genSpecializedAttr = 0;
}

def Flash_OperandLayoutsAttr : AttrDef<Flash_Dialect, "OperandLayouts"> {
  let mnemonic = "layouts";
  let summary = "where the A and B operands of a flash.mma lie, as flash-distribute decided";
  let description = [{
    The GPU lowering of `flash.mma` picks its instructions from these alone: mma.sync or wgmma (the
    chip and the tile), A from registers (`registers`, or `accumulator`: a packed earlier product) or
    from shared memory, each shared operand K-major (ldmatrix; a K-major descriptor) or MN-major
    (ldmatrix.trans; a transposed descriptor). A shared operand defined by a read of memory is copied
    there; one defined by an earlier product is written there from its registers.
  }];
  let parameters = (ins EnumParameter<Flash_OperandLayout>:$a, EnumParameter<Flash_OperandLayout>:$b);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Flash_KeyLoopAttr : AttrDef<Flash_Dialect, "KeyLoop"> {
  let mnemonic = "key_loop";
  let summary = "how a key loop runs its blocks on the GPU, as flash-schedule-key-loops decided";
  let description = [{
    Rides on a tile's key loop (`scf.for`) as `flash.key_loop`. `pipelined`: each warpgroup issues a key
    block's P·V after the next block's Q·Kᵀ and computes that block's softmax while the P·V runs
    (FlashAttention-3's intra-warpgroup overlap; the wgmma path). `first_block_ahead` (with `pipelined`):
    the first block runs ahead of the loop, with no P·V before it. `short_last_block = n`: a last block
    whose rows see at most its first n keys runs after the loop, its products n keys wide (wgmma).
    `warpgroup_ends`: each computing warpgroup ends the loop after the last key its own rows see and
    takes its idle turns for the blocks left (with a producer warpgroup). Unset parameters are false (0)
    and not printed.

    ```mlir
    scf.for %j = %lo to %hi step %c128 ... {flash.key_loop = #flash.key_loop<pipelined = true, first_block_ahead = true>}
    ```
  }];
  let parameters = (ins
    DefaultValuedParameter<"bool", "false", "P·V issued after the next block's Q·Kᵀ">:$pipelined,
    DefaultValuedParameter<"bool", "false", "the first block ahead of the loop">:$first_block_ahead,
    DefaultValuedParameter<"int64_t", "0", "keys of a short last block run after the loop">:$short_last_block,
    DefaultValuedParameter<"bool", "false", "each warpgroup ends at its own rows' last key">:$warpgroup_ends
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Flash_KernelConfigAttr : AttrDef<Flash_Dialect, "KernelConfig"> {
  let mnemonic = "config";
  let summary = "kernel configuration: block sizes, warps, pipeline stages and target chip";
  let description = [{
    How one attention kernel is tiled and mapped onto the GPU: a thread block owns `block_m` query rows
    and walks the keys in blocks of `block_n`; its `warps` warps split the query rows; K/V tiles are
    staged through shared memory in `stages` buffers; `chip` is the target, such as `sm_80` or `sm_90a`.
    `wg_overlap` (sm_90a's wgmma path only; printed only when true): each warpgroup issues a key block's
    P·V after the next block's Q·Kᵀ and runs that block's softmax while it computes (FlashAttention-3's
    intra-warpgroup overlap). `tma` (the same path; printed only when true): one thread loads each K/V tile
    with the Tensor Memory Accelerator (`cp.async.bulk.tensor`, tensor maps passed by the runtime) instead
    of every thread's `cp.async`. `warp_specialized` (with `tma`; printed only when true): one more
    warpgroup, the producer, issues every K/V load (K and V in rings of their own) while the others only
    compute; with `wg_overlap` and two or three computing warpgroups, these take turns to issue their
    wgmmas (FlashAttention-3's ping-pong). `persistent` (with `warp_specialized`; printed only when true):
    at most one thread block per multiprocessor, each looping over (query block, head, batch) tiles, so
    that the producer loads a tile's first K/V blocks while the consumers finish the previous tile.
    `conditional_rescale` (any path; printed only when true): a row keeps its running maximum unless the
    key block raises it by more than 8 (in log2 units), and the output accumulator is rescaled only when
    some row of the warp moved (a warp-uniform branch); exact.
    `mma_row_sum` (sm_90a's wgmma path; printed only when true): each key block's P·V also sums the rows of
    P, through a column of ones next to V (a wgmma eight columns wider), in place of the softmax's
    per-score additions; the running sums then ride in the output accumulator and are rescaled with it.

    ```mlir
    func.func @kernel(...) attributes {
        flash.config = #flash.config<block_m = 128, block_n = 64, warps = 4, stages = 2, chip = "sm_80">}
    ```
  }];
  let parameters = (ins
    "int64_t":$block_m,
    "int64_t":$block_n,
    "int64_t":$warps,
    "int64_t":$stages,
    StringRefParameter<"target chip, such as sm_80">:$chip,
    DefaultValuedParameter<"bool", "false", "softmax overlapped with the previous block's P·V (wgmma)">:$wg_overlap,
    DefaultValuedParameter<"bool", "false", "K/V tiles loaded by TMA (wgmma)">:$tma,
    DefaultValuedParameter<"bool", "false", "a producer warpgroup issues the TMA loads (wgmma)">:$warp_specialized,
    DefaultValuedParameter<"bool", "false", "blocks loop over tiles, one per multiprocessor">:$persistent,
    DefaultValuedParameter<"bool", "false", "output rescaled only when a row's maximum grew">:$conditional_rescale,
    DefaultValuedParameter<"bool", "false", "row sums of P by the P·V wgmma (wgmma)">:$mma_row_sum
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // FLASHJIT_FLASH_ATTRS
