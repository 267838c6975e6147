#include "server/stored_job_codec.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace autolrs::server {
namespace {

JobState ThreeStages() {
  JobState s;
  s.set_version(7);
  s.set_request_id("req");
  s.mutable_job()->set_job_id("job-1");
  s.mutable_job()->set_steps_spent(1234);
  s.mutable_schedule()->set_job_id("job-1");
  s.mutable_schedule()->set_warmup_steps(50);
  for (int i = 0; i < 3; ++i) {
    v1::Stage* stage = s.mutable_schedule()->add_stages();
    stage->set_index(i);
    stage->set_tau(100 << i);
    stage->add_probes()->set_lr(0.01 * (i + 1));
  }
  s.mutable_action()->set_action_id(9);
  s.add_pending_reports()->add_losses(1.5);
  s.set_saved_best_probe(2);
  return s;
}

struct Encoded {
  std::string head;
  std::vector<std::string> stages;
  std::vector<StoredStage> Stored() const {
    std::vector<StoredStage> out;
    for (size_t i = 0; i < stages.size(); ++i) {
      out.push_back({static_cast<int64_t>(i), stages[i], Crc32c(stages[i])});
    }
    return out;
  }
};

Encoded Encode(const JobState& s) {
  Encoded e{EncodeHead(s), {}};
  for (const v1::Stage& stage : s.schedule().stages()) e.stages.push_back(EncodeStage(stage));
  return e;
}

TEST(StoredJobCodecTest, Crc32cOfTheCheckString) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(StoredJobCodecTest, HeadKeepsEverythingButTheStages) {
  const JobState s = ThreeStages();
  JobState head;
  ASSERT_TRUE(head.ParseFromString(EncodeHead(s)));
  JobState expected = s;
  expected.mutable_schedule()->clear_stages();
  EXPECT_EQ(head.SerializeAsString(), expected.SerializeAsString());
}

TEST(StoredJobCodecTest, RoundTrip) {
  const JobState s = ThreeStages();
  const Encoded e = Encode(s);
  absl::StatusOr<JobState> decoded =
      DecodeStoredJob("job-1", e.head, Crc32c(e.head), 3, e.Stored());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->SerializeAsString(), s.SerializeAsString());
}

TEST(StoredJobCodecTest, EveryCorruptionIsDataLoss) {
  const Encoded e = Encode(ThreeStages());
  const int64_t crc = Crc32c(e.head);
  std::string flipped = e.head;
  flipped[flipped.size() / 2] ^= 0x10;
  EXPECT_TRUE(absl::IsDataLoss(DecodeStoredJob("job-1", flipped, crc, 3, e.Stored()).status()));
  // Another job's head.
  EXPECT_TRUE(absl::IsDataLoss(DecodeStoredJob("job-2", e.head, crc, 3, e.Stored()).status()));
  // A stage's bytes changed.
  Encoded bad_stage = e;
  bad_stage.stages[1][2] ^= 0x01;
  std::vector<StoredStage> stored = e.Stored();
  stored[1].bytes = bad_stage.stages[1];
  absl::Status s = DecodeStoredJob("job-1", e.head, crc, 3, stored).status();
  EXPECT_TRUE(absl::IsDataLoss(s));
  EXPECT_NE(s.message().find("stage 1"), absl::string_view::npos) << s;
  // A stage missing, or one too many.
  stored = e.Stored();
  stored.erase(stored.begin() + 1);
  EXPECT_TRUE(absl::IsDataLoss(DecodeStoredJob("job-1", e.head, crc, 3, stored).status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeStoredJob("job-1", e.head, crc, 2, e.Stored()).status()));
  // Bytes that are not a JobState at all, with a matching checksum.
  const std::string garbage = "\xff\xff\xff\xff";
  EXPECT_TRUE(absl::IsDataLoss(DecodeStoredJob("job-1", garbage, Crc32c(garbage), 0, {}).status()));
}

}  // namespace
}  // namespace autolrs::server
