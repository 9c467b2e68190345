//===- FlashOps.td - flash operations --------------------------*- tablegen -*-===//
//
// Operand types are kept loose here (any vector, any memref) and checked in FlashOps.cpp, so that every
// diagnostic names the operand by its role (query tile, running max, ...) and says what is allowed.
//
//===----------------------------------------------------------------------===//

#ifndef FLASHJIT_FLASH_OPS
#define FLASHJIT_FLASH_OPS

include "FlashDialect.td"
include "FlashAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class Flash_Vector<string role> : Type<IsVectorOfNonZeroRankTypePred, role # " (a vector)",
                                       "::mlir::VectorType">;
class Flash_MemRef<string role> : Type<IsMemRefTypePred, role # " (a memref)", "::mlir::MemRefType">;

//===----------------------------------------------------------------------===//
// Problem level
//===----------------------------------------------------------------------===//

def Flash_AttentionOp : Flash_Op<"attention"> {
  let summary = "scaled dot-product attention of Q, K, V into O (and the logsumexp of each query row)";
  let description = [{
    O[b, h, i, :] = Σ_j softmax_j(scale · Q[b, h, i, :]·K[b, h', j, :] + mask(i, j)) · V[b, h', j, :]

    All four data operands are [batch, heads, sequence, head_dim] memrefs; any strides are allowed
    (BSHD and BHSD layouts alike) as long as head_dim is contiguous. K and V have the same shape; Q and
    O have the same shape. K/V may have fewer heads than Q if that count divides Q's (grouped-query
    attention: h' = h / (heads_q / heads_kv)). `scale` is the softmax scale, a run-time value (the
    usual choice is 1/sqrt(head_dim)); it must be positive. The optional `lse` operand receives the
    natural-log logsumexp of each query row's scaled scores, [batch, heads, seqlen_q] in f32.

    `causal(top_left)` hides key j from query i when j > i; `causal(bottom_right)` when
    j > i + seqlen_k − seqlen_q; `window(bottom_right, left = w, right = 0)` also hides the keys more than
    w left of that diagonal (a sliding window; see `#flash.mask`). A query row that sees no key gets
    output 0 and logsumexp −inf.

    ```mlir
    flash.attention %q, %k, %v scale %scale into %o, lse %lse causal(bottom_right)
        : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>
        -> memref<?x?x?x128xbf16>, memref<?x?x?xf32>
    ```
  }];
  let arguments = (ins
    Arg<Flash_MemRef<"query">, "Q [batch, heads, seqlen_q, head_dim]", [MemRead]>:$query,
    Arg<Flash_MemRef<"key">, "K [batch, kv_heads, seqlen_k, head_dim]", [MemRead]>:$key,
    Arg<Flash_MemRef<"value">, "V [batch, kv_heads, seqlen_k, head_dim]", [MemRead]>:$value,
    F32:$scale,
    Arg<Flash_MemRef<"output">, "O [batch, heads, seqlen_q, head_dim]", [MemWrite]>:$output,
    Arg<Optional<Flash_MemRef<"logsumexp">>, "[batch, heads, seqlen_q] in f32", [MemWrite]>:$logsumexp,
    OptionalAttr<Flash_MaskAttr>:$mask
  );
  let assemblyFormat = [{
    $query `,` $key `,` $value `scale` $scale `into` $output (`,` `lse` $logsumexp^)?
    `` custom<Mask>($mask) attr-dict
    `:` type($query) `,` type($key) `,` type($value) `->` type($output) (`,` type($logsumexp)^)?
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The head dimension (the static innermost size of Q, K, V and O).
    int64_t getHeadDim() { return getQuery().getType().getShape().back(); }
    /// The element type of Q, K, V and O.
    ::mlir::Type getElementType() { return getQuery().getType().getElementType(); }
  }];
}

//===----------------------------------------------------------------------===//
// Tile level: one block of block_m query rows against one block of block_n keys
//===----------------------------------------------------------------------===//

class Flash_TileOp<string mnemonic, list<Trait> traits = []>
    : Flash_Op<mnemonic, !listconcat([Pure], traits)> {
  let hasVerifier = 1;
}

