// Verifiers of the flash ops. Each diagnostic names the operand by its role and says what is allowed.
#include "dialects/FlashDialect.h"
#include "dialects/KernelConfigRules.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace flashjit::flash;

/// ` causal(top_left)`, ` causal(bottom_right)` (a causal mask) or ` window(bottom_right, left = 128,
/// right = 0)` (any other); nothing without a mask. The printer writes its own leading space so that no
/// mask leaves no double space behind.
static ParseResult parseMask(OpAsmParser &parser, MaskAttr &attr) {
  bool causal = succeeded(parser.parseOptionalKeyword("causal"));
  if (!causal && failed(parser.parseOptionalKeyword("window")))
    return success();
  StringRef keyword;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseLParen() || parser.parseKeyword(&keyword))
    return failure();
  std::optional<MaskAlignment> alignment = symbolizeMaskAlignment(keyword);
  if (!alignment)
    return parser.emitError(loc) << "unknown mask alignment '" << keyword
                                 << "'; expected top_left or bottom_right";
  flashjit::mask::Mask mask = flashjit::mask::Mask::causal(flashjit::mask::Alignment(*alignment));
  if (!causal && (parser.parseComma() || parser.parseKeyword("left") || parser.parseEqual() ||
                  parser.parseInteger(mask.left) || parser.parseComma() || parser.parseKeyword("right") ||
                  parser.parseEqual() || parser.parseInteger(mask.right)))
    return failure();
  if (parser.parseRParen())
    return failure();
  attr = MaskAttr::getChecked([&] { return parser.emitError(loc); }, parser.getContext(), *alignment, mask.left,
                              mask.right);
  return success(bool(attr));
}

static void printMask(OpAsmPrinter &printer, Operation *, MaskAttr attr) {
  if (!attr)
    return;
  flashjit::mask::Mask mask = attr.getMask();
  printer << (mask.isCausal() ? " causal(" : " window(") << stringifyMaskAlignment(attr.getAlignment());
  if (!mask.isCausal())
    printer << ", left = " << mask.left << ", right = " << mask.right;
  printer << ")";
}

#define GET_OP_CLASSES
#include "dialects/FlashOps.cpp.inc"

namespace {

/// Element types a tile may hold: f16/bf16 feed the tensor cores; f32 is for the CPU interpreter.
enum class Elements { F16BF16OrF32, F32 };

bool isAllowed(Type element, Elements allowed) {
  if (allowed == Elements::F32)
    return element.isF32();
  return element.isF16() || element.isBF16() || element.isF32();
}

const char *describe(Elements allowed) {
  return allowed == Elements::F32 ? "f32" : "f16, bf16 or f32";
}

/// A fixed-size vector of `rank` dimensions with allowed elements.
LogicalResult checkTile(Operation *op, StringRef role, VectorType type, int64_t rank,
                        Elements allowed) {
  if (type.getRank() != rank || type.isScalable() || !isAllowed(type.getElementType(), allowed))
    return op->emitOpError() << role << " must be a fixed-size " << rank << "-D vector of "
                             << describe(allowed) << ", got " << type;
  return success();
}

/// A per-row vector: 1-D f32 with one element per query row of the tile.
LogicalResult checkRowVector(Operation *op, StringRef role, VectorType type, int64_t rows) {
  if (type.getRank() != 1 || type.isScalable() || !type.getElementType().isF32() ||
      type.getDimSize(0) != rows)
    return op->emitOpError() << role << " must be vector<" << rows
                             << "xf32>, one f32 per query row of the tile, got " << type;
  return success();
}

/// A [rows, cols] score-like tile in f32 plus its per-row vector: the shape every softmax op shares.
LogicalResult checkScoresAndRows(Operation *op, StringRef tileRole, VectorType tile, StringRef rowRole,
                                 VectorType rowVector) {
  if (failed(checkTile(op, tileRole, tile, 2, Elements::F32)))
    return failure();
  return checkRowVector(op, rowRole, rowVector, tile.getDimSize(0));
}

} // namespace

//===----------------------------------------------------------------------===//
// flash.attention
//===----------------------------------------------------------------------===//

namespace {

bool conflicting(int64_t a, int64_t b) {
  return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
}

std::string dimString(int64_t size) {
  return ShapedType::isDynamic(size) ? "?" : std::to_string(size);
}

/// One [batch, heads, seqlen, head_dim] operand: rank, element type, static head_dim, contiguous rows.
LogicalResult checkProblemOperand(Operation *op, StringRef role, MemRefType type, Type element) {
  if (type.getRank() != 4)
    return op->emitOpError() << role << " must be a rank-4 memref [batch, heads, seqlen, head_dim], got "
                             << type;
  if (type.getElementType() != element)
    return op->emitOpError() << role << " element type " << type.getElementType()
                             << " differs from the query's " << element
                             << "; Q, K, V and O must have the same element type";
  if (ShapedType::isDynamic(type.getShape().back()))
    return op->emitOpError() << role << " head_dim (innermost size) must be static, got " << type;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return op->emitOpError() << role << " must have a strided layout, got " << type;
  if (strides.back() != 1)
    return op->emitOpError() << role << " head_dim must be contiguous (innermost stride 1), got stride "
                             << dimString(strides.back());
  return success();
}

} // namespace

