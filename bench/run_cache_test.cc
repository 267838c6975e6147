#include "bench/run_cache.h"

#include <stdlib.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace autolrs::bench {
namespace {

std::string TempDir() {
  char templ[] = "/tmp/run_cache_test.XXXXXX";
  return mkdtemp(templ);
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(RunCacheTest, FingerprintDependsOnContent) {
  const std::string dir = TempDir();
  Write(dir + "/a", "hello");
  Write(dir + "/b", "hellp");
  Write(dir + "/c", "hello");
  EXPECT_EQ(*FileFingerprint(dir + "/a"), *FileFingerprint(dir + "/c"));
  EXPECT_NE(*FileFingerprint(dir + "/a"), *FileFingerprint(dir + "/b"));
  EXPECT_EQ(FileFingerprint(dir + "/missing").status().code(), absl::StatusCode::kNotFound);
}

TEST(RunCacheTest, ReusesOnlyWhenEveryInputIsEqual) {
  const std::string dir = TempDir();
  const std::string inputs = RunInputs({"--model=mlp", "--lr=0.1"}, "t1", "s1");
  EXPECT_FALSE(CanReuse(dir, inputs)) << "never run";
  ASSERT_TRUE(MarkDone(dir, inputs).ok());
  EXPECT_TRUE(CanReuse(dir, inputs));
  EXPECT_FALSE(CanReuse(dir, RunInputs({"--model=mlp", "--lr=0.2"}, "t1", "s1")));
  EXPECT_FALSE(CanReuse(dir, RunInputs({"--model=mlp", "--lr=0.1"}, "t2", "s1")));
  EXPECT_FALSE(CanReuse(dir, RunInputs({"--model=mlp", "--lr=0.1"}, "t1", "s2")));
  EXPECT_FALSE(CanReuse(dir, RunInputs({"--model=mlp", "--lr=0.1"}, "t1", "")));
  ASSERT_TRUE(Invalidate(dir).ok());
  EXPECT_FALSE(CanReuse(dir, inputs));
  EXPECT_TRUE(Invalidate(dir).ok()) << "nothing to remove is fine";
}

TEST(RunCacheTest, IgnoringBinariesComparesOnlyArguments) {
  const std::string dir = TempDir();
  ASSERT_TRUE(MarkDone(dir, RunInputs({"--model=mlp", "--lr=0.1"}, "t1", "")).ok());
  EXPECT_TRUE(CanReuse(dir, RunInputs({"--model=mlp", "--lr=0.1"}, "t2", ""), true));
  EXPECT_FALSE(CanReuse(dir, RunInputs({"--model=mlp", "--lr=0.1"}, "t2", ""), false));
  EXPECT_FALSE(CanReuse(dir, RunInputs({"--model=mlp", "--lr=0.2"}, "t1", ""), true));
}

TEST(RunCacheTest, ArgumentBoundariesMatter) {
  EXPECT_NE(RunInputs({"--a=1", "--b=2"}, "t", ""), RunInputs({"--a=1 --b=2"}, "t", ""));
}

}  // namespace
}  // namespace autolrs::bench