def Flash_QKOp : Flash_TileOp<"qk"> {
  let summary = "tile product S = Q·Kᵀ of a query tile and a key tile, accumulated in f32";
  let description = [{
    Multiplies a [block_m, head_dim] query tile by the transpose of a [block_n, head_dim] key tile and
    returns the raw (unscaled) [block_m, block_n] scores in f32. Q and K have the same element type.

    ```mlir
    %s = flash.qk %q, %k : vector<128x64xbf16>, vector<64x64xbf16> -> vector<128x64xf32>
    ```
  }];
  let arguments = (ins Flash_Vector<"query tile">:$query, Flash_Vector<"key tile">:$key);
  let results = (outs Flash_Vector<"scores">:$scores);
  let builders = [OpBuilder<(ins "::mlir::Value":$query, "::mlir::Value":$key), [{
    auto q = ::llvm::cast<::mlir::VectorType>(query.getType());
    auto k = ::llvm::cast<::mlir::VectorType>(key.getType());
    build($_builder, $_state, ::mlir::VectorType::get({q.getDimSize(0), k.getDimSize(0)},
                                                      $_builder.getF32Type()), query, key);
  }]>];
  let assemblyFormat = [{
    $query `,` $key attr-dict `:` type($query) `,` type($key) `->` type($scores)
  }];
}

def Flash_MmaOp : Flash_TileOp<"mma", [AllTypesMatch<["accumulator", "result"]>]> {
  let summary = "tile product: result = accumulator + op(A)·op(B), op(X) = X or Xᵀ, in f32";
  let description = [{
    The tile-level product every attention kernel is made of. op(A) is [M, K] and op(B) is [K, N]:
    `transposed` after an operand means the tile holds its transpose (A as [K, M], B as [N, K]). A and
    B have the same element type; the accumulator is [M, N] in f32. `flash.qk` and `flash.pv` are its
    named forms (S = Q·Kᵀ: B transposed from zero; O += P·V); the backward's products are others:

    ```mlir
    %s  = flash.mma %q, %k transposed, %zero : vector<64x128xbf16>, vector<64x128xbf16>, vector<64x64xf32>
    %dv = flash.mma %p transposed, %do, %dv0 : vector<64x64xbf16>, vector<64x128xbf16>, vector<64x128xf32>
    ```

    `layouts` (set by flash-distribute, `#flash.layouts`) says where each operand lies on the GPU; the
    lowering reads its instructions from it.
  }];
  let arguments = (ins
    Flash_Vector<"A operand">:$a,
    UnitAttr:$transpose_a,
    Flash_Vector<"B operand">:$b,
    UnitAttr:$transpose_b,
    Flash_Vector<"accumulator">:$accumulator,
    OptionalAttr<Flash_OperandLayoutsAttr>:$layouts
  );
  let results = (outs Flash_Vector<"new accumulator">:$result);
  let builders = [OpBuilder<(ins "::mlir::Value":$a, "bool":$transpose_a, "::mlir::Value":$b,
      "bool":$transpose_b, "::mlir::Value":$accumulator), [{
    build($_builder, $_state, accumulator.getType(), a, transpose_a, b, transpose_b, accumulator,
          ::flashjit::flash::OperandLayoutsAttr());
  }]>];
  let assemblyFormat = [{
    $a (`transposed` $transpose_a^)? `,` $b (`transposed` $transpose_b^)? `,` $accumulator
    (`layouts` $layouts^)? attr-dict `:` type($a) `,` type($b) `,` type($accumulator)
  }];
  let extraClassDeclaration = [{
    /// The product's sizes: op(A) is [M, K], op(B) is [K, N].
    int64_t getM() { return getA().getType().getDimSize(getTransposeA() ? 1 : 0); }
    int64_t getK() { return getA().getType().getDimSize(getTransposeA() ? 0 : 1); }
    int64_t getN() { return getB().getType().getDimSize(getTransposeB() ? 0 : 1); }
  }];
}

