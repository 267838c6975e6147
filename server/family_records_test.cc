// The family record format and the contract's checks (family_records.h).
#include "server/family_records.h"

#include <string>

#include "gtest/gtest.h"
#include "server/stored_job_codec.h"

namespace autolrs::server {
namespace {

FamilyState Family(const std::string& tenant, const std::string& name, int64_t version) {
  FamilyState s;
  s.set_version(version);
  s.mutable_family()->set_tenant(tenant);
  s.mutable_family()->set_name(name);
  v1::FamilyRun* run = s.mutable_family()->add_runs();
  run->set_job_id("j1");
  run->add_stages()->set_lr(0.1);
  return s;
}

TEST(FamilyRecordsTest, RoundTrip) {
  const FamilyState family = Family("acme", "f", 3);
  const std::string record = EncodeFamily(family);
  absl::StatusOr<FamilyState> got = DecodeStoredFamily("acme", "f", 3, record, Crc32c(record));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->SerializeAsString(), family.SerializeAsString());
}

TEST(FamilyRecordsTest, EveryMismatchIsDataLossNamingTheFamily) {
  const std::string record = EncodeFamily(Family("acme", "f", 3));
  const int64_t crc = Crc32c(record);
  const std::string garbage = "\xff\xff\xff\xff";
  struct Case {
    const char* what;
    absl::StatusOr<FamilyState> got;
    const char* says;
  } cases[] = {
      {"checksum", DecodeStoredFamily("acme", "f", 3, record, crc ^ 1), "checksum"},
      {"parse", DecodeStoredFamily("acme", "f", 3, garbage, Crc32c(garbage)), "does not parse"},
      {"name", DecodeStoredFamily("acme", "g", 3, record, crc), "belongs to family 'f'"},
      {"tenant", DecodeStoredFamily("other", "f", 3, record, crc), "of tenant 'acme'"},
      {"version", DecodeStoredFamily("acme", "f", 4, record, crc), "holds version 3"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(absl::IsDataLoss(c.got.status())) << c.what << ": " << c.got.status();
    EXPECT_NE(c.got.status().message().find(c.says), absl::string_view::npos)
        << c.what << ": " << c.got.status();
    EXPECT_NE(c.got.status().message().find("family '"), absl::string_view::npos) << c.what;
  }
}

TEST(FamilyRecordsTest, WritesNeedANameAndAVersionOfAtLeastOne) {
  EXPECT_TRUE(CheckFamilyWrite(Family("", "f", 1)).ok());
  EXPECT_TRUE(CheckFamilyWrite(Family("t", "f", 9)).ok());
  absl::Status no_name = CheckFamilyWrite(Family("t", "", 1));
  EXPECT_TRUE(absl::IsInvalidArgument(no_name));
  EXPECT_NE(no_name.message().find("needs a name"), absl::string_view::npos) << no_name;
  absl::Status zero = CheckFamilyWrite(Family("t", "f", 0));
  EXPECT_TRUE(absl::IsInvalidArgument(zero));
  EXPECT_NE(zero.message().find("family 'f' of tenant 't'"), absl::string_view::npos) << zero;
}

TEST(FamilyRecordsTest, PlaceholderHoldsOnlyNameAndTenant) {
  const FamilyState p = FamilyPlaceholder("acme", "f");
  FamilyState expected;
  expected.mutable_family()->set_name("f");
  expected.mutable_family()->set_tenant("acme");
  EXPECT_EQ(p.SerializeAsString(), expected.SerializeAsString());
  EXPECT_EQ(p.version(), 0);
}

}  // namespace
}  // namespace autolrs::server
