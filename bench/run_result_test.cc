#include "bench/run_result.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace autolrs::bench {
namespace {

RunSpec Spec(Kind kind, const std::string& method, double lr, int64_t steps) {
  RunSpec s;
  s.kind = kind;
  s.method = method;
  s.lr = lr;
  s.steps = steps;
  return s;
}

const char kFinal[] =
    "final: schedule=cosine test_loss=0.5 test_accuracy=0.8 val_loss=0.45 steps=4 "
    "model_steps=4 seconds=2.5\n";

TEST(ParseRunTest, BaselineRun) {
  const std::string csv =
      "step,phase,lr,loss,val_loss\n1,train,0.1,2.0,\n2,train,0.09,1.5,0.9\n"
      "3,train,0.05,1.2,\n4,train,0.01,1.0,\n";
  const RunResult r = ParseRun(Spec(Kind::kGrid, "cosine", 0.1, 4), kFinal, csv, nullptr);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_DOUBLE_EQ(r.seconds, 2.5);
  EXPECT_DOUBLE_EQ(r.test_accuracy, 0.8);
  ASSERT_EQ(r.curve.size(), 2u);  // step 2 from the CSV, step 4 from stdout
  EXPECT_EQ(r.curve[1].step, 4);
  EXPECT_DOUBLE_EQ(r.final_val, 0.45);
  EXPECT_EQ(r.probe_fraction, 0);
}

TEST(ParseRunTest, RejectsWrongStepCountsAndFirstLr) {
  const std::string csv =
      "step,phase,lr,loss,val_loss\n1,train,0.1,2.0,\n2,train,0.09,1.5,\n3,train,0.05,1.2,\n";
  EXPECT_FALSE(ParseRun(Spec(Kind::kGrid, "cosine", 0.1, 4), kFinal, csv, nullptr).ok);
  const std::string four = csv + "4,train,0.01,1.0,\n";
  const RunResult wrong_lr = ParseRun(Spec(Kind::kOneRun, "textbook", 0.2, 4), kFinal, four, nullptr);
  EXPECT_FALSE(wrong_lr.ok);
  EXPECT_NE(wrong_lr.error.find("step 1 ran at lr"), std::string::npos);
  EXPECT_FALSE(ParseRun(Spec(Kind::kGrid, "cosine", 0.1, 4), "no final line", four, nullptr).ok);
}

TEST(ParseRunTest, RangeTestSweepCountsAsProbeAndItsPeakIsRead) {
  const std::string csv =
      "step,phase,lr,loss,val_loss\n1,probe,1e-05,2.0,\n2,train,0.3,1.5,\n"
      "3,train,0.1,1.2,\n4,train,0.01,1.0,\n";
  const std::string out = absl::StrCat(
      "final: schedule=range-cosine test_loss=0.5 test_accuracy=0.8 val_loss=0.45 steps=4 "
      "model_steps=3 seconds=2.5 peak_lr=0.3 sweep_steps=1\n");
  const RunResult r = ParseRun(Spec(Kind::kOneRun, "range-cosine", 0, 4), out, csv, nullptr);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_DOUBLE_EQ(r.peak_lr, 0.3);
  EXPECT_DOUBLE_EQ(r.probe_fraction, 0.25);
}

TEST(ParseRunTest, AutoLrsMustFollowItsSchedule) {
  v1::Schedule schedule;
  v1::Stage* stage = schedule.add_stages();
  stage->add_probes()->set_lr(0.1);
  stage->add_probes()->set_lr(0.01);
  stage->set_chosen_lr(0.01);
  stage->mutable_training_loss()->set_count(2);
  const std::string csv =
      "step,phase,lr,loss,val_loss\n1,probe,0.1,2.0,\n2,probe,0.01,1.5,\n"
      "3,exploit,0.01,1.2,\n4,exploit,0.01,1.0,\n";
  const RunSpec spec = Spec(Kind::kAutoLrs, "autolrs-x", 0, 4);
  const RunResult ok = ParseRun(spec, kFinal, csv, &schedule);
  ASSERT_TRUE(ok.ok) << ok.error;
  EXPECT_DOUBLE_EQ(ok.probe_fraction, 0.5);
  EXPECT_DOUBLE_EQ(ok.discarded_probe_fraction, 0.5);
  EXPECT_DOUBLE_EQ(ok.model_steps, 4);
  // reuse_best_probe: the stage continued from its chosen probe (1 step),
  // which is then part of the model; every probe row still counts in
  // probe_fraction.
  stage->set_tau_probe(1);
  stage->set_continued_from_probe(true);
  const RunResult kept = ParseRun(spec, kFinal, csv, &schedule);
  ASSERT_TRUE(kept.ok) << kept.error;
  EXPECT_DOUBLE_EQ(kept.probe_fraction, 0.5);
  EXPECT_DOUBLE_EQ(kept.discarded_probe_fraction, 0.25);
  stage->set_continued_from_probe(false);
  stage->set_chosen_lr(0.1);  // The trainer ran 0.01: a mismatch.
  const RunResult bad = ParseRun(spec, kFinal, csv, &schedule);
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.error.find("do not follow"), std::string::npos);
  EXPECT_FALSE(ParseRun(spec, kFinal, csv, nullptr).ok) << "no schedule";
}

TEST(ParseRunTest, AnUndoneCooldownEndsAtTheKeptModelsValidationLoss) {
  v1::Schedule schedule;
  v1::Stage* stage = schedule.add_stages();
  stage->set_chosen_lr(0.01);
  stage->mutable_training_loss()->set_count(2);
  schedule.set_cooldown_lr(0.01);
  schedule.set_cooldown_steps(2);
  const std::string csv =
      "step,phase,lr,loss,val_loss\n1,exploit,0.01,2.0,\n2,exploit,0.01,1.5,0.5\n"
      "3,cooldown,0.006666666667,1.2,\n4,cooldown,0.003333333333,1.0,0.6\n";
  const RunSpec spec = Spec(Kind::kAutoLrs, "autolrs-x", 0, 4);
  const RunResult kept = ParseRun(spec, kFinal, csv, &schedule);
  ASSERT_TRUE(kept.ok) << kept.error;
  EXPECT_DOUBLE_EQ(kept.final_val, 0.6);  // The cooldown's model was kept.
  // DONE restored the model from before the cooldown; stdout evaluated it.
  schedule.set_cooldown_rolled_back(true);
  const RunResult undone = ParseRun(spec, kFinal, csv, &schedule);
  ASSERT_TRUE(undone.ok) << undone.error;
  EXPECT_DOUBLE_EQ(undone.final_val, 0.45);
  ASSERT_EQ(undone.curve.size(), 2u);
  EXPECT_EQ(undone.curve[1].step, 4);
  EXPECT_DOUBLE_EQ(undone.curve[1].val_loss, 0.45);
}

}  // namespace
}  // namespace autolrs::bench
