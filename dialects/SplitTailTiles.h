// The split tail of a persistent kernel without a causal mask, written once for the kernel and the host.
// Plain C++ (no MLIR): templates over the arithmetic of dialects/PersistentTiles.h, evaluated on int64 by
// the runtime (runtime/SplitTail.h: its plan of the tail, and its tests that every key block runs once)
// and emitted as IR by the GPU lowering (LowerToGPUSplitTail.cpp), so that the two cannot drift apart.
//
// The tiles are alike: T of them (query blocks × heads × batch, numbered slice × query blocks + query
// block) on G blocks, block b taking tiles k G + b in round robin. The last R tiles (the tail, 0 for none)
// are dealt by key blocks instead: their L = R × nkb key blocks (nkb a tile) are cut into G runs, block b
// taking [b L / G, (b + 1) L / G), tail tile by tail tile. Block b's tiles: its whole tiles k G + b < F
// (F = T − R, a multiple of G where R > 0), then its pieces, one per tail tile its run touches. The blocks
// that share a tail tile each leave a part, numbered from the block whose run holds its first key block.
//
// The lowering emits each formula's operations in the order written here (one nested call per argument
// list at most, or named steps), so that the kernel's IR does not depend on the order in which a compiler
// evaluates arguments.
#pragma once

#include "dialects/PersistentTiles.h"

namespace flashjit::tiles {

template <class A> class SplitTailTiles {
public:
  using V = typename A::Value;

  explicit SplitTailTiles(A &a) : a(a) {}

  /// The blocks of `blockSize` that cover `length` (key blocks per tile: seqlen_k over block_n; query blocks
  /// per slice: seqlen_q over block_m).
  V blocksOf(V length, V blockSize) { return a.ceilDivU(length, blockSize); }

  /// F: the tiles before the tail, of the queryBlocks × heads × batch tiles.
  V tilesBeforeTail(V queryBlocks, V heads, V batch, V tail) {
    return a.sub(a.mul(queryBlocks, a.mul(heads, batch)), tail);
  }

  /// L: the tail's key blocks, `keyBlocks` a tile.
  V tailKeyBlocks(V tail, V keyBlocks) { return a.mul(tail, keyBlocks); }

  /// Where block `block`'s run of the tail's key blocks starts: b L / G.
  V runStart(V block, V blocks, V tailKeyBlocks) { return a.divU(a.mul(block, tailKeyBlocks), blocks); }
  /// Where it ends: where block b + 1's starts.
  V runEnd(V block, V blocks, V tailKeyBlocks) {
    return runStart(a.add(block, a.constant(1)), blocks, tailKeyBlocks);
  }

  /// Block `block`'s whole tiles k G + block < F: (F + G − 1 − block) / G (F / G with a tail, which
  /// keeps F a multiple of G; without one, F = T and the first T mod G blocks take one more).
  V wholeTilesOfBlock(V tilesBeforeTail, V block, V blocks) {
    V lastBlock = a.sub(blocks, a.constant(1));
    return a.divU(a.sub(a.add(tilesBeforeTail, lastBlock), block), blocks);
  }

  /// The tail tiles the run [first, end) of key blocks touches (its pieces): none where it is empty.
  V piecesOfRun(V first, V end, V keyBlocks) {
    V before = a.divU(first, keyBlocks);
    V through = a.ceilDivU(end, keyBlocks);
    V touched = a.sub(through, before);
    V any = a.ugt(end, first);
    return a.select(any, touched, a.constant(0));
  }

  /// A block's tiles: its whole ones, then its pieces.
  V tilesOfBlock(V wholeTiles, V pieces) { return a.add(wholeTiles, pieces); }

  /// Whether a block's k-th tile is a piece of the tail (k past its whole tiles).
  V isPiece(V k, V wholeTiles) { return a.uge(k, wholeTiles); }
  /// Which of the block's pieces its k-th tile is (a piece).
  V pieceOf(V k, V wholeTiles) { return a.sub(k, wholeTiles); }
  /// The tail tile of piece `piece` of the run starting at key block `first`: the run's first tail tile
  /// + piece.
  V tailTileOfPiece(V piece, V first, V keyBlocks) { return a.add(a.divU(first, keyBlocks), piece); }

  /// The tile (slice × query blocks + query block) of tail tile `tailTile`: F + tailTile.
  V tileOfTailTile(V tilesBeforeTail, V tailTile) { return a.add(tilesBeforeTail, tailTile); }
  /// The tile of block `block`'s k-th, a whole one: k G + block.
  V wholeTile(V k, V block, V blocks) { return a.add(a.mul(k, blocks), block); }

  struct KeyBlocks {
    V first, end; ///< [first, end) within the tile
  };

  /// The key blocks of tail tile `tailTile` that the run [first, end) holds.
  KeyBlocks pieceKeyBlocks(V tailTile, V first, V end, V keyBlocks) {
    V tileStart = a.mul(tailTile, keyBlocks);
    KeyBlocks range;
    range.first = a.sub(a.maxU(first, tileStart), tileStart);
    range.end = a.sub(a.minU(end, a.add(tileStart, keyBlocks)), tileStart);
    return range;
  }

  struct Parts {
    V firstBlock, lastBlock; ///< the blocks whose runs hold the tile's first and last key blocks
    V part;                  ///< block `block`'s part: block − firstBlock
    V parts;                 ///< lastBlock − firstBlock + 1
    V shared;                ///< more than one part: the blocks exchange them, the last to finish combines
  };

  /// The parts of tail tile `tailTile`: the blocks whose runs hold its key blocks x = tailTile × nkb and
  /// x + nkb − 1, the last block whose run starts at or before key block y being ceil((y + 1) G / L) − 1
  /// (block b's run starts at floor(b L / G)); and block `block`'s part of it.
  Parts partsOfTailTile(V tailTile, V block, V blocks, V keyBlocks, V tailKeyBlocks) {
    V x = a.mul(tailTile, keyBlocks);
    V one = a.constant(1);
    auto lastBlockStartingBefore = [&](V keyBlockEnd) {
      return a.sub(a.ceilDivU(a.mul(keyBlockEnd, blocks), tailKeyBlocks), one);
    };
    Parts p;
    p.firstBlock = lastBlockStartingBefore(a.add(x, one));
    p.lastBlock = lastBlockStartingBefore(a.add(x, keyBlocks));
    p.part = a.sub(block, p.firstBlock);
    p.parts = a.add(a.sub(p.lastBlock, p.firstBlock), one);
    p.shared = a.ugt(p.parts, one);
    return p;
  }

private:
  A &a;
};

} // namespace flashjit::tiles
