#include "server/log.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace autolrs::server {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

absl::Mutex g_sink_mu(absl::kConstInit);
std::function<void(absl::string_view)>* g_sink ABSL_GUARDED_BY(g_sink_mu) = nullptr;

void Write(absl::string_view line) {
  {
    absl::MutexLock lock(&g_sink_mu);
    if (g_sink != nullptr) {
      (*g_sink)(line);
      return;
    }
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
}

bool NeedsQuotes(absl::string_view value) {
  if (value.empty()) return true;
  for (unsigned char c : value) {
    if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warning" || lower == "warn") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("log level must be debug, info, warning or error, got '", name, "'"));
}

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void SetLogSink(std::function<void(absl::string_view line)> sink) {
  auto* next = sink ? new std::function<void(absl::string_view)>(std::move(sink)) : nullptr;
  absl::MutexLock lock(&g_sink_mu);
  delete g_sink;
  g_sink = next;
}

std::string LogValue(absl::string_view value) {
  if (!NeedsQuotes(value)) return std::string(value);
  std::string out = "\"";
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < ' ' || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\x%02x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

LogLine::LogLine(LogLevel level, absl::string_view event) : enabled_(LogEnabled(level)) {
  if (!enabled_) return;
  text_ = absl::StrCat(
      "ts=", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      " level=", LogLevelName(level), " event=", LogValue(event));
}

LogLine::~LogLine() {
  if (!enabled_) return;
  text_.push_back('\n');
  Write(text_);
}

LogLine& LogLine::Add(absl::string_view key, absl::string_view value) {
  if (enabled_) absl::StrAppend(&text_, " ", key, "=", LogValue(value));
  return *this;
}

LogLine& LogLine::Add(absl::string_view key, int64_t value) {
  if (enabled_) absl::StrAppend(&text_, " ", key, "=", value);
  return *this;
}

LogLine& LogLine::Add(absl::string_view key, double value) {
  if (!enabled_) return *this;
  std::string text;
  if (std::isnan(value)) {
    text = "nan";
  } else if (std::isinf(value)) {
    text = value > 0 ? "inf" : "-inf";
  } else {
    text = absl::StrFormat("%.6g", value);
  }
  absl::StrAppend(&text_, " ", key, "=", text);
  return *this;
}

LogLine& LogLine::Add(absl::string_view key, bool value) {
  if (enabled_) absl::StrAppend(&text_, " ", key, "=", value ? "true" : "false");
  return *this;
}

LogLine& LogLine::AddStatus(const absl::Status& status) {
  if (!enabled_ || status.ok()) return *this;
  Add("code", absl::StatusCodeToString(status.code()));
  return Add("error", status.message());
}

}  // namespace autolrs::server