def Flash_MaskOp : Flash_TileOp<"mask", [AllTypesMatch<["scores", "masked"]>]> {
  let summary = "sets the scores of hidden keys to −inf: keys past seqlen_k and those the mask hides";
  let description = [{
    Element (r, c) of the tile is the score of query i = query_offset + r against key
    j = key_offset + c. It becomes −inf when j ≥ seqlen_k (a tail past the keys), or when the mask
    (`#flash.mask`) hides key j from query i: under `causal(...)` when j > i + d, with d = 0 for
    `top_left` and d = seqlen_k − seqlen_q for `bottom_right`.

    ```mlir
    %m = flash.mask %s at [%q0, %k0] seqlens [%sq, %sk] causal(bottom_right) : vector<128x64xf32>
    ```
  }];
  let arguments = (ins
    Flash_Vector<"scores">:$scores,
    Index:$query_offset, Index:$key_offset, Index:$seqlen_q, Index:$seqlen_k,
    OptionalAttr<Flash_MaskAttr>:$mask
  );
  let results = (outs Flash_Vector<"masked scores">:$masked);
  let builders = [OpBuilder<(ins "::mlir::Value":$scores, "::mlir::Value":$query_offset,
      "::mlir::Value":$key_offset, "::mlir::Value":$seqlen_q, "::mlir::Value":$seqlen_k,
      "::flashjit::flash::MaskAttr":$mask), [{
    build($_builder, $_state, scores.getType(), scores, query_offset, key_offset, seqlen_q, seqlen_k,
          mask);
  }]>];
  let assemblyFormat = [{
    $scores `at` ` ` `[` $query_offset `,` $key_offset `]` `seqlens` ` ` `[` $seqlen_q `,` $seqlen_k `]`
    `` custom<Mask>($mask) attr-dict `:` type($scores)
  }];
}

def Flash_RowMaxOp : Flash_TileOp<"row_max", [AllTypesMatch<["running_max", "new_max"]>]> {
  let summary = "running row maximum of raw scores: max(running_max, max over the tile's columns)";
  let description = [{
    The first pass of the two-pass softmax: walks the key blocks to find each query row's largest raw
    score. Start it from −inf.

    ```mlir
    %m1 = flash.row_max %s, %m0 : vector<128x64xf32>, vector<128xf32>
    ```
  }];
  let arguments = (ins Flash_Vector<"scores">:$scores, Flash_Vector<"running max">:$running_max);
  let results = (outs Flash_Vector<"new running max">:$new_max);
  let builders = [OpBuilder<(ins "::mlir::Value":$scores, "::mlir::Value":$running_max), [{
    build($_builder, $_state, running_max.getType(), scores, running_max);
  }]>];
  let assemblyFormat = [{
    $scores `,` $running_max attr-dict `:` type($scores) `,` type($running_max)
  }];
}

def Flash_ExpScoresOp : Flash_TileOp<"exp_scores", [
    AllTypesMatch<["scores", "probs"]>,
    AllTypesMatch<["row_max", "running_sum", "new_sum"]>]> {
  let summary = "softmax numerators against a fixed row max: P = exp2((S − m)·scale·log2 e), l += Σ P";
  let description = [{
    The second pass of the two-pass softmax, where `row_max` is already each row's final maximum:
    probs[r, c] = exp2((scores[r, c] − m[r]) · scale · log2(e)), new_sum = running_sum + Σ_c probs[r, c].
    A row whose maximum is −inf (it sees no key) is exponentiated against 0 instead, so its probabilities
    are exactly 0 and never NaN.

    ```mlir
    %p, %l1 = flash.exp_scores %s, %m, %l0 scale %scale : vector<128x64xf32>, vector<128xf32>
    ```
  }];
  let arguments = (ins
    Flash_Vector<"scores">:$scores,
    Flash_Vector<"row max">:$row_max,
    Flash_Vector<"running sum">:$running_sum,
    F32:$scale
  );
  let results = (outs Flash_Vector<"probabilities">:$probs, Flash_Vector<"new running sum">:$new_sum);
  let builders = [OpBuilder<(ins "::mlir::Value":$scores, "::mlir::Value":$row_max,
      "::mlir::Value":$running_sum, "::mlir::Value":$scale), [{
    build($_builder, $_state, scores.getType(), running_sum.getType(), scores, row_max, running_sum,
          scale);
  }]>];
  let assemblyFormat = [{
    $scores `,` $row_max `,` $running_sum `scale` $scale attr-dict `:` type($scores) `,` type($row_max)
  }];
}

