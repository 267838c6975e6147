#include "bench/quality_stats.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace autolrs::bench {
namespace {

// strtod over the whole field (accepts nan, inf).
bool ParseDouble(absl::string_view field, double* out) {
  const std::string s(absl::StripAsciiWhitespace(field));
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

bool ParseInt(absl::string_view field, int64_t* out) {
  const std::string s(absl::StripAsciiWhitespace(field));
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtoll(s.c_str(), &end, 10);
  return errno == 0 && end == s.c_str() + s.size();
}

bool SameLr(double a, double b) {
  return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b));
}

}  // namespace

absl::StatusOr<std::vector<StepRow>> ParseStepCsv(absl::string_view text) {
  std::vector<StepRow> rows;
  int line_number = 0;
  bool header_seen = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripTrailingAsciiWhitespace(line);
    if (line.empty()) continue;
    if (!header_seen) {
      if (line != "step,phase,lr,loss,val_loss") {
        return absl::InvalidArgumentError(
            absl::StrCat("csv line ", line_number,
                         ": expected the header step,phase,lr,loss,val_loss, got '", line, "'"));
      }
      header_seen = true;
      continue;
    }
    std::vector<absl::string_view> f = absl::StrSplit(line, ',');
    StepRow row;
    if (f.size() != 5 || !ParseInt(f[0], &row.step) || f[1].empty() ||
        !ParseDouble(f[2], &row.lr) || !ParseDouble(f[3], &row.loss)) {
      return absl::InvalidArgumentError(
          absl::StrCat("csv line ", line_number, ": malformed row '", line, "'"));
    }
    row.phase = std::string(f[1]);
    if (!absl::StripAsciiWhitespace(f[4]).empty()) {
      if (!ParseDouble(f[4], &row.val_loss)) {
        return absl::InvalidArgumentError(
            absl::StrCat("csv line ", line_number, ": malformed val_loss in '", line, "'"));
      }
      row.evaluated = true;
    }
    rows.push_back(std::move(row));
  }
  if (!header_seen) return absl::InvalidArgumentError("csv: empty, no header");
  return rows;
}

absl::StatusOr<std::map<std::string, std::string>> ParseFinalLine(absl::string_view output) {
  absl::string_view last;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StartsWith(line, "final:")) {
      last = line;
      found = true;
    }
  }
  if (!found) return absl::NotFoundError("no line starting with 'final:'");
  std::map<std::string, std::string> fields;
  absl::string_view rest = absl::StripPrefix(last, "final:");
  for (absl::string_view token : absl::StrSplit(rest, ' ', absl::SkipWhitespace())) {
    const size_t eq = token.find('=');
    if (eq == absl::string_view::npos || eq == 0) continue;
    fields[std::string(token.substr(0, eq))] = std::string(token.substr(eq + 1));
  }
  return fields;
}

bool IsMainLine(absl::string_view phase) {
  return phase == "train" || phase == "warmup" || phase == "exploit" || phase == "cooldown";
}

std::vector<EvalPoint> MainLineEvals(const std::vector<StepRow>& rows) {
  std::vector<EvalPoint> curve;
  for (const StepRow& r : rows) {
    if (r.evaluated && IsMainLine(r.phase)) curve.push_back({r.step, r.val_loss});
  }
  std::stable_sort(curve.begin(), curve.end(),
                   [](const EvalPoint& a, const EvalPoint& b) { return a.step < b.step; });
  return curve;
}

std::optional<int64_t> StepsToTarget(const std::vector<EvalPoint>& curve, double target) {
  for (const EvalPoint& p : curve) {
    if (p.val_loss <= target) return p.step;  // False for NaN.
  }
  return std::nullopt;
}

std::vector<EvalPoint> MeanCurve(const std::vector<std::vector<EvalPoint>>& curves) {
  if (curves.empty()) return {};
  std::map<int64_t, std::pair<double, int>> sums;  // step -> (sum, curves having it)
  for (const std::vector<EvalPoint>& curve : curves) {
    std::set<int64_t> seen;
    for (const EvalPoint& p : curve) {
      if (!seen.insert(p.step).second) continue;  // First value of a step only.
      auto& [sum, count] = sums[p.step];
      sum += p.val_loss;
      ++count;
    }
  }
  std::vector<EvalPoint> mean;
  for (const auto& [step, sc] : sums) {
    if (sc.second == static_cast<int>(curves.size())) {
      mean.push_back({step, sc.first / static_cast<double>(sc.second)});
    }
  }
  return mean;
}

