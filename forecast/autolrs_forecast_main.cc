// autolrs_forecast: forecasts the loss at step --horizon from the losses of
// steps 1..n, one per line on stdin (blank lines are skipped; "nan"/"inf" are
// accepted and mark the series as diverged). Prints one JSON line:
//   {"a":...,"b":...,"c":...,"prediction":...,"diverged":false,
//    "model":"exponential","trend_weight":...,"method":"robust","n":100,
//    "horizon":1000}
// Non-finite numbers are printed as null. Bad input or flags: a message on
// stderr and exit status 2.
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "forecast/forecaster.h"

ABSL_FLAG(double, horizon, 0, "step to forecast the loss at (>= n)");
ABSL_FLAG(std::string, method, "robust", "robust, reference or last_mean");
ABSL_FLAG(std::string, kind, "training",
          "training (per-step loss) or validation; selects the reference "
          "method's outlier filter");

namespace {

std::string Number(double v) { return std::isfinite(v) ? absl::StrFormat("%.17g", v) : "null"; }

int Fail(const std::string& message) {
  std::cerr << "autolrs_forecast: " << message << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "autolrs_forecast --horizon=N [--method=robust|reference|last_mean] "
      "[--kind=training|validation] < losses.txt");
  const std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) return Fail(absl::StrCat("unexpected argument '", rest[1], "'"));

  namespace fc = autolrs::forecast;
  fc::ForecastOptions options;
  absl::StatusOr<fc::Method> method = fc::ParseMethod(absl::GetFlag(FLAGS_method));
  if (!method.ok()) return Fail(std::string(method.status().message()));
  options.method = *method;
  const std::string kind = absl::GetFlag(FLAGS_kind);
  if (kind == "training") {
    options.kind = fc::SeriesKind::kTrainingLoss;
  } else if (kind == "validation") {
    options.kind = fc::SeriesKind::kValidationLoss;
  } else {
    return Fail(absl::StrCat("unknown --kind '", kind, "' (expected training or validation)"));
  }
  const double horizon = absl::GetFlag(FLAGS_horizon);
  if (!(horizon > 0) || !std::isfinite(horizon)) {
    return Fail("--horizon must be a positive step number");
  }

  std::vector<double> losses;
  std::string line;
  int line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty()) continue;
    double v = 0;
    if (!absl::SimpleAtod(text, &v)) {
      return Fail(absl::StrCat("line ", line_no, ": '", text,
                               "' is not a number (expected one loss per line)"));
    }
    losses.push_back(v);
  }
  if (losses.empty()) return Fail("no losses on stdin (expected one per line)");
  if (horizon < losses.size()) {
    return Fail(
        absl::StrCat("--horizon=", horizon, " is before the last step (", losses.size(), ")"));
  }

  const absl::StatusOr<fc::Forecast> f = fc::PredictSteps(losses, horizon, options);
  if (!f.ok()) return Fail(std::string(f.status().message()));
  std::cout << absl::StrFormat(
      "{\"a\":%s,\"b\":%s,\"c\":%s,\"prediction\":%s,\"diverged\":%s,"
      "\"model\":\"%s\",\"trend_weight\":%s,\"method\":\"%s\",\"n\":%d,"
      "\"horizon\":%s}\n",
      Number(f->a), Number(f->b), Number(f->c), Number(f->prediction),
      f->diverged ? "true" : "false", f->model, Number(f->trend_weight),
      fc::MethodName(options.method), losses.size(), Number(horizon));
  return 0;
}
