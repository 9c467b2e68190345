// flash.mma in the CPU interpreter: the backward pass's five products (S = Q·Kᵀ, dP = dO·Vᵀ, dV = Pᵀ·dO,
// dK = dSᵀ·Q, dQ = dS·K) as a tile function, with M queries and N keys of different sizes so that a
// transposition read the wrong way round cannot pass, against a float64 reference that rounds P and dS to
// the dtype as the IR does (arith.truncf). The same function is lowered to the GPU in
// tests/lit/compiler/lower-products-to-gpu.mlir and checked there by tests/gpu/products/.
#include "compiler/Pipeline.h"
#include "dialects/Rounding.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace flashjit {
namespace {

/// The products over [m] queries and [n] keys at head_dim d, elements `type` (bf16, f16 or f32).
std::string productsIR(int64_t m, int64_t n, int64_t d, const std::string &type) {
  auto tile = [&](int64_t rows, int64_t cols, const std::string &element) {
    return "vector<" + std::to_string(rows) + "x" + std::to_string(cols) + "x" + element + ">";
  };
  auto memref = [&](int64_t rows, const std::string &element) {
    return "memref<" + std::to_string(rows) + "x" + std::to_string(d) + "x" + element + ">";
  };
  const std::string q = tile(m, d, type), k = tile(n, d, type), s = tile(m, n, "f32"), p = tile(m, n, type);
  const std::string dq = tile(m, d, "f32"), dkv = tile(n, d, "f32");
  // P and dS: S and dP converted to the dtype (as they are in f32).
  const bool convert = type != "f32";
  const std::string probs = convert ? "%p" : "%s", scoreGrads = convert ? "%ds" : "%dp";
  return "func.func @products(%q: " + memref(m, type) + ", %k: " + memref(n, type) + ", %v: " + memref(n, type) +
         ", %do: " + memref(m, type) + ", %dq: " + memref(m, "f32") + ", %dk: " + memref(n, "f32") +
         ", %dv: " + memref(n, "f32") + ") {\n"
         "  %c0 = arith.constant 0 : index\n"
         "  %pad = arith.constant 0.0 : " + type + "\n"
         "  %zs = arith.constant dense<0.0> : " + s + "\n"
         "  %zq = arith.constant dense<0.0> : " + dq + "\n"
         "  %zk = arith.constant dense<0.0> : " + dkv + "\n"
         "  %qt = vector.transfer_read %q[%c0, %c0], %pad : " + memref(m, type) + ", " + q + "\n"
         "  %kt = vector.transfer_read %k[%c0, %c0], %pad : " + memref(n, type) + ", " + k + "\n"
         "  %vt = vector.transfer_read %v[%c0, %c0], %pad : " + memref(n, type) + ", " + k + "\n"
         "  %dot = vector.transfer_read %do[%c0, %c0], %pad : " + memref(m, type) + ", " + q + "\n"
         "  %s = flash.mma %qt, %kt transposed, %zs : " + q + ", " + k + ", " + s + "\n"
         + (convert ? "  %p = arith.truncf %s : " + s + " to " + p + "\n" : "") +
         "  %dp = flash.mma %dot, %vt transposed, %zs : " + q + ", " + k + ", " + s + "\n"
         + (convert ? "  %ds = arith.truncf %dp : " + s + " to " + p + "\n" : "") +
         "  %dvt = flash.mma " + probs + " transposed, %dot, %zk : " + p + ", " + q + ", " + dkv + "\n"
         "  %dkt = flash.mma " + scoreGrads + " transposed, %qt, %zk : " + p + ", " + q + ", " + dkv + "\n"
         "  %dqt = flash.mma " + scoreGrads + ", %kt, %zq : " + p + ", " + k + ", " + dq + "\n"
         "  vector.transfer_write %dqt, %dq[%c0, %c0] : " + dq + ", " + memref(m, "f32") + "\n"
         "  vector.transfer_write %dkt, %dk[%c0, %c0] : " + dkv + ", " + memref(n, "f32") + "\n"
         "  vector.transfer_write %dvt, %dv[%c0, %c0] : " + dkv + ", " + memref(n, "f32") + "\n"
         "  return\n}\n";
}

using Matrix = std::vector<double>; // row-major

double roundTo(const std::string &type, double x) {
  if (type == "bf16")
    return roundToBF16(float(x));
  if (type == "f16")
    return roundToF16(float(x));
  return float(x);
}

/// C[rows x cols] = op(A)·op(B) over `inner`, op transposing where asked (A stored [inner][rows] then).
Matrix product(const Matrix &a, bool ta, const Matrix &b, bool tb, int64_t rows, int64_t cols, int64_t inner) {
  Matrix c(rows * cols, 0.0);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t x = 0; x < inner; ++x)
        c[i * cols + j] += (ta ? a[x * rows + i] : a[i * inner + x]) * (tb ? b[j * inner + x] : b[x * cols + j]);
  return c;
}