std::optional<Speedup> ComputeSpeedup(const std::vector<EvalPoint>& reference,
                                      const std::vector<EvalPoint>& candidate, double target,
                                      int64_t budget) {
  const std::optional<int64_t> ref = StepsToTarget(reference, target);
  if (!ref || candidate.empty() || budget <= 0) return std::nullopt;
  if (const std::optional<int64_t> cand = StepsToTarget(candidate, target)) {
    return Speedup{static_cast<double>(*ref) / static_cast<double>(*cand), true};
  }
  const double final_loss = candidate.back().val_loss;
  if (std::isnan(final_loss)) return std::nullopt;
  const std::optional<int64_t> equal = StepsToTarget(reference, final_loss);
  if (!equal) return std::nullopt;
  return Speedup{static_cast<double>(*equal) / static_cast<double>(budget), false};
}

std::optional<Worth> BudgetWorth(const std::vector<EvalPoint>& reference, double final_loss,
                                 int64_t budget) {
  if (reference.empty() || std::isnan(final_loss) || budget <= 0) return std::nullopt;
  if (final_loss <= reference.back().val_loss * (1 + 1e-9)) return Worth{1.0, true};
  const std::optional<int64_t> steps = StepsToTarget(reference, final_loss);
  if (!steps) return std::nullopt;
  return Worth{static_cast<double>(*steps) / static_cast<double>(budget), false};
}

Summary Summarize(const std::vector<double>& values) {
  Summary s;
  s.n = static_cast<int>(values.size());
  if (values.empty()) {
    s.mean = s.stddev = s.min = s.max = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  double sum = 0;
  s.min = values[0];
  s.max = values[0];
  for (double v : values) {
    sum += v;
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
  }
  s.mean = sum / s.n;
  if (s.n >= 2) {
    double ss = 0;
    for (double v : values) ss += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(ss / (s.n - 1));
  }
  return s;
}

std::vector<double> LogGrid(double lo, double hi, int n) {
  std::vector<double> grid;
  if (n < 2 || !(lo > 0) || !(hi > lo)) return grid;
  const double a = std::log10(lo);
  const double b = std::log10(hi);
  for (int i = 0; i < n; ++i) {
    grid.push_back(i == 0 ? lo : i == n - 1 ? hi : std::pow(10.0, a + (b - a) * i / (n - 1)));
  }
  return grid;
}

absl::StatusOr<LrChoice> SelectBestLr(const std::vector<GridRun>& runs) {
  if (runs.empty()) return absl::InvalidArgumentError("no grid runs");
  // lr -> (sum of losses, runs, any non-finite)
  struct Acc {
    double sum = 0;
    int n = 0;
    bool bad = false;
  };
  std::map<double, Acc> by_lr;
  for (const GridRun& r : runs) {
    Acc& acc = by_lr[r.lr];
    ++acc.n;
    if (!std::isfinite(r.final_val_loss)) {
      acc.bad = true;
    } else {
      acc.sum += r.final_val_loss;
    }
  }
  const double smallest = by_lr.begin()->first;
  const double largest = by_lr.rbegin()->first;
  std::optional<LrChoice> best;
  for (const auto& [lr, acc] : by_lr) {  // Ascending LR: ties keep the smaller.
    if (acc.bad) continue;
    const double mean = acc.sum / acc.n;
    if (!best || mean < best->mean_val_loss) {
      best = LrChoice{lr, mean, acc.n, lr == smallest || lr == largest};
    }
  }
  if (!best) return absl::InvalidArgumentError("every LR of the grid diverged");
  return *best;
}

std::vector<Segment> Segments(const std::vector<StepRow>& rows) {
  std::vector<Segment> segments;
  for (const StepRow& r : rows) {
    if (!segments.empty() && segments.back().phase == r.phase && SameLr(segments.back().lr, r.lr) &&
        segments.back().last_step + 1 == r.step) {
      segments.back().last_step = r.step;
      continue;
    }
    segments.push_back({r.phase, r.lr, r.step, r.step});
  }
  return segments;
}

double ProbeFraction(const std::vector<StepRow>& rows) {
  if (rows.empty()) return 0;
  int64_t probes = 0;
  for (const StepRow& r : rows) probes += r.phase == "probe";
  return static_cast<double>(probes) / static_cast<double>(rows.size());
}

}  // namespace autolrs::bench
