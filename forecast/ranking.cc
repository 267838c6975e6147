#include "forecast/ranking.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace autolrs {
namespace forecast {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Average ranks (1-based) of v; equal values share their mean rank.
std::vector<double> Ranks(absl::Span<const double> v) {
  const size_t n = v.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
  std::vector<double> rank(n);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && v[order[j + 1]] == v[order[i]]) ++j;
    const double r = 0.5 * (i + j) + 1;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = r;
    i = j + 1;
  }
  return rank;
}

double Truth(const std::vector<double>& loss, int window) {
  for (double v : loss) {
    if (!std::isfinite(v)) return kInf;
  }
  const size_t w = std::min<size_t>(window, loss.size());
  return std::accumulate(loss.end() - w, loss.end(), 0.0) / w;
}

int TruthWindow(int tau, const RankingOptions& options) {
  return options.truth_window > 0 ? options.truth_window : std::max(10, tau / 20);
}

}  // namespace

absl::StatusOr<std::vector<Curve>> ParseCurvesCsv(absl::string_view csv) {
  std::vector<std::string> checkpoint_order;
  // checkpoint -> lr -> step -> loss
  std::map<std::string, std::map<double, std::map<long, double>>> data;
  int line_no = 0;
  bool header_seen = false;
  for (absl::string_view line : absl::StrSplit(csv, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    const std::vector<absl::string_view> f = absl::StrSplit(line, ',');
    if (!header_seen) {
      if (f.size() != 4 || absl::StripAsciiWhitespace(f[0]) != "checkpoint" ||
          absl::StripAsciiWhitespace(f[1]) != "lr" || absl::StripAsciiWhitespace(f[2]) != "step" ||
          absl::StripAsciiWhitespace(f[3]) != "loss") {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_no, ": expected header 'checkpoint,lr,step,loss'"));
      }
      header_seen = true;
      continue;
    }
    if (f.size() != 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_no, ": expected 4 fields, got ", f.size()));
    }
    const std::string checkpoint(absl::StripAsciiWhitespace(f[0]));
    double lr = 0, loss = 0;
    long step = 0;
    if (checkpoint.empty() || !absl::SimpleAtod(absl::StripAsciiWhitespace(f[1]), &lr) ||
        !std::isfinite(lr) || !absl::SimpleAtoi(absl::StripAsciiWhitespace(f[2]), &step) ||
        step < 1 || !absl::SimpleAtod(absl::StripAsciiWhitespace(f[3]), &loss)) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_no, ": cannot parse '", line, "'"));
    }
    if (data.find(checkpoint) == data.end()) {
      checkpoint_order.push_back(checkpoint);
    }
    auto& steps = data[checkpoint][lr];
    if (!steps.emplace(step, loss).second) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": duplicate step ", step,
                                                     " for checkpoint ", checkpoint, " lr ", f[1]));
    }
  }
  if (!header_seen) return absl::InvalidArgumentError("empty CSV");
  std::vector<Curve> curves;
  for (const std::string& checkpoint : checkpoint_order) {
    for (const auto& [lr, steps] : data[checkpoint]) {
      const long tau = steps.rbegin()->first;
      if (static_cast<long>(steps.size()) != tau) {
        return absl::InvalidArgumentError(absl::StrCat("checkpoint ", checkpoint, " lr ", lr,
                                                       ": steps are not 1..", tau, " (",
                                                       steps.size(), " distinct steps)"));
      }
      Curve c;
      c.checkpoint = checkpoint;
      c.lr = lr;
      for (const auto& [step, loss] : steps) c.loss.push_back(loss);
      curves.push_back(std::move(c));
    }
  }
  return curves;
}

std::string CurvesToCsv(absl::Span<const Curve> curves) {
  std::string out = "checkpoint,lr,step,loss\n";
  for (const Curve& c : curves) {
    for (size_t i = 0; i < c.loss.size(); ++i) {
      absl::StrAppendFormat(&out, "%s,%.9g,%d,%.9g\n", c.checkpoint, c.lr, i + 1, c.loss[i]);
    }
  }
  return out;
}

double SpearmanCorrelation(absl::Span<const double> x, absl::Span<const double> y) {
  const std::vector<double> rx = Ranks(x), ry = Ranks(y);
  const double mean = 0.5 * (x.size() + 1);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < rx.size(); ++i) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) * (rx[i] - mean);
    syy += (ry[i] - mean) * (ry[i] - mean);
  }
  if (sxx <= 0 || syy <= 0) return 0;
  return sxy / std::sqrt(sxx * syy);
}

std::vector<RankingMethod> DefaultRankingMethods() {
  std::vector<RankingMethod> methods(3);
  methods[0].name = "robust (default)";
  methods[0].options.method = Method::kRobust;
  methods[1].name = "reference";
  methods[1].options.method = Method::kReferenceExponential;
  methods[2].name = "last-10 mean";
  methods[2].options.method = Method::kLastMean;
  methods[2].options.tail_window = 10;
  return methods;
}