def Flash_OnlineSoftmaxOp : Flash_TileOp<"online_softmax", [
    AllTypesMatch<["scores", "probs"]>,
    AllTypesMatch<["running_max", "running_sum", "new_max", "new_sum", "correction"]>]> {
  let summary = "online-softmax update: new running max and sum, the tile's P, and the rescale factor";
  let description = [{
    One step of FlashAttention's online softmax, with m̂ = new_max, or 0 where new_max is −inf:

      new_max    = max(running_max, max_c scores[r, c])
      correction = exp2((running_max − m̂) · scale · log2 e)     (0 while the row has seen no key)
      probs      = exp2((scores − m̂) · scale · log2 e)
      new_sum    = running_sum · correction + Σ_c probs

    The output accumulator must be multiplied by `correction` (`flash.rescale`) before this tile's P·V
    is added. Start from running_max = −inf and running_sum = 0.

    ```mlir
    %p, %m1, %l1, %alpha = flash.online_softmax %s, %m0, %l0 scale %scale
        : vector<128x64xf32>, vector<128xf32>
    ```
  }];
  let arguments = (ins
    Flash_Vector<"scores">:$scores,
    Flash_Vector<"running max">:$running_max,
    Flash_Vector<"running sum">:$running_sum,
    F32:$scale
  );
  let results = (outs
    Flash_Vector<"probabilities">:$probs,
    Flash_Vector<"new running max">:$new_max,
    Flash_Vector<"new running sum">:$new_sum,
    Flash_Vector<"rescale factor">:$correction
  );
  let builders = [OpBuilder<(ins "::mlir::Value":$scores, "::mlir::Value":$running_max,
      "::mlir::Value":$running_sum, "::mlir::Value":$scale), [{
    ::mlir::Type rows = running_max.getType();
    build($_builder, $_state, scores.getType(), rows, rows, rows, scores, running_max, running_sum, scale);
  }]>];
  let assemblyFormat = [{
    $scores `,` $running_max `,` $running_sum `scale` $scale attr-dict
    `:` type($scores) `,` type($running_max)
  }];
}

def Flash_RescaleOp : Flash_TileOp<"rescale", [AllTypesMatch<["accumulator", "rescaled"]>]> {
  let summary = "multiplies each row of the output accumulator by its rescale factor";
  let description = [{
    rescaled[r, :] = accumulator[r, :] · correction[r], where `correction` comes from
    `flash.online_softmax`.

    ```mlir
    %acc1 = flash.rescale %acc by %alpha : vector<128x64xf32>, vector<128xf32>
    ```
  }];
  let arguments = (ins Flash_Vector<"accumulator">:$accumulator, Flash_Vector<"rescale factor">:$correction);
  let results = (outs Flash_Vector<"rescaled accumulator">:$rescaled);
  let builders = [OpBuilder<(ins "::mlir::Value":$accumulator, "::mlir::Value":$correction), [{
    build($_builder, $_state, accumulator.getType(), accumulator, correction);
  }]>];
  let assemblyFormat = [{
    $accumulator `by` $correction attr-dict `:` type($accumulator) `,` type($correction)
  }];
}

def Flash_PVOp : Flash_TileOp<"pv", [AllTypesMatch<["accumulator", "result"]>]> {
  let summary = "tile product accumulate: result = accumulator + P·V, in f32";
  let description = [{
    Multiplies a [block_m, block_n] probability tile by a [block_n, head_dim] value tile and adds the
    product to the f32 accumulator. P and V have the same element type: convert P (f32 from the softmax
    ops) to V's type with `arith.truncf` first, as the tensor cores will.

    ```mlir
    %acc1 = flash.pv %p, %v, %acc : vector<128x64xbf16>, vector<64x64xbf16>, vector<128x64xf32>
    ```
  }];
  let arguments = (ins
    Flash_Vector<"probabilities">:$probs,
    Flash_Vector<"value tile">:$value,
    Flash_Vector<"accumulator">:$accumulator
  );
  let results = (outs Flash_Vector<"new accumulator">:$result);
  let builders = [OpBuilder<(ins "::mlir::Value":$probs, "::mlir::Value":$value,
      "::mlir::Value":$accumulator), [{
    build($_builder, $_state, accumulator.getType(), probs, value, accumulator);
  }]>];
  let assemblyFormat = [{
    $probs `,` $value `,` $accumulator attr-dict `:` type($probs) `,` type($value) `,` type($accumulator)
  }];
}

