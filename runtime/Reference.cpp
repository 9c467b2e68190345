#include "runtime/flashjit_testing.h"
#include "dialects/Rounding.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>

namespace flashjit {

std::array<int64_t, 4> layoutStrides(Layout layout, int64_t batch, int64_t heads, int64_t seqlen,
                                     int64_t headDim) {
  (void)batch;
  if (layout == Layout::BSHD)
    return {seqlen * heads * headDim, headDim, heads * headDim, 1};
  return {heads * seqlen * headDim, seqlen * headDim, headDim, 1};
}

ProblemShape resolveShape(const AttentionSpec &spec, const ProblemShape &shape) {
  auto positive = [](int value, const char *field) {
    if (value <= 0)
      throw Error(Error::Code::InvalidArgument,
                  std::string("problem shape: ") + field + " = " + std::to_string(value) +
                      " is not supported: it must be positive");
  };
  positive(shape.batch, "batch");
  positive(shape.heads, "heads");
  positive(shape.seqlen_q, "seqlen_q");
  positive(shape.seqlen_k, "seqlen_k");
  ProblemShape resolved = shape;
  if (resolved.kv_heads == 0)
    resolved.kv_heads = shape.heads;
  if (resolved.kv_heads < 0 || shape.heads % resolved.kv_heads != 0)
    throw Error(Error::Code::InvalidArgument,
                "problem shape: kv_heads = " + std::to_string(shape.kv_heads) +
                    " must be positive and divide heads = " + std::to_string(shape.heads));
  if (resolved.softmax_scale == 0)
    resolved.softmax_scale = 1.0f / std::sqrt(float(spec.head_dim));
  if (!(resolved.softmax_scale > 0) || !std::isfinite(resolved.softmax_scale))
    throw Error(Error::Code::InvalidArgument,
                "problem shape: softmax_scale = " + std::to_string(shape.softmax_scale) +
                    " is not supported: it must be positive and finite");
  return resolved;
}

float roundToDType(DType dtype, float value) {
  switch (dtype) {
  case DType::f16:
    return roundToF16(value);
  case DType::bf16:
    return roundToBF16(value);
  case DType::f32:
    return value;
  }
  return value;
}

double toleranceFor(DType dtype) {
  switch (dtype) {
  case DType::f32:
    return 1e-5;
  case DType::f16:
    return 2e-3;
  case DType::bf16:
    return 1e-2;
  }
  return 0;
}

AttentionData randomAttentionData(const AttentionSpec &spec, const ProblemShape &shape, unsigned seed) {
  AttentionData data;
  data.spec = spec;
  data.shape = resolveShape(spec, shape);
  const ProblemShape &s = data.shape;
  data.qStrides = layoutStrides(s.layout, s.batch, s.heads, s.seqlen_q, spec.head_dim);
  data.kvStrides = layoutStrides(s.layout, s.batch, s.kv_heads, s.seqlen_k, spec.head_dim);
  data.q.resize(int64_t(s.batch) * s.heads * s.seqlen_q * spec.head_dim);
  data.k.resize(int64_t(s.batch) * s.kv_heads * s.seqlen_k * spec.head_dim);
  data.v.resize(data.k.size());
  // Chunks of values, each from its own generator seeded by (seed, tensor, chunk), on every core: the same
  // values whatever the number of threads, and the 100M values of a 16k-token problem at hidden 2048 in a
  // fraction of the ~3 s one generator takes.
  constexpr size_t kChunk = size_t(1) << 16;
  std::vector<float> *tensors[] = {&data.q, &data.k, &data.v};
  std::vector<std::pair<int, size_t>> chunks; // (tensor, first value)
  for (int t = 0; t < 3; ++t)
    for (size_t first = 0; first < tensors[t]->size(); first += kChunk)
      chunks.push_back({t, first});
  forEachInParallel(chunks.size(), 0, [&](size_t i) {
    auto [t, first] = chunks[i];
    std::seed_seq seeds{seed, unsigned(t), unsigned(first / kChunk)};
    std::mt19937 generator(seeds);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> &values = *tensors[t];
    for (size_t j = first; j < std::min(values.size(), first + kChunk); ++j)
      values[j] = roundToDType(spec.dtype, normal(generator));
  });
  return data;
}

namespace {

/// The float64 reference of one query row; returns its logsumexp (−inf if it sees no key).
double referenceRow(const AttentionData &data, int64_t b, int64_t h, int64_t i, std::vector<double> &out) {
  const ProblemShape &s = data.shape;
  const int64_t d = data.spec.head_dim, hkv = h / (s.heads / s.kv_heads);
  // Keys [first, visible) are seen by row i: written out here rather than taken from dialects/Mask.h,
  // so that the reference checks the mask's formulas instead of sharing them.
  int64_t first = 0, visible = s.seqlen_k;
  if (data.spec.causal != Causal::none) {
    int64_t diagonal = data.spec.causal == Causal::bottom_right ? s.seqlen_k - s.seqlen_q : 0;
    visible = std::clamp<int64_t>(i + diagonal + 1, 0, s.seqlen_k);
    if (data.spec.window_left >= 0)
      first = std::clamp<int64_t>(i + diagonal - data.spec.window_left, 0, visible);
  }
  out.assign(d, 0.0);
  if (visible == first)
    return -std::numeric_limits<double>::infinity();
  const float *q = &data.q[b * data.qStrides[0] + h * data.qStrides[1] + i * data.qStrides[2]];
  std::vector<double> scores(visible);
  double maxScore = -std::numeric_limits<double>::infinity();
  for (int64_t j = first; j < visible; ++j) {
    const float *k = &data.k[b * data.kvStrides[0] + hkv * data.kvStrides[1] + j * data.kvStrides[2]];
    double dot = 0;
    for (int64_t e = 0; e < d; ++e)
      dot += double(q[e]) * double(k[e]);
    scores[j] = dot * double(s.softmax_scale);
    maxScore = std::max(maxScore, scores[j]);
  }
  double sum = 0;
  for (int64_t j = first; j < visible; ++j) {
    double p = std::exp(scores[j] - maxScore);
    sum += p;
    const float *v = &data.v[b * data.kvStrides[0] + hkv * data.kvStrides[1] + j * data.kvStrides[2]];
    for (int64_t e = 0; e < d; ++e)
      out[e] += p * double(v[e]);
  }
  for (double &x : out)
    x /= sum;
  return maxScore + std::log(sum);
}

} // namespace

CheckReport compareWithReference(const AttentionData &data, const std::vector<float> &output,
                                 const std::vector<float> &lse, const std::vector<int64_t> &rows) {
  const ProblemShape &s = data.shape;
  const int64_t d = data.spec.head_dim, totalRows = data.lseElements();
  CheckReport report;
  report.tolerance = toleranceFor(data.spec.dtype);
  double maxReference = 0;
  std::vector<double> rowErrors; // max |O - reference| of each checked row
  rowErrors.reserve(rows.empty() ? totalRows : rows.size());
  auto rowIndex = [&](int64_t flat) { // (batch, head, row) of a row of the [batch, heads, seqlen_q] rows
    return std::array<int64_t, 3>{flat / (int64_t(s.heads) * s.seqlen_q), flat / s.seqlen_q % s.heads,
                                  flat % s.seqlen_q};
  };
  auto checkRow = [&](int64_t flat, const std::vector<double> &expected, double expectedLse) {
    auto [b, h, i] = rowIndex(flat);
    const float *o = &output[b * data.qStrides[0] + h * data.qStrides[1] + i * data.qStrides[2]];
    bool empty = std::isinf(expectedLse);
    bool rowWrong = false, rowNaN = false;
    double rowError = 0;
    for (int64_t e = 0; e < d; ++e) {
      if (std::isnan(o[e])) {
        if (report.first_nan_row < 0) {
          report.first_nan_row = long(flat);
          report.first_nan_column = int(e);
        }
        ++report.nan_count;
        rowWrong = rowNaN = true;
        continue;
      }
      maxReference = std::max(maxReference, std::abs(expected[e]));
      const double error = std::abs(double(o[e]) - expected[e]);
      rowError = std::max(rowError, error);
      if (error > report.max_abs_error || report.worst_row < 0) {
        report.max_abs_error = error;
        report.worst_row = long(flat);
        report.worst_column = int(e);
      }
      rowWrong = rowWrong || (empty && o[e] != 0.0f);
    }
    if (data.spec.logsumexp) {
      float got = lse[flat];
      if (std::isnan(got)) {
        ++report.nan_count;
        if (report.first_nan_row < 0)
          report.first_nan_row = long(flat);
        rowNaN = true;
      }
      else if (empty)
        rowWrong = rowWrong || !(std::isinf(got) && got < 0);
      else
        report.lse_rel_error = std::max(report.lse_rel_error,
                                        std::abs(double(got) - expectedLse) / std::max(1.0, std::abs(expectedLse)));
    }
    report.rows_checked++;
    report.nan_rows += rowNaN ? 1 : 0;
    if (rowNaN && report.nan_row_list.size() < 4096)
      report.nan_row_list.push_back(long(flat));
    rowErrors.push_back(rowError);
    if (empty) {
      report.empty_rows++;
      report.empty_rows_wrong += rowWrong ? 1 : 0;
    }
  };
  // The float64 references, the check's longest part, on every core: a chunk of rows at a time (bounded
  // memory for large shapes), compared in order afterwards so that the report does not depend on threads.
  const int64_t checked = rows.empty() ? totalRows : int64_t(rows.size());
  const int64_t chunk = 4096;
  std::vector<std::vector<double>> expected(std::min(chunk, checked));
  std::vector<double> expectedLse(expected.size());
  for (int64_t first = 0; first < checked; first += chunk) {
    const int64_t count = std::min(chunk, checked - first);
    auto flatRow = [&](int64_t k) { return rows.empty() ? first + k : rows[first + k]; };
    forEachInParallel(size_t(count), 0, [&](size_t k) {
      auto [b, h, i] = rowIndex(flatRow(int64_t(k)));
      expectedLse[k] = referenceRow(data, b, h, i, expected[k]);
    });
    for (int64_t k = 0; k < count; ++k)
      checkRow(flatRow(k), expected[k], expectedLse[k]);
  }
  report.rel_error = report.max_abs_error / std::max(maxReference, 1e-30);
  for (double rowError : rowErrors)
    report.rows_over_tolerance += rowError / std::max(maxReference, 1e-30) >= report.tolerance ? 1 : 0;
  report.passed = report.nan_count == 0 && report.empty_rows_wrong == 0 &&
                  report.rel_error < report.tolerance && report.lse_rel_error < report.tolerance;
  return report;
}

std::string describeWrongRows(const CheckReport &report, const ProblemShape &shape) {
  const long rowsPerBatch = long(shape.heads) * shape.seqlen_q;
  std::string nanRows;
  if (report.nan_rows > 0)
    nanRows = std::to_string(report.nan_rows) + " rows with NaN, the first at batch " +
              std::to_string(report.first_nan_row / rowsPerBatch) + ", head " +
              std::to_string(report.first_nan_row / shape.seqlen_q % shape.heads) + ", row " +
              std::to_string(report.first_nan_row % shape.seqlen_q) + ", column " +
              std::to_string(report.first_nan_column) + (report.rows_over_tolerance > 0 ? "; " : "");
  if (report.rows_over_tolerance == 0 || report.worst_row < 0)
    return nanRows;
  return nanRows + std::to_string(report.rows_over_tolerance) + " rows over tolerance, worst at batch " +
         std::to_string(report.worst_row / rowsPerBatch) + ", head " +
         std::to_string(report.worst_row / shape.seqlen_q % shape.heads) + ", row " +
         std::to_string(report.worst_row % shape.seqlen_q) + ", column " + std::to_string(report.worst_column);
}

} // namespace flashjit
