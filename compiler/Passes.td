//===- Passes.td - flashjit's passes ---------------------------*- tablegen -*-===//
//
// Each pass lives in its own file of this folder (flash-lower-to-gpu: LowerToGPU.cpp, with its loads,
// products, row operations, epilogue, Hopper parts and split tail in
// LowerToGPU{Loads,Products,Rows,Epilogue,Hopper,SplitTail}.cpp) and has its own lit test in tests/lit/compiler/.
// The summary line of each pass is its documentation in `flashjit-opt --help`.
//
//===----------------------------------------------------------------------===//

#ifndef FLASHJIT_COMPILER_PASSES
#define FLASHJIT_COMPILER_PASSES

include "mlir/Pass/PassBase.td"

def TileAttention : Pass<"flash-tile-attention", "::mlir::ModuleOp"> {
  let summary = "Tile flash.attention into a loop over key blocks of block_n for each query block of block_m";
  let description = [{
    Rewrites each `flash.attention` into the two-pass tile form: a parallel loop over (query block, head,
    batch), and inside it, for one query tile of `block_m` rows, a first loop over key blocks of
    `block_n` that finds each row's maximum score (`flash.row_max`) and a second that exponentiates
    against it (`flash.exp_scores`) and accumulates P·V (`flash.pv`), then `flash.normalize`.
    Block sizes come from the `flash.config` attribute of the enclosing function. Tiles are read and
    written with `vector.transfer_read/write`, which pad and clip sequence tails.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect", "::mlir::vector::VectorDialect"];
}

def FuseOnlineSoftmax : Pass<"flash-fuse-online-softmax", "::mlir::ModuleOp"> {
  let summary = "Fuse the two-pass softmax into FlashAttention's one-pass online softmax with rescaling";
  let description = [{
    Finds a key loop that computes row maxima (`flash.row_max`) feeding the `flash.exp_scores` of a
    second key loop over the same blocks, and replaces both by one loop that carries the running max:
    `flash.online_softmax` yields the new max, the new sum and the factor exp2(m_old − m_new), and
    `flash.rescale` applies that factor to the output accumulator before the tile's P·V is added.
  }];
}

def ClassifyCausalBlocks : Pass<"flash-classify-causal-blocks", "::mlir::ModuleOp"> {
  let summary = "Mask only the key blocks that need it (diagonal and tail blocks) and skip hidden blocks";
  let description = [{
    For a key loop whose scores pass through `flash.mask`, computes per query block how many leading
    key blocks every query row sees completely (full: no mask needed) and where the last key any row
    can see lies (the loop stops there: later blocks are skipped). The mask moves into an `scf.if` on
    the block's start, taken by the diagonal and tail blocks only: one loop body, one branch per block
    that is the same for the whole thread block. The visible keys come from the mask's formulas
    (`dialects/Mask.h`): both causal alignments, sliding windows (the loop then starts at the first block
    any row sees, and the blocks left of every row's window are masked too), seqlen_q ≠ seqlen_k and
    sequence tails; without a mask only the tail block is masked.
  }];
}

def ScheduleTiles : Pass<"flash-schedule-tiles", "::mlir::ModuleOp"> {
  let summary = "Say how thread blocks walk the kernel's tiles: flash.tile_loop with its schedule";
  let description = [{
    Turns the kernel's `scf.parallel` over (query block, head, batch) into `flash.tile_loop`, whose
    `schedule` the GPU lowering and the runtime's launch both follow: `one_per_block`; `persistent`
    where the configuration asks for it (`persistent`) and the kernel has a producer warpgroup (sm_90a's
    wgmma path with `tma` and `warp_specialized`), which loads a tile's first K/V blocks while the
    computing warpgroups finish the previous tile; `split_tail` for such a kernel without a mask, whose
    tiles are alike, so that the last partial wave is dealt along the keys.
  }];
}

def SpecializeWarps : Pass<"flash-specialize-warps", "::mlir::ModuleOp"> {
  let summary = "Split each tile loop's warps into a producer warpgroup that loads and warpgroups that compute";
  let description = [{
    Where the configuration asks for a producer warpgroup (sm_90a's wgmma path with `tma` and
    `warp_specialized`), puts a `flash.warp_specialize` at the top of each `flash.tile_loop`: the
    computing warpgroups (warps / 4), the registers per thread the producer keeps (24) and each computing
    thread gets (the rest of 64K, at most 256), and `turns(round_robin)` (ping-pong) with `wg_overlap` and
    two or three computing warpgroups, else `turns(free)`. `flash-assign-streams` then has the producer
    load the streams (`tma_producer`). Other kernels are left as they are.
  }];
}

def ScheduleKeyLoops : Pass<"flash-schedule-key-loops", "::mlir::ModuleOp"> {
  let summary = "Decide how each key loop runs its blocks on the GPU: pipelined products, peeled blocks, per-warpgroup ends";
  let description = [{
    Records on each key loop (an `scf.for` that computes Q·Kᵀ) of a `flash.tile_loop`, as
    `flash.key_loop = #flash.key_loop<...>`, what the configuration and the tile loop's warp roles call for:
    `pipelined` (a block's P·V after the next block's Q·Kᵀ: the wgmma path with `wg_overlap`, one key
    loop), `first_block_ahead` (the pipelined loop's first block ahead of it; not with three computing
    warpgroups), `short_last_block = n` (a last block whose rows see at most n keys runs after the loop
    with products n keys wide: the wgmma path, key blocks of 128 or more), `warpgroup_ends` (with a
    producer warpgroup, each computing warpgroup ends at its own rows' last key where its rows can miss
    whole blocks). Loops that need none of these are left without it. The rules and the measurements
    behind them are in the pass's file comment.
  }];
}

def AssignStreams : Pass<"flash-assign-streams", "::mlir::ModuleOp"> {
  let summary = "Say which operands the key loops stream through shared memory, in how many slots, loaded by whom";
  let description = [{
    Puts a `flash.stream` at the top of each `flash.tile_loop`: the operands its key loops read at their
    induction variable (K and V in the forward, in the order first read), a ring of the configuration's
    `stages` slots, and the loader: `tma_producer` where the tile loop has a producer warpgroup (its
    `flash.warp_specialize`, from `flash-specialize-warps`), `tma` on the wgmma path with `tma`, else
    `cp_async`. The key
    loops' reads of those operands become `flash.stream_get`s, and unless a producer warpgroup loads
    every block, each loop says with `flash.stream_prefetch` where the blocks `stages - 1` ahead may
    start loading: after its Q·Kᵀ (after the mask branch on its scores, if any), or where the products
    are pipelined (the loop's `#flash.key_loop<pipelined = true>`) before P is converted, once the previous
    block's P·V, which reads that slot, has retired. The GPU lowering builds the ring from these ops.
  }];
}

def DistributeProducts : Pass<"flash-distribute", "::mlir::ModuleOp"> {
  let summary = "Decide where each flash.mma operand lies on the GPU: registers or shared memory, K- or MN-major";
  let description = [{
    Sets the `layouts` of every `flash.mma` that has none (`#flash.layouts<a = ..., b = ...>`), from
    where its operands come from and whether the product reads them transposed:
    - an A operand that is an earlier product's accumulator, converted to 16 bits and read as it lies,
      stays in its registers (`accumulator`: the accumulator layout is mma.sync's and wgmma's A layout);
    - every other operand lies in shared memory as its tile is stored, rows contiguous: a tile of
      memory read, or an accumulator the product reads transposed (staged there from its registers).
      The contraction dimension is then contiguous for a non-transposed A ([M][K]) and a transposed B
      ([N][K]): `shared_k_major`; else `shared_mn_major` (read by ldmatrix.trans, or a transposed wgmma
      descriptor).
    The GPU lowering picks every instruction of the product from these. Layouts already set are kept.
  }];
}

def LowerToGPU : Pass<"flash-lower-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Distribute the tile-level kernel over warps and lower it to NVVM: mma.sync, cp.async, ex2";
  let description = [{
    Turns a kernel at the "scheduled" stage into an `llvm.func` marked `nvvm.kernel`, one thread's program
    on a one-dimensional grid of (query block, head, batch) blocks, query blocks fastest, or the persistent
    grid that `flash.tile_loop`'s schedule asks for (recorded on the kernel as `flash.schedule`). The
    kernel's operands are found by what its tile ops do with them (Q and K read into `flash.qk`, V into
    `flash.pv`, O and lse written from `flash.normalize`), not by their position. Each warp owns a multiple of 16 query rows; tiles live in
    registers in the layouts of `mma.sync.m16n8k16` (scores and the output accumulator in the
    accumulator layout, whose 16-bit conversion of P is the A operand of P·V without shuffles; row
    statistics reduced over the 4 threads of a quad with `shfl.sync`). K and V tiles are staged in
    shared memory with 16-byte `cp.async` copies (zero-filled past seqlen_k) and read with `ldmatrix`;
    the copies of a later key block are issued right after each block's Q·Kᵀ (and its mask branch),
    over the softmax.
    For sm_90a, where each warp owns 16 rows of whole warpgroups, key blocks are multiples of 64 and
    head_dim is 64 or 128, Q·Kᵀ and P·V run on `wgmma.mma_async` (m64nNk16; A from registers: the
    query fragments, then the probabilities; K and V from shared memory in the 128-byte swizzled layout
    through matrix descriptors, V transposed).
    Exponentials use `ex2.approx`; nothing calls libdevice. The kernel's parameters are named, in
    order, by its `flash.parameters` attribute (the pointers and strides of Q, K, V, O and lse, seqlen_q,
    seqlen_k, the query heads per key/value head, the query heads, the batch size, the fast divisors
    (magic, shift: n / d = mulhi(2n, magic) >> shift, runtime/FastDivisor.h), the softmax scale, and
    what the schedule and TMA add); the launcher packs its arguments from that list. The function's
    `flash.shared_memory` attribute gives the bytes of dynamic shared memory a launch needs.
    Window masks (other than causal) are refused: they run in the interpreter only so far.
    A function of tiles and products alone (reads of 2-D memrefs, `flash.mma` with the layouts that
    flash-distribute sets, conversions, writes of f32 tiles; no grid) becomes a one-block kernel whose
    parameters are its arguments' pointers (`arg0`, `arg1`, ...), each product lowered from its
    operands' layouts by the same routines as the attention kernels' (LowerToGPUTileKernel.cpp).
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect",
                           "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect"];
}

def EmitPTX : Pass<"flash-emit-ptx", "::mlir::ModuleOp"> {
  let summary = "Translate the module's LLVM-dialect kernels to PTX in-process and attach it as flash.ptx";
  let description = [{
    Translates the module (kernels as `llvm.func` marked `nvvm.kernel`) to LLVM IR, optimizes it at O1
    and runs LLVM's NVPTX backend, all in memory. The PTX text is attached to the module as the string
    attribute `flash.ptx`. The chip is the `chip` option, or else the `chip` of the kernels'
    `flash.config`. With `output`, the PTX is also written to that file, ready for `ptxas -v` (this
    assembles any configuration, also one that `compile` refuses, e.g. to see what it spills).
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"\"",
           "target chip (sm_80, sm_86, sm_89, sm_90, sm_90a); default: the kernels' flash.config">,
    Option<"output", "output", "std::string", /*default=*/"\"\"",
           "also write the PTX to this file">,
  ];
}

#endif // FLASHJIT_COMPILER_PASSES
