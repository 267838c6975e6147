#include "bench/run_cache.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/bench_config.h"
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

// A family of 3 runs in `root`, recorded in database `token`, named `name`.
struct FamilyFixture {
  std::vector<std::string> dirs;
  std::vector<std::vector<std::string>> args;
  explicit FamilyFixture(const std::string& root) {
    for (int r = 1; r <= 3; ++r) {
      dirs.push_back(absl::StrCat(root, "/r", r));
      mkdir(dirs.back().c_str(), 0755);
      args.push_back(
          {absl::StrCat("--seed=", 1000 + r),
           absl::StrCat("--job_config=probe_ratio: 0.1 family: \"", kFamilyPlaceholder, "\"")});
    }
  }
  std::vector<std::string> Inputs(const std::string& name, const std::string& server = "s1") {
    std::vector<std::string> out;
    for (const auto& a : args) out.push_back(RunInputs(WithFamilyName(a, name), "t1", server));
    return out;
  }
  std::vector<std::string> Unnamed() {
    std::vector<std::string> out;
    for (const auto& a : args) out.push_back(RunInputs(a, "t1", "s1"));
    return out;
  }
  void Record(const std::string& name, const std::string& token) {
    const std::vector<std::string> inputs = Inputs(name);
    for (size_t r = 0; r < dirs.size(); ++r) {
      ASSERT_TRUE(WriteDbToken(dirs[r], token).ok());
      ASSERT_TRUE(MarkDone(dirs[r], inputs[r]).ok());
    }
  }
};

TEST(FamilyCacheTest, NamesAreValidAndNewPerGenerationAndKey) {
  const std::string key = FamilyKey({"a\n", "b\n"});
  EXPECT_EQ(key.size(), 16u);
  EXPECT_NE(key, FamilyKey({"a\nb\n"})) << "run boundaries matter";
  EXPECT_NE(key, FamilyKey({"b\n", "a\n"}));
  const std::string g1 = *FamilyName("mlp-sgd-t15-f1", key, 1);
  const std::string g2 = *FamilyName("mlp-sgd-t15-f1", key, 2);
  EXPECT_EQ(g1, absl::StrCat("mlp-sgd-t15-f1-", key.substr(0, 8), "-g1"));
  EXPECT_NE(g1, g2);
  EXPECT_NE(g1, *FamilyName("mlp-sgd-t15-f1", FamilyKey({"c\n"}), 1));
  EXPECT_NE(g1, *FamilyName("mlp-sgd-t15-f2", key, 1));
  EXPECT_EQ(FamilyName("Bad Slot", key, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FamilyName(std::string(60, 'a'), key, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WithFamilyName({"x", absl::StrCat("family: \"", kFamilyPlaceholder, "\"")}, "n"),
            (std::vector<std::string>{"x", "family: \"n\""}));
}

TEST(FamilyCacheTest, StateRoundTripsAndMissingOrBrokenStateIsGenerationZero) {
  const std::string dir = TempDir();
  EXPECT_EQ(ReadFamilyState(dir + "/none").generation, 0);
  ASSERT_TRUE(WriteFamilyState(dir + "/s", {4, "mlp-sgd-t15-f1-0123abcd-g4"}).ok());
  const FamilyState state = ReadFamilyState(dir + "/s");
  EXPECT_EQ(state.generation, 4);
  EXPECT_EQ(state.name, "mlp-sgd-t15-f1-0123abcd-g4");
  Write(dir + "/broken", "generation x\nname y\n");
  EXPECT_EQ(ReadFamilyState(dir + "/broken").generation, 0);
  EXPECT_TRUE(ReadFamilyState(dir + "/broken").name.empty());
}

TEST(FamilyCacheTest, AFamilyIsReusedWholeOnlyWhenEveryRunAndTheDatabaseMatch) {
  FamilyFixture f(TempDir());
  const std::string name = *FamilyName("t-f1", FamilyKey(f.Unnamed()), 1);
  EXPECT_FALSE(CanReuseFamily(f.dirs, f.Inputs(name))) << "never run";
  f.Record(name, "db-a");
  EXPECT_TRUE(CanReuseFamily(f.dirs, f.Inputs(name)));
  // Another name (a later generation) is not the recorded family.
  EXPECT_FALSE(CanReuseFamily(f.dirs, f.Inputs(name + "x")));
  // A changed server binary changes every run.
  EXPECT_FALSE(CanReuseFamily(f.dirs, f.Inputs(name, "s2")));
  // Run 3 recorded in another database: the family is not one history.
  ASSERT_TRUE(WriteDbToken(f.dirs[2], "db-b").ok());
  EXPECT_FALSE(CanReuseFamily(f.dirs, f.Inputs(name)));
  ASSERT_TRUE(WriteDbToken(f.dirs[2], "db-a").ok());
  EXPECT_TRUE(CanReuseFamily(f.dirs, f.Inputs(name)));
  // A run without a database token (e.g. from before families) is not reused.
  ASSERT_TRUE(Invalidate(f.dirs[0]).ok());
  ASSERT_TRUE(MarkDone(f.dirs[0], f.Inputs(name)[0]).ok());
  EXPECT_FALSE(CanReuseFamily(f.dirs, f.Inputs(name)));
}

TEST(FamilyCacheTest, AChangedEarlierRunForcesTheWholeFamilyUnderANewName) {
  FamilyFixture f(TempDir());
  const std::string first = *FamilyName("t-f1", FamilyKey(f.Unnamed()), 1);
  f.Record(first, "db-a");
  ASSERT_TRUE(CanReuseFamily(f.dirs, f.Inputs(first)));
  // Run 1's arguments change: runs 2 and 3 are unchanged but learned from
  // the old run 1, so none of them may be reused...
  f.args[0][0] = "--seed=999";
  EXPECT_FALSE(CanReuseFamily(f.dirs, f.Inputs(first)));
  // ...and the family gets a name it never had: the key changed, and so
  // would the generation.
  const std::string key = FamilyKey(f.Unnamed());
  const std::string renamed = *FamilyName("t-f1", key, 2);
  EXPECT_NE(renamed, first);
  EXPECT_NE(*FamilyName("t-f1", key, 1), first);
  // Only once all three ran again under the new name in one database is it reused.
  f.Record(renamed, "db-b");
  EXPECT_TRUE(CanReuseFamily(f.dirs, f.Inputs(renamed)));
  EXPECT_FALSE(CanReuseFamily(f.dirs, f.Inputs(first)));
  // Invalidate (before a run starts) also forgets the run's database.
  ASSERT_TRUE(Invalidate(f.dirs[1]).ok());
  EXPECT_EQ(ReadDbToken(f.dirs[1]), "");
}

}  // namespace
}  // namespace autolrs::bench