/// Each of `got` was written everywhere and lies within `tolerance` of `expected` (max |error| / max |expected|).
void expectClose(const std::vector<std::pair<const char *, const std::vector<float> *>> &got,
                 const std::vector<Matrix> &expected, double tolerance) {
  for (size_t t = 0; t < got.size(); ++t) {
    const auto &[name, values] = got[t];
    double worst = 0, largest = 0;
    for (size_t i = 0; i < expected[t].size(); ++i) {
      ASSERT_FALSE(std::isnan((*values)[i])) << name << " element " << i << " was not written";
      worst = std::max(worst, std::abs((*values)[i] - expected[t][i]));
      largest = std::max(largest, std::abs(expected[t][i]));
    }
    EXPECT_LT(worst / largest, tolerance) << name;
  }
}

struct ProductsCase {
  int64_t m, n, d;
  std::string type;
  double tolerance;
};

class ProductsTest : public ::testing::TestWithParam<ProductsCase> {};

TEST_P(ProductsTest, MatchesFloat64) {
  const ProductsCase c = GetParam();
  std::mt19937 random(42);
  std::normal_distribution<double> normal;
  auto input = [&](int64_t rows) {
    std::vector<float> values(rows * c.d);
    for (float &x : values)
      x = float(roundTo(c.type, normal(random)));
    return values;
  };
  std::vector<float> q = input(c.m), k = input(c.n), v = input(c.n), dO = input(c.m);
  std::vector<float> dq(c.m * c.d, NAN), dk(c.n * c.d, NAN), dv(c.n * c.d, NAN);
  auto memref = [&](std::vector<float> &data, int64_t rows) {
    return InterpreterArg::of(HostMemRef{data.data(), 0, {rows, c.d}, {c.d, 1}});
  };
  std::string error = compiler::interpretFunction(
      productsIR(c.m, c.n, c.d, c.type),
      {memref(q, c.m), memref(k, c.n), memref(v, c.n), memref(dO, c.m), memref(dq, c.m), memref(dk, c.n),
       memref(dv, c.n)});
  ASSERT_EQ(error, "");

  auto wide = [](const std::vector<float> &x) { return Matrix(x.begin(), x.end()); };
  auto rounded = [&](Matrix x) {
    for (double &e : x)
      e = roundTo(c.type, e);
    return x;
  };
  const Matrix Q = wide(q), K = wide(k), V = wide(v), DO = wide(dO);
  const Matrix P = rounded(product(Q, false, K, true, c.m, c.n, c.d));
  const Matrix DS = rounded(product(DO, false, V, true, c.m, c.n, c.d));
  expectClose({{"dQ", &dq}, {"dK", &dk}, {"dV", &dv}},
              {product(DS, false, K, false, c.m, c.d, c.n), product(DS, true, Q, false, c.n, c.d, c.m),
               product(P, true, DO, false, c.n, c.d, c.m)},
              c.tolerance);
}

// f32 is exact up to summation order; 16-bit types can round a P or dS element the other way where the
// f32 and float64 scores straddle a rounding boundary.
INSTANTIATE_TEST_SUITE_P(Products, ProductsTest,
                         ::testing::Values(ProductsCase{32, 48, 16, "f32", 1e-5}, ProductsCase{48, 16, 32, "f32", 1e-5},
                                           ProductsCase{32, 48, 16, "bf16", 1e-3},
                                           ProductsCase{16, 32, 64, "f16", 1e-3}),
                         [](const auto &info) {
                           const ProductsCase &c = info.param;
                           return c.type + "_m" + std::to_string(c.m) + "_n" + std::to_string(c.n) + "_d" +
                                  std::to_string(c.d);
                         });

