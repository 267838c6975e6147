#include "bench/bench_config.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace autolrs::bench {
namespace {

bool Has(const RunSpec& r, const std::string& arg) {
  return std::find(r.args.begin(), r.args.end(), arg) != r.args.end();
}

TEST(TasksTest, EightTasksInTwoGroupsAndTheLongBudgetsAreFourTimes) {
  const std::vector<Task>& tasks = Tasks();
  ASSERT_GE(tasks.size(), 6u);
  int dev = 0, held_out = 0;
  std::map<std::string, const Task*> by_name;
  for (const Task& t : tasks) {
    (t.group == Group::kDev ? dev : held_out)++;
    by_name[t.name] = &t;
    EXPECT_LT(t.lr_min, t.textbook_lr) << t.name;
    EXPECT_GT(t.lr_max, t.textbook_lr) << t.name;
    EXPECT_FALSE(t.parameter_free.empty()) << t.name;
  }
  EXPECT_EQ(dev, 5);
  EXPECT_EQ(held_out, 3);
  // A dev task with a long budget, so that a long budget's rules are not
  // chosen on the held-out one.
  ASSERT_TRUE(by_name.count("mlp-adam-long"));
  EXPECT_EQ(by_name["mlp-adam-long"]->group, Group::kDev);
  for (const auto& [base, longer] : {std::pair<std::string, std::string>{"mlp-sgd", "mlp-sgd-long"},
                                     {"mlp-adam", "mlp-adam-long"}}) {
    ASSERT_TRUE(by_name.count(base) && by_name.count(longer)) << longer;
    EXPECT_GE(by_name[longer]->steps, 4 * by_name[base]->steps) << longer;
    EXPECT_GE(by_name[longer]->quick_steps, 4 * by_name[base]->quick_steps) << longer;
  }
}

TEST(PlanTest, RunsEveryMethodOncePerSeedAndAutoLrsPerStageSetting) {
  PlanOptions options;
  options.seeds = 2;
  options.grid_size = 4;
  options.tasks = {0};  // mlp-sgd
  absl::StatusOr<std::vector<Variant>> variants = SelectVariants("", {});
  ASSERT_TRUE(variants.ok());
  options.variants = *variants;
  const std::vector<RunSpec> specs = Plan(options);
  const size_t per_seed = 3 * 4 + 2 + Tasks()[0].parameter_free.size() +
                          StageSettings().size() * options.variants.size();
  EXPECT_EQ(specs.size(), 2 * per_seed);
  std::set<std::string> ids;
  for (const RunSpec& r : specs) {
    EXPECT_TRUE(ids.insert(r.id).second) << "duplicate id " << r.id;
    EXPECT_LE(r.id.size(), 63u) << r.id;
    EXPECT_TRUE(Has(r, "--total_steps=3000"));
    EXPECT_TRUE(Has(r, "--eval_every=75"));
    EXPECT_EQ(r.kind == Kind::kAutoLrs, r.setting >= 0);
  }
}

TEST(PlanTest, ArgumentsOfEachKind) {
  PlanOptions options;
  options.seeds = 1;
  options.grid_size = 8;
  options.quick = true;
  options.tasks = {2};  // mlp-adam
  options.variants = {BuiltinVariants()[0]};
  std::map<std::string, RunSpec> by_id;
  for (const RunSpec& r : Plan(options)) by_id[r.id] = r;
  const int64_t s = Tasks()[2].quick_steps;
  ASSERT_TRUE(by_id.count("mlp-adam-t30-reference-s1"));
  const RunSpec& autolrs = by_id["mlp-adam-t30-reference-s1"];
  // tau_initial = S/30, but at least 10 steps.
  EXPECT_TRUE(Has(autolrs, "--tau_initial=" + std::to_string(std::max<int64_t>(10, s / 30))));
  EXPECT_TRUE(Has(autolrs, "--tau_max=" + std::to_string(s / 4)));
  EXPECT_TRUE(Has(autolrs, "--preset=reference"));
  EXPECT_TRUE(Has(autolrs, "--optimizer=adam"));
  EXPECT_TRUE(Has(by_id["mlp-adam-t15-reference-s1"], "--tau_initial=" + std::to_string(s / 15)));
  EXPECT_TRUE(Has(by_id["mlp-adam-textbook-s1"], "--lr=0.001"));
  EXPECT_TRUE(Has(by_id["mlp-adam-textbook-s1"], "--schedule=cosine"));
  EXPECT_TRUE(Has(by_id["mlp-adam-range-cosine-s1"], "--schedule=range-cosine"));
  EXPECT_TRUE(Has(by_id["mlp-adam-prodigy-s1"], "--optimizer=prodigy"));
  EXPECT_FALSE(Has(by_id["mlp-adam-prodigy-s1"], "--optimizer=adam"));
  EXPECT_TRUE(Has(by_id["mlp-adam-cosine-g8-7-s1"], "--schedule=cosine"));
}

// The arguments are a run's identity for reuse (run_cache.h): changing their
// text or order reruns every finished run. Pinned here so it is deliberate.
TEST(PlanTest, ArgumentsAreStable) {
  PlanOptions options;
  options.seeds = 1;
  options.grid_size = 8;
  options.tasks = {0};
  for (const RunSpec& r : Plan(options)) {
    if (r.id != "mlp-sgd-dog-s1") continue;
    EXPECT_EQ(r.args, (std::vector<std::string>{"--model=mlp", "--total_steps=3000", "--seed=1",
                                                "--batch_size=128", "--threads=1",
                                                "--eval_every=75", "--optimizer=dog",
                                                "--schedule=constant", "--lr=1"}));
    return;
  }
  ADD_FAILURE() << "no mlp-sgd-dog-s1 run";
}

TEST(VariantsTest, ParsesExtraVariantsAsProtobufText) {
  absl::StatusOr<std::vector<Variant>> v = ParseVariants(
      "notol=recommended:choice_tolerance: 0; k6=recommended:later_stage_probes: 6 "
      "reuse_best_probe: true");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 2u);
  EXPECT_EQ((*v)[0].name, "notol");
  EXPECT_EQ((*v)[0].job_config, "choice_tolerance: 0");
  EXPECT_EQ((*v)[1].job_config, "later_stage_probes: 6 reuse_best_probe: true");
  EXPECT_FALSE(ParseVariants("recommended=recommended:").ok()) << "built-in name";
  EXPECT_FALSE(ParseVariants("a=b:").ok()) << "unknown preset";
  EXPECT_FALSE(ParseVariants("Bad=recommended:").ok());
  EXPECT_FALSE(ParseVariants("x=recommended:;x=reference:").ok());
  EXPECT_FALSE(ParseVariants("nothing").ok());
  EXPECT_TRUE(ParseVariants("").ok());
}