absl::StatusOr<RankingReport> ScoreRanking(absl::Span<const Curve> curves,
                                           absl::Span<const RankingMethod> methods,
                                           const RankingOptions& options) {
  RankingReport report;
  report.tau_probe = options.tau_probe;
  report.curves = static_cast<int>(curves.size());
  if (options.tau_probe < 1) {
    return absl::InvalidArgumentError("tau_probe must be >= 1");
  }
  // Group consecutive curves by checkpoint (ParseCurvesCsv groups them).
  std::vector<std::pair<size_t, size_t>> groups;
  for (size_t i = 0; i < curves.size();) {
    size_t j = i;
    while (j < curves.size() && curves[j].checkpoint == curves[i].checkpoint) ++j;
    groups.emplace_back(i, j);
    i = j;
  }
  std::vector<double> truth(curves.size());
  int min_tau = std::numeric_limits<int>::max(), max_tau = 0;
  for (size_t i = 0; i < curves.size(); ++i) {
    const int tau = static_cast<int>(curves[i].loss.size());
    if (tau < options.tau_probe) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint ", curves[i].checkpoint, " lr ", curves[i].lr, " has ", tau,
                       " steps, fewer than tau_probe = ", options.tau_probe));
    }
    min_tau = std::min(min_tau, tau);
    max_tau = std::max(max_tau, tau);
    truth[i] = Truth(curves[i].loss, TruthWindow(tau, options));
    if (!std::isfinite(truth[i])) ++report.diverged_curves;
  }
  if (curves.empty()) min_tau = 0;
  report.truth_description =
      options.truth_window > 0
          ? absl::StrCat("mean of the last ", options.truth_window, " losses up to tau")
          : absl::StrCat("mean of the last max(10, tau/20) losses up to tau (",
                         TruthWindow(min_tau, options), " to ", TruthWindow(max_tau, options),
                         " here)");
  report.truth_description +=
      absl::StrCat("; tau = ", min_tau == max_tau ? absl::StrCat(min_tau)
                                                  : absl::StrCat(min_tau, "..", max_tau));

  report.details.resize(curves.size());
  for (size_t i = 0; i < curves.size(); ++i) {
    report.details[i].checkpoint = curves[i].checkpoint;
    report.details[i].lr = curves[i].lr;
    report.details[i].truth = truth[i];
  }
  for (const RankingMethod& method : methods) {
    MethodScore score;
    score.name = method.name;
    double sum_rho = 0, sum_regret = 0, sum_rel = 0;
    for (const auto& [begin, end] : groups) {
      if (end - begin < 2) continue;
      std::vector<double> forecast, group_truth;
      for (size_t i = begin; i < end; ++i) {
        const Curve& c = curves[i];
        absl::StatusOr<Forecast> f =
            PredictSteps(absl::MakeConstSpan(c.loss).first(options.tau_probe),
                         static_cast<double>(c.loss.size()), method.options);
        if (!f.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(method.name, " on checkpoint ",
                                                         c.checkpoint, " lr ", c.lr, ": ",
                                                         f.status().message()));
        }
        const double p = std::isfinite(f->prediction) ? f->prediction : kInf;
        report.details[i].predictions.push_back(p);
        report.details[i].models.push_back(f->model);
        ++score.forecasts;
        if (!std::isfinite(p)) ++score.nonfinite;
        if (!std::isfinite(p) && std::isfinite(truth[i])) {
          ++score.false_divergence;
        }
        if (std::isfinite(p) && !std::isfinite(truth[i])) {
          ++score.missed_divergence;
        }
        if (p < 0) ++score.negative;
        forecast.push_back(p);
        group_truth.push_back(truth[i]);
      }
      const double best = *std::min_element(group_truth.begin(), group_truth.end());
      const double worst = *std::max_element(group_truth.begin(), group_truth.end());
      if (best == worst) continue;  // nothing to rank
      ++score.checkpoints;
      sum_rho += SpearmanCorrelation(forecast, group_truth);
      const size_t chosen = std::min_element(forecast.begin(), forecast.end()) - forecast.begin();
      const double regret = group_truth[chosen] - best;
      sum_regret += regret;
      sum_rel += best > 0 ? regret / best : regret;
    }
    if (score.checkpoints > 0) {
      score.mean_spearman = sum_rho / score.checkpoints;
      score.mean_regret = sum_regret / score.checkpoints;
      score.mean_rel_regret = sum_rel / score.checkpoints;
    }
    report.scores.push_back(score);
  }
  return report;
}

std::string FormatMarkdown(const RankingReport& report) {
  std::string out = absl::StrFormat(
      "Forecasts from the first %d losses; %d curves (%d diverged); truth = "
      "%s.\n\n",
      report.tau_probe, report.curves, report.diverged_curves, report.truth_description);
  absl::StrAppend(&out,
                  "| method | checkpoints | Spearman (mean) | regret (mean) | "
                  "relative regret (mean) | non-finite | negative | missed "
                  "divergence | false divergence |\n",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const MethodScore& s : report.scores) {
    absl::StrAppendFormat(&out, "| %s | %d | %.3f | %.4g | %.3f | %d/%d | %d | %d | %d |\n", s.name,
                          s.checkpoints, s.mean_spearman, s.mean_regret, s.mean_rel_regret,
                          s.nonfinite, s.forecasts, s.negative, s.missed_divergence,
                          s.false_divergence);
  }
  return out;
}

std::string FormatDetails(const RankingReport& report) {
  std::string out = "| checkpoint | lr | truth |";
  for (const MethodScore& s : report.scores) absl::StrAppend(&out, " ", s.name, " |");
  absl::StrAppend(&out, "\n|---|---:|---:|");
  for (size_t i = 0; i < report.scores.size(); ++i) absl::StrAppend(&out, "---|");
  absl::StrAppend(&out, "\n");
  for (const CurveForecast& d : report.details) {
    absl::StrAppendFormat(&out, "| %s | %g | %.4g |", d.checkpoint, d.lr, d.truth);
    for (size_t m = 0; m < d.predictions.size(); ++m) {
      absl::StrAppendFormat(&out, " %.4g %s |", d.predictions[m], d.models[m]);
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace forecast
}  // namespace autolrs