/// tests/gpu/products/streamed_products.mlir.in with its placeholders filled in.
std::string streamedProductsIR(const std::map<std::string, std::string> &values) {
  std::ifstream file(std::string(FLASHJIT_SOURCE_DIR) + "/tests/gpu/products/streamed_products.mlir.in");
  std::stringstream text;
  text << file.rdbuf();
  std::string ir = text.str();
  for (const auto &[name, value] : values)
    for (size_t at = ir.find("@" + name + "@"); at != std::string::npos; at = ir.find("@" + name + "@", at))
      ir.replace(at, name.size() + 2, value);
  return ir;
}

// The backward's main loop without its element-wise work: per key block, K and V read once, Q and dO
// streamed in query blocks through the ring that flash-assign-streams makes (flash.stream_get, the last
// block partial), dV += Pᵀ·dO and dK += dSᵀ·Q carried through the loop, each query block's dQ = dS·K added
// into dQ (flash.atomic_add, over the key blocks); against float64, P and dS rounded as the IR rounds them.
// The same IR is lowered in tests/lit/compiler/lower-streamed-products-to-gpu.mlir and checked on a GPU by
// tests/gpu/products/.
TEST(ProductsTest, StreamedProductsMatchFloat64) {
  const int64_t m = 16, n = 32, d = 16, queries = 70, keys = 96;
  const std::string ir = streamedProductsIR({{"CHIP", "sm_80"}, {"T", "bf16"}, {"M", std::to_string(m)},
                                             {"N", std::to_string(n)}, {"D", std::to_string(d)}, {"WARPS", "1"},
                                             {"SQ", std::to_string(queries)}, {"SK", std::to_string(keys)},
                                             {"BLOCKS", std::to_string(keys / n)}, {"STAGES", "3"}});
  std::mt19937 random(7);
  std::normal_distribution<double> normal;
  auto input = [&](int64_t rows) {
    std::vector<float> values(rows * d);
    for (float &x : values)
      x = roundToBF16(float(normal(random)));
    return values;
  };
  std::vector<float> q = input(queries), k = input(keys), v = input(keys), dO = input(queries);
  std::vector<float> dq(queries * d, 0.0f), dk(keys * d, NAN), dv(keys * d, NAN); // dQ: added into
  auto memref = [&](std::vector<float> &data, int64_t rows) {
    return InterpreterArg::of(HostMemRef{data.data(), 0, {rows, d}, {d, 1}});
  };
  std::string error = compiler::interpretFunction(
      ir,
      {memref(q, queries), memref(k, keys), memref(v, keys), memref(dO, queries), memref(dq, queries), memref(dk, keys),
       memref(dv, keys)},
      "builtin.module(flash-assign-streams)");
  ASSERT_EQ(error, "");

  auto wide = [](const std::vector<float> &x) { return Matrix(x.begin(), x.end()); };
  auto rounded = [](Matrix x) {
    for (double &e : x)
      e = roundToBF16(float(e));
    return x;
  };
  const Matrix Q = wide(q), K = wide(k), V = wide(v), DO = wide(dO);
  // Per key block and query block, as the kernel rounds Pᵀ and dSᵀ: blocks of the full products.
  const Matrix PT = rounded(product(K, false, Q, true, keys, queries, d));
  const Matrix DST = rounded(product(V, false, DO, true, keys, queries, d));
  expectClose({{"dQ", &dq}, {"dK", &dk}, {"dV", &dv}},
              {product(DST, true, K, false, queries, d, keys), product(DST, false, Q, false, keys, d, queries),
               product(PT, false, DO, false, keys, d, queries)},
              1e-3);
}

TEST(ProductsTest, ReportsUnparsableIR) {
  EXPECT_NE(compiler::interpretFunction("func.func @f( {", {}).find("cannot parse the IR"), std::string::npos);
}

TEST(ProductsTest, ReportsABadPassPipeline) {
  const std::string ir = "func.func @f() {\n  return\n}\n";
  EXPECT_EQ(compiler::interpretFunction(ir, {}, "builtin.module(flash-assign-streams)"), "");
  EXPECT_NE(compiler::interpretFunction(ir, {}, "builtin.module(no-such-pass)").find("cannot parse the pass pipeline"),
            std::string::npos);
}

} // namespace
} // namespace flashjit