def Flash_NormalizeOp : Flash_TileOp<"normalize", [
    AllTypesMatch<["accumulator", "output"]>,
    AllTypesMatch<["row_max", "row_sum", "logsumexp"]>]> {
  let summary = "final normalisation: O = acc / l and logsumexp = m·scale + ln l (0 and −inf if l = 0)";
  let description = [{
    Ends the key loop: divides each accumulator row by its softmax sum and computes the row's logsumexp
    in natural-log units of the scaled scores. A row with sum 0 (it saw no key) gives output 0 and
    logsumexp −inf, never NaN.

    ```mlir
    %o, %lse = flash.normalize %acc, %m, %l scale %scale : vector<128x64xf32>, vector<128xf32>
    ```
  }];
  let arguments = (ins
    Flash_Vector<"accumulator">:$accumulator,
    Flash_Vector<"row max">:$row_max,
    Flash_Vector<"row sum">:$row_sum,
    F32:$scale
  );
  let results = (outs Flash_Vector<"output tile">:$output, Flash_Vector<"logsumexp">:$logsumexp);
  let builders = [OpBuilder<(ins "::mlir::Value":$accumulator, "::mlir::Value":$row_max,
      "::mlir::Value":$row_sum, "::mlir::Value":$scale), [{
    build($_builder, $_state, accumulator.getType(), row_max.getType(), accumulator, row_max, row_sum,
          scale);
  }]>];
  let assemblyFormat = [{
    $accumulator `,` $row_max `,` $row_sum `scale` $scale attr-dict
    `:` type($accumulator) `,` type($row_max)
  }];
}

def Flash_AtomicAddOp : Flash_Op<"atomic_add"> {
  let summary = "adds an f32 tile into memory, atomically with respect to other thread blocks";
  let description = [{
    destination[indices + (i, j)] += value[i, j] for each element whose position lies inside the
    destination (the tile's innermost dimensions are the destination's; rows past its end are skipped),
    each addition atomic: thread blocks that add into the same elements (the backward's dQ, summed over
    key blocks) need no other synchronisation, and the order of their additions is unspecified.

    ```mlir
    flash.atomic_add %dq_block, %dq[%row, %c0] : vector<64x128xf32>, memref<1024x128xf32>
    ```
  }];
  let arguments = (ins Flash_Vector<"tile">:$value,
                       Arg<Flash_MemRef<"destination">, "", [MemRead, MemWrite]>:$destination,
                       Variadic<Index>:$indices);
  let assemblyFormat = [{
    $value `,` $destination `[` $indices `]` attr-dict `:` type($value) `,` type($destination)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Schedule level: how thread blocks walk the tiles
//===----------------------------------------------------------------------===//

def Flash_TileLoopOp : Flash_Op<"tile_loop", [SingleBlock, NoTerminator, RecursiveMemoryEffects]> {
  let summary = "the kernel's (query block, head, batch) tiles, and how thread blocks walk them";
  let description = [{
    Runs its body once for each tile (query block, head, batch) below the bounds, its block arguments
    the tile's indices, in any order (each tile is independent). `schedule` says how the GPU walks them:
    `one_per_block` (a thread block per tile, query blocks fastest, the last query block first),
    `persistent` (at most one block per multiprocessor, looping over pairs of query blocks and then a
    tail of tiles one by one: `dialects/PersistentTiles.h`) or `split_tail` (persistent, round robin,
    the last partial wave's tiles split along their keys over every block and combined by the last:
    `dialects/SplitTailTiles.h`). The host computes the same schedule for the launch from the same
    formulas. Made by `flash-schedule-tiles` from the tiled kernel's `scf.parallel`.

    ```mlir
    flash.tile_loop (%qb, %h, %b) in (%query_blocks, %heads, %batch) schedule(persistent) {
      ...
    }
    ```
  }];
  let arguments = (ins Index:$query_blocks, Index:$heads, Index:$batch, Flash_TileSchedule:$schedule);
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The tile's (query block, head, batch) indices inside the body.
    ::mlir::Block::BlockArgListType getTileIndices() { return getBody().front().getArguments(); }
  }];
}

def Flash_StreamOp : Flash_Op<"stream"> {
  let summary = "operands that the key loops read block by block through a ring of shared-memory slots";
  let description = [{
    Says how the tile's key loops get the blocks they read of `sources` (K and V in the forward): each
    block goes through a ring of `stages` slots in shared memory, loaded ahead of its use by `load`:
    every computing thread with `cp_async`, one computing thread with TMA (`tma`), or a producer
    warpgroup of its own with TMA while the computing warpgroups only wait (`tma_producer`, FlashAttention-3's
    warp specialisation). The key loops read the blocks with `flash.stream_get` and say where the next
    blocks may start loading with `flash.stream_prefetch`; this op is the ring they share, which the GPU
    lowering builds. Made by `flash-assign-streams`; no-op in the interpreter.

    ```mlir
    flash.stream %k, %v stages(2) load(cp_async) : memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>
    ```
  }];
  let arguments = (ins Variadic<AnyMemRef>:$sources, ConfinedAttr<I64Attr, [IntMinValue<1>]>:$stages,
                       Flash_StreamLoad:$load);
  let assemblyFormat = [{
    $sources `stages` `(` $stages `)` `load` `(` $load `)` attr-dict `:` type($sources)
  }];
  let hasVerifier = 1;
}

def Flash_WarpSpecializeOp : Flash_Op<"warp_specialize"> {
  let summary = "which warps load the tile loop's blocks and which compute on them, and their registers";
  let description = [{
    Splits the thread block of the enclosing `flash.tile_loop` by role (FlashAttention-3's warp
    specialisation): `consumers` warpgroups (4 warps each, the first threads) compute, and one producer
    warpgroup after them issues every load of the tile loop's `flash.stream` (which then loads with
    `tma_producer`) and waits for nothing else. Registers are moved between them (setmaxnreg): the producer
    keeps `registers` per thread, each consumer thread gets its `registers`; together at most 64K per
    block. `turns(round_robin)`: the consumers take turns to issue their products, round robin
    (ping-pong), so that one's softmax runs under another's products; `turns(free)`: each issues when
    ready. Made by `flash-specialize-warps`; no-op in the interpreter.

    ```mlir
    flash.warp_specialize producer(registers = 24) consumers(warpgroups = 2, registers = 240) turns(round_robin)
    ```
  }];
  let arguments = (ins I64Attr:$consumers,
                       I64Attr:$producer_registers, I64Attr:$consumer_registers, Flash_WarpTurns:$turns);
  let assemblyFormat = [{
    `producer` `(` `registers` `=` $producer_registers `)`
    `consumers` `(` `warpgroups` `=` $consumers `,` `registers` `=` $consumer_registers `)`
    `turns` `(` $turns `)` attr-dict
  }];
  let hasVerifier = 1;
}