TEST(VariantsTest, SelectsDefaultsNamesOrAll) {
  absl::StatusOr<std::vector<Variant>> defaults = SelectVariants("", {});
  ASSERT_TRUE(defaults.ok());
  std::vector<std::string> names;
  for (const Variant& v : *defaults) names.push_back(v.name);
  EXPECT_EQ(names, (std::vector<std::string>{"reference", "recommended", "recommended-reuse"}));
  EXPECT_EQ(SelectVariants("all", {})->size(), BuiltinVariants().size());
  absl::StatusOr<std::vector<Variant>> extra = ParseVariants("x=reference:kappa: 1");
  absl::StatusOr<std::vector<Variant>> some = SelectVariants("recommended", *extra);
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->size(), 2u);
  EXPECT_EQ((*some)[1].name, "x");
  EXPECT_FALSE(SelectVariants("nope", {}).ok());
}

TEST(PlanTest, FamiliesRunInOrderWithDistinctSeedsAndThePlaceholderName) {
  PlanOptions options;
  options.seeds = 3;
  options.grid_size = 2;
  options.tasks = {0, 1};
  options.variants = {*FindBuiltinVariant("recommended")};
  options.families = 3;
  options.family_runs = 3;
  options.family_variant = *FindBuiltinVariant("recommended");
  const std::vector<RunSpec> specs = Plan(options);
  std::set<std::string> ids;
  std::set<int> plain_seeds;
  // (task, setting, family) -> seeds of its runs, in plan order.
  std::map<std::tuple<int, int, int>, std::vector<int>> runs;
  std::map<std::tuple<int, int, int>, std::set<std::string>> slots;
  std::set<std::tuple<int, int, int>> family_seeds;  // (task, setting, seed)
  for (const RunSpec& r : specs) {
    EXPECT_TRUE(ids.insert(r.id).second) << r.id;
    if (r.kind != Kind::kFamily) {
      plain_seeds.insert(r.seed);
      continue;
    }
    EXPECT_EQ(r.method, "family-recommended");
    EXPECT_GE(r.setting, 0);
    const auto key = std::make_tuple(r.task, r.setting, r.family);
    std::vector<int>& seq = runs[key];
    // Runs of a family appear in order 1, 2, 3.
    EXPECT_EQ(r.family_run, static_cast<int>(seq.size()) + 1) << r.id;
    seq.push_back(r.seed);
    slots[key].insert(r.family_slot);
    EXPECT_TRUE(family_seeds.insert({r.task, r.setting, r.seed}).second) << r.id;
    EXPECT_TRUE(Has(r, absl::StrCat("--seed=", r.seed)));
    EXPECT_TRUE(Has(r, absl::StrCat("--job_id=", r.id)));
    bool has_family = false;
    for (const std::string& a : r.args) {
      has_family |=
          a.find(absl::StrCat("family: \"", kFamilyPlaceholder, "\"")) != std::string::npos &&
          a.rfind("--job_config=", 0) == 0;
    }
    EXPECT_TRUE(has_family) << r.id;
  }
  EXPECT_EQ(runs.size(), 2u * StageSettings().size() * 3u);
  std::set<std::string> all_slots;
  for (const auto& [key, seeds] : runs) {
    EXPECT_EQ(seeds.size(), 3u);
    ASSERT_EQ(slots[key].size(), 1u);
    EXPECT_TRUE(all_slots.insert(*slots[key].begin()).second) << "slots are unique";
    for (int seed : seeds) EXPECT_EQ(plain_seeds.count(seed), 0u) << seed;
  }
  EXPECT_EQ(FamilySeed(0, 3), 1003);
  EXPECT_NE(FamilySeed(1, 1), FamilySeed(0, 1));
}

