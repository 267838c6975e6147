#include "server/log.h"

#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace autolrs::server {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([this](absl::string_view line) { lines_.emplace_back(line); });
    SetLogLevel(LogLevel::kInfo);
  }
  void TearDown() override {
    SetLogSink(nullptr);
    SetLogLevel(LogLevel::kInfo);
  }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, WritesOneKeyValueLine) {
  LogLine(LogLevel::kInfo, "stage_chosen")
      .Add("job_id", "a-1")
      .Add("stage", 3)
      .Add("lr", 0.05)
      .Add("done", false);
  ASSERT_EQ(lines_.size(), 1u);
  const std::string& line = lines_[0];
  EXPECT_EQ(line.rfind("ts=", 0), 0u) << line;
  EXPECT_NE(line.find(" level=info event=stage_chosen job_id=a-1 stage=3 lr=0.05 done=false\n"),
            std::string::npos)
      << line;
}

TEST_F(LogTest, QuotesValuesThatWouldSplit) {
  EXPECT_EQ(LogValue("plain"), "plain");
  EXPECT_EQ(LogValue(""), "\"\"");
  EXPECT_EQ(LogValue("a b"), "\"a b\"");
  EXPECT_EQ(LogValue("k=v"), "\"k=v\"");
  EXPECT_EQ(LogValue("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
  EXPECT_EQ(LogValue(std::string("\x01", 1)), "\"\\x01\"");
}

TEST_F(LogTest, DropsLinesBelowTheLevel) {
  SetLogLevel(LogLevel::kWarning);
  LogLine(LogLevel::kInfo, "job_created").Add("job_id", "x");
  LogLine(LogLevel::kError, "store_error").AddStatus(absl::UnavailableError("disk full"));
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("level=error event=store_error code=UNAVAILABLE error=\"disk full\""),
            std::string::npos)
      << lines_[0];
}

TEST_F(LogTest, DoublesHaveSixSignificantDigits) {
  LogLine(LogLevel::kInfo, "e")
      .Add("a", 0.1)
      .Add("b", 1e-5)
      .Add("c", 1.0 / 3)
      .Add("d", std::numeric_limits<double>::infinity());
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find(" a=0.1 b=1e-05 c=0.333333 d=inf\n"), std::string::npos) << lines_[0];
}

TEST(ParseLogLevelTest, AcceptsTheFourNames) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("INFO"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  absl::StatusOr<LogLevel> bad = ParseLogLevel("verbose");
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_NE(bad.status().message().find("verbose"), absl::string_view::npos);
}

}  // namespace
}  // namespace autolrs::server