def Flash_StreamGetOp : Flash_Op<"stream_get"> {
  let summary = "a block of a streamed operand, read from its slot in the stream's ring";
  let description = [{
    The rows of `source` from `indices` on (the last index is the block's first row; the innermost
    dimension is read whole) as a [rows, columns] tile; rows past the source's end read as zeros. The
    enclosing `flash.tile_loop`'s `flash.stream` must list `source`: on the GPU the block is taken from the
    shared-memory slot the stream loaded it into, after waiting for that load (and with TMA, made
    visible to wgmma); in the interpreter it is a plain read. Made by `flash-assign-streams` from the key
    loops' `vector.transfer_read`s.

    ```mlir
    %kt = flash.stream_get %k[%b, %h, %j] : memref<?x?x?x64xbf16> -> vector<128x64xbf16>
    ```
  }];
  let arguments = (ins Arg<Flash_MemRef<"streamed operand">, "", [MemRead]>:$source, Variadic<Index>:$indices);
  let results = (outs Flash_Vector<"block">:$block);
  let assemblyFormat = [{
    $source `[` $indices `]` attr-dict `:` type($source) `->` type($block)
  }];
  let hasVerifier = 1;
}

def Flash_StreamPrefetchOp : Flash_Op<"stream_prefetch"> {
  let summary = "where the stream's blocks at a row may start loading into their slot";
  let description = [{
    From here on the enclosing `flash.tile_loop`'s `flash.stream` may load its sources' blocks that start
    at row `start` into their slot of the ring (blocks past the keys a tile reads are not loaded). A key
    loop that reads block j places it where the slot of block j + stages − 1 is free and the load best
    overlaps the work that follows: after block j's Q·Kᵀ (after its mask branch, if any), or with
    pipelined products after the previous block's P·V retires, before P is converted. Absent where a
    producer warpgroup loads every block (`load(tma_producer)`). Made by `flash-assign-streams`; no-op
    in the interpreter.

    ```mlir
    %next = arith.addi %j, %c128 : index
    flash.stream_prefetch %next
    ```
  }];
  let arguments = (ins Index:$start);
  let assemblyFormat = [{ $start attr-dict }];
  let hasVerifier = 1;
}

#endif // FLASHJIT_FLASH_OPS
