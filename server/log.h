#ifndef AUTOLRS_SERVER_LOG_H_
#define AUTOLRS_SERVER_LOG_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace autolrs::server {

// The server's structured log: one line per event, of key=value fields,
//
//   ts=2026-11-30T09:01:02.345Z level=info event=stage_chosen job_id=a stage=3 lr=0.05
//
// always starting with ts (UTC, milliseconds), level and event. Values holding
// a space, '=', '"' or a control character, and empty values, are quoted
// with Go-style escapes (\" \\ \n \t \xNN), so a line splits on spaces
// outside quotes. Lines below the process's level are dropped before they
// are formatted.
enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning" (or "warn"), "error"; INVALID_ARGUMENT
// otherwise, naming the accepted values.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);
absl::string_view LogLevelName(LogLevel level);

// The least level written (default kInfo). Thread-safe.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Where finished lines go (each with its '\n'); default: one fwrite to
// stderr per line, so lines of concurrent threads never interleave. An
// empty function restores the default. For tests. Thread-safe, but the sink
// itself must be safe to call from any thread.
void SetLogSink(std::function<void(absl::string_view line)> sink);

// One log line, written when it goes out of scope:
//
//   LogLine(LogLevel::kInfo, "job_created").Add("job_id", id).Add("stages", 3);
//
// Fields are written in the order added. Keys must be [a-z0-9_] (not
// checked). Not thread-safe (one line is built by one thread).
class LogLine {
 public:
  LogLine(LogLevel level, absl::string_view event);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  LogLine& Add(absl::string_view key, absl::string_view value);
  LogLine& Add(absl::string_view key, const char* value) {
    return Add(key, absl::string_view(value));
  }
  LogLine& Add(absl::string_view key, const std::string& value) {
    return Add(key, absl::string_view(value));
  }
  LogLine& Add(absl::string_view key, int64_t value);
  LogLine& Add(absl::string_view key, int value) { return Add(key, static_cast<int64_t>(value)); }
  // Six significant digits ("%.6g"): 0.05, 1e-05, 0.333333, inf, nan.
  LogLine& Add(absl::string_view key, double value);
  LogLine& Add(absl::string_view key, bool value);
  // code=<CODE_NAME> error=<message> (nothing for OK).
  LogLine& AddStatus(const absl::Status& status);

 private:
  const bool enabled_;
  std::string text_;
};

// `value` as a log field value: as is, or quoted and escaped (see above).
std::string LogValue(absl::string_view value);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_LOG_H_