TEST(PlanTest, WsdGridOnlyWhenAskedFor) {
  PlanOptions options;
  options.seeds = 1;
  options.grid_size = 3;
  options.tasks = {0};
  std::set<std::string> methods;
  for (const RunSpec& r : Plan(options)) {
    if (r.kind == Kind::kGrid) methods.insert(r.method);
  }
  EXPECT_EQ(methods, (std::set<std::string>{"constant", "step", "cosine"}));

  options.grid_schedules = {"cosine", "wsd"};
  int wsd_runs = 0;
  methods.clear();
  for (const RunSpec& r : Plan(options)) {
    if (r.kind != Kind::kGrid) continue;
    methods.insert(r.method);
    if (r.method != "wsd") continue;
    ++wsd_runs;
    EXPECT_TRUE(Has(r, "--schedule=wsd")) << r.id;
  }
  EXPECT_EQ(methods, (std::set<std::string>{"cosine", "wsd"}));
  EXPECT_EQ(wsd_runs, 3);
}

TEST(PlanTest, NoFamiliesByDefault) {
  PlanOptions options;
  options.seeds = 1;
  options.grid_size = 2;
  options.tasks = {0};
  for (const RunSpec& r : Plan(options)) {
    EXPECT_NE(r.kind, Kind::kFamily) << r.id;
    EXPECT_NE(r.method, kLongCosine) << r.id;
  }
}

TEST(PlanTest, FamiliesAddTheCosineGridAt1point1S) {
  PlanOptions options;
  options.seeds = 2;
  options.grid_size = 3;
  options.tasks = {0};
  options.variants = {*FindBuiltinVariant("recommended")};
  options.families = 1;
  options.family_variant = *FindBuiltinVariant("recommended");
  const int64_t s = Steps(Tasks()[0], false);
  int long_runs = 0;
  for (const RunSpec& r : Plan(options)) {
    if (r.method != kLongCosine) continue;
    ++long_runs;
    EXPECT_EQ(r.kind, Kind::kGrid);
    EXPECT_EQ(r.steps, std::llround(1.1 * s));
    EXPECT_TRUE(Has(r, absl::StrCat("--total_steps=", r.steps))) << r.id;
    EXPECT_TRUE(Has(r, "--schedule=cosine")) << r.id;
    EXPECT_TRUE(Has(r, absl::StrCat("--eval_every=", s / 40))) << r.id;
  }
  EXPECT_EQ(long_runs, 2 * 3);
}

}  // namespace
}  // namespace autolrs::bench