LogicalResult AttentionOp::verify() {
  MemRefType query = getQuery().getType();
  if (query.getRank() != 4)
    return emitOpError() << "query must be a rank-4 memref [batch, heads, seqlen, head_dim], got "
                         << query;
  Type element = query.getElementType();
  if (!element.isF16() && !element.isBF16() && !element.isF32())
    return emitOpError() << "query element type must be f16, bf16 or f32, got " << element;
  if (failed(checkProblemOperand(*this, "query", query, element)) ||
      failed(checkProblemOperand(*this, "key", getKey().getType(), element)) ||
      failed(checkProblemOperand(*this, "value", getValue().getType(), element)) ||
      failed(checkProblemOperand(*this, "output", getOutput().getType(), element)))
    return failure();

  std::string headDimProblem = flashjit::headDimError(getHeadDim());
  if (!headDimProblem.empty())
    return emitOpError() << headDimProblem;

  ArrayRef<int64_t> q = query.getShape();
  ArrayRef<int64_t> k = getKey().getType().getShape();
  ArrayRef<int64_t> v = getValue().getType().getShape();
  ArrayRef<int64_t> o = getOutput().getType().getShape();
  static const char *const dimNames[] = {"batch", "heads", "seqlen", "head_dim"};
  for (int d = 0; d < 4; ++d) {
    if (conflicting(k[d], v[d]))
      return emitOpError() << "key and value must have the same shape, but their " << dimNames[d]
                           << " sizes are " << k[d] << " and " << v[d];
    if (conflicting(q[d], o[d]))
      return emitOpError() << "query and output must have the same shape, but their " << dimNames[d]
                           << " sizes are " << q[d] << " and " << o[d];
  }
  if (conflicting(q[0], k[0]))
    return emitOpError() << "query has batch " << q[0] << " but key/value have batch " << k[0]
                         << "; they must match";
  if (q[3] != k[3])
    return emitOpError() << "query has head_dim " << q[3] << " but key/value have head_dim " << k[3]
                         << "; they must match";
  if (!ShapedType::isDynamic(q[1]) && !ShapedType::isDynamic(k[1]) && (k[1] == 0 || q[1] % k[1] != 0))
    return emitOpError() << "query has " << q[1] << " heads and key/value " << k[1]
                         << "; the key/value head count must divide the query's";

  if (Value lse = getLogsumexp()) {
    auto lseType = cast<MemRefType>(lse.getType());
    if (lseType.getRank() != 3 || !lseType.getElementType().isF32())
      return emitOpError() << "logsumexp must be a rank-3 memref of f32 [batch, heads, seqlen_q], got "
                           << lseType;
    for (int d = 0; d < 3; ++d)
      if (conflicting(lseType.getDimSize(d), q[d]))
        return emitOpError() << "logsumexp " << dimNames[d] << " size " << lseType.getDimSize(d)
                             << " differs from the query's " << q[d];
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Tile ops
//===----------------------------------------------------------------------===//

LogicalResult QKOp::verify() {
  VectorType query = getQuery().getType(), key = getKey().getType(), scores = getScores().getType();
  if (failed(checkTile(*this, "query tile", query, 2, Elements::F16BF16OrF32)) ||
      failed(checkTile(*this, "key tile", key, 2, Elements::F16BF16OrF32)))
    return failure();
  if (key.getElementType() != query.getElementType())
    return emitOpError() << "key tile element type " << key.getElementType()
                         << " differs from the query tile's " << query.getElementType()
                         << "; Q and K must have the same element type";
  if (key.getDimSize(1) != query.getDimSize(1))
    return emitOpError() << "query tile has head_dim " << query.getDimSize(1) << " but key tile has "
                         << key.getDimSize(1) << "; they must match";
  if (failed(checkTile(*this, "scores", scores, 2, Elements::F32)))
    return failure();
  if (scores.getDimSize(0) != query.getDimSize(0) || scores.getDimSize(1) != key.getDimSize(0))
    return emitOpError() << "scores must be vector<" << query.getDimSize(0) << "x" << key.getDimSize(0)
                         << "xf32> (query rows x key rows), got " << scores;
  return success();
}

LogicalResult MmaOp::verify() {
  VectorType a = getA().getType(), bTile = getB().getType(), accumulator = getAccumulator().getType();
  if (failed(checkTile(*this, "A operand", a, 2, Elements::F16BF16OrF32)) ||
      failed(checkTile(*this, "B operand", bTile, 2, Elements::F16BF16OrF32)))
    return failure();
  if (bTile.getElementType() != a.getElementType())
    return emitOpError() << "B operand element type " << bTile.getElementType() << " differs from the A operand's "
                         << a.getElementType() << "; A and B must have the same element type";
  const int64_t bRows = bTile.getDimSize(getTransposeB() ? 1 : 0);
  if (getK() != bRows)
    return emitOpError() << "A operand gives K = " << getK() << " but B operand gives K = " << bRows
                         << " (A is [M, K], B is [K, N]; `transposed` holds the transpose); they must match";
  if (failed(checkTile(*this, "accumulator", accumulator, 2, Elements::F32)))
    return failure();
  if (accumulator.getDimSize(0) != getM() || accumulator.getDimSize(1) != getN())
    return emitOpError() << "accumulator must be vector<" << getM() << "x" << getN() << "xf32> (M x N), got "
                         << accumulator;
  if (OperandLayoutsAttr layouts = getLayoutsAttr();
      layouts && layouts.getA() == OperandLayout::accumulator && getTransposeA())
    return emitOpError() << "an A operand in accumulator registers is read as it lies, not transposed; "
                            "stage it in shared memory (shared_mn_major)";
  return success();
}

LogicalResult MaskOp::verify() {
  return checkTile(*this, "scores", getScores().getType(), 2, Elements::F32);
}

LogicalResult RowMaxOp::verify() {
  return checkScoresAndRows(*this, "scores", getScores().getType(), "running max",
                            getRunningMax().getType());
}

LogicalResult ExpScoresOp::verify() {
  return checkScoresAndRows(*this, "scores", getScores().getType(), "row max", getRowMax().getType());
}

LogicalResult OnlineSoftmaxOp::verify() {
  return checkScoresAndRows(*this, "scores", getScores().getType(), "running max",
                            getRunningMax().getType());
}

LogicalResult RescaleOp::verify() {
  return checkScoresAndRows(*this, "accumulator", getAccumulator().getType(), "rescale factor",
                            getCorrection().getType());
}

LogicalResult PVOp::verify() {
  VectorType probs = getProbs().getType(), value = getValue().getType();
  VectorType accumulator = getAccumulator().getType();
  if (failed(checkTile(*this, "probabilities", probs, 2, Elements::F16BF16OrF32)) ||
      failed(checkTile(*this, "value tile", value, 2, Elements::F16BF16OrF32)))
    return failure();
  if (probs.getElementType() != value.getElementType())
    return emitOpError() << "probabilities element type " << probs.getElementType()
                         << " differs from the value tile's " << value.getElementType()
                         << "; convert P with arith.truncf first";
  if (probs.getDimSize(1) != value.getDimSize(0))
    return emitOpError() << "probabilities have " << probs.getDimSize(1)
                         << " columns but the value tile has " << value.getDimSize(0)
                         << " rows; both are the key block size and must match";
  if (failed(checkTile(*this, "accumulator", accumulator, 2, Elements::F32)))
    return failure();
  if (accumulator.getDimSize(0) != probs.getDimSize(0) ||
      accumulator.getDimSize(1) != value.getDimSize(1))
    return emitOpError() << "accumulator must be vector<" << probs.getDimSize(0) << "x"
                         << value.getDimSize(1) << "xf32> (query rows x head_dim), got " << accumulator;
  return success();
}

LogicalResult NormalizeOp::verify() {
  return checkScoresAndRows(*this, "accumulator", getAccumulator().getType(), "row max",
                            getRowMax().getType());
}

//===----------------------------------------------------------------------===//
// flash.tile_loop
//===----------------------------------------------------------------------===//

// (%qb, %h, %b) in (%query_blocks, %heads, %batch) schedule(persistent) { ... }
ParseResult TileLoopOp::parse(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::Argument> indices;
  SmallVector<OpAsmParser::UnresolvedOperand> bounds;
  StringRef schedule;
  SMLoc scheduleLoc;
  Type index = parser.getBuilder().getIndexType();
  if (parser.parseArgumentList(indices, OpAsmParser::Delimiter::Paren) || parser.parseKeyword("in") ||
      parser.parseOperandList(bounds, OpAsmParser::Delimiter::Paren) ||
      parser.resolveOperands(bounds, index, result.operands) || parser.parseKeyword("schedule") ||
      parser.parseLParen() || (scheduleLoc = parser.getCurrentLocation(), parser.parseKeyword(&schedule)) ||
      parser.parseRParen())
    return failure();
  std::optional<TileSchedule> kind = symbolizeTileSchedule(schedule);
  if (!kind)
    return parser.emitError(scheduleLoc) << "unknown tile schedule '" << schedule
                                         << "'; expected one_per_block, persistent or split_tail";
  result.addAttribute(getScheduleAttrName(result.name), TileScheduleAttr::get(parser.getContext(), *kind));
  for (OpAsmParser::Argument &argument : indices)
    argument.type = index;
  Region *body = result.addRegion();
  if (parser.parseRegion(*body, indices) || parser.parseOptionalAttrDict(result.attributes))
    return failure();
  if (body->empty())
    body->emplaceBlock();
  return success();
}

void TileLoopOp::print(OpAsmPrinter &printer) {
  printer << " (";
  llvm::interleaveComma(getTileIndices(), printer, [&](BlockArgument index) { printer.printOperand(index); });
  printer << ") in (" << getQueryBlocks() << ", " << getHeads() << ", " << getBatch() << ") schedule("
          << stringifyTileSchedule(getSchedule()) << ") ";
  printer.printRegion(getBody(), /*printEntryBlockArgs=*/false);
  printer.printOptionalAttrDict((*this)->getAttrs(), {getScheduleAttrName()});
}

LogicalResult TileLoopOp::verify() {
  Block &body = getBody().front();
  if (body.getNumArguments() != 3 || !llvm::all_of(body.getArgumentTypes(), [](Type t) { return t.isIndex(); }))
    return emitOpError() << "body must take the tile's (query block, head, batch) indices, three of type index";
  return success();
}

LogicalResult StreamOp::verify() {
  if (getSources().empty())
    return emitOpError() << "streams at least one operand";
  return success();
}

/// The flash.stream of the flash.tile_loop around `op` (null if none).
static StreamOp enclosingStream(Operation *op) {
  auto tiles = op->getParentOfType<TileLoopOp>();
  if (!tiles)
    return {};
  auto streams = tiles.getBody().getOps<StreamOp>();
  return streams.empty() ? StreamOp() : *streams.begin();
}

LogicalResult StreamGetOp::verify() {
  MemRefType source = getSource().getType();
  VectorType block = getBlock().getType();
  if (int64_t(getIndices().size()) != source.getRank() - 1)
    return emitOpError() << "takes " << source.getRank() - 1 << " indices for a rank-" << source.getRank()
                         << " source (every dimension but the innermost, read whole); got " << getIndices().size();
  if (block.getRank() != 2 || block.getDimSize(1) != source.getShape().back() ||
      block.getElementType() != source.getElementType())
    return emitOpError() << "block must be a [rows, " << source.getShape().back() << "] tile of the source's "
                         << source.getElementType() << "; got " << block;
  StreamOp stream = enclosingStream(*this);
  if (!stream || !llvm::is_contained(stream.getSources(), getSource()))
    return emitOpError() << "source must be streamed by the flash.stream of the enclosing flash.tile_loop";
  return success();
}

LogicalResult StreamPrefetchOp::verify() {
  if (!enclosingStream(*this))
    return emitOpError() << "must be inside a flash.tile_loop that has a flash.stream";
  return success();
}

LogicalResult WarpSpecializeOp::verify() {
  if (getConsumers() < 1 || getConsumers() > 3)
    return emitOpError() << "consumers must be 1 to 3 computing warpgroups (4 to 12 warps); got " << getConsumers();
  for (int64_t registers : {getProducerRegisters(), getConsumerRegisters()})
    if (registers < 24 || registers > 256 || registers % 8 != 0)
      return emitOpError() << "registers per thread must be a multiple of 8 from 24 to 256 (setmaxnreg); got "
                           << registers;
  const int64_t total = 128 * (getConsumers() * getConsumerRegisters() + getProducerRegisters());
  if (total > 65536)
    return emitOpError() << getConsumers() << " consumer warpgroups of " << getConsumerRegisters()
                         << " registers and a producer of " << getProducerRegisters() << " take " << total
                         << " registers; a thread block has 65536";
  if (!(*this)->getParentOfType<TileLoopOp>())
    return emitOpError() << "must be inside the flash.tile_loop whose warps it splits";
  return success();
}

LogicalResult AtomicAddOp::verify() {
  VectorType value = getValue().getType();
  MemRefType destination = getDestination().getType();
  if (!value.getElementType().isF32() || !destination.getElementType().isF32())
    return emitOpError() << "adds f32 tiles into f32 memory; got " << value << " into " << destination;
  if (value.getRank() > destination.getRank())
    return emitOpError() << "tile of rank " << value.getRank() << " does not fit a rank-" << destination.getRank()
                         << " destination";
  if (int64_t(getIndices().size()) != destination.getRank())
    return emitOpError() << "takes an index per destination dimension (" << destination.getRank() << "); got "
                         << getIndices().size();
  return success();
}
