#include "server/token_table.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace autolrs::server {
namespace {

constexpr char kAlice[] = "alice-token-0123456789";
constexpr char kBob[] = "bob-token-0123456789ab";
constexpr char kRoot[] = "root-token-0123456789a";

TEST(TokenTableTest, MapsTokensToTenantsAndAdmins) {
  auto table = TokenTable::Parse(
      absl::StrCat("# comment\n\n", kAlice, " alice\n", kBob, "\tbob\n  ", kRoot, " ops admin  \n"),
      "tokens");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 3);
  auto alice = table->Find(kAlice);
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->tenant, "alice");
  EXPECT_FALSE(alice->admin);
  EXPECT_EQ(table->Find(kBob)->tenant, "bob");
  EXPECT_TRUE(table->Find(kRoot)->admin);
  EXPECT_EQ(table->Find(kRoot)->tenant, "ops");
  EXPECT_FALSE(table->Find("alice-token-012345678").has_value());    // A prefix.
  EXPECT_FALSE(table->Find("alice-token-01234567899").has_value());  // Longer.
  EXPECT_FALSE(table->Find("").has_value());
}

TEST(TokenTableTest, RefusesBadLinesNamingTheLineNotTheToken) {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"short alice\n", "line 1: the token must be 16 to 256"},
      {absl::StrCat("\n", kAlice, "\n"), "line 2: expected '<token> <tenant> [admin]'"},
      {absl::StrCat(kAlice, " al/ice\n"), "line 1: the tenant must be"},
      {absl::StrCat(kAlice, " alice root\n"), "line 1: the third field may only be 'admin'"},
      {absl::StrCat(kAlice, " alice\n", kAlice, " bob\n"), "line 2: this token appears"},
      {"# only a comment\n", "holds no token"},
  };
  for (const Case& c : cases) {
    auto table = TokenTable::Parse(c.text, "f");
    ASSERT_FALSE(table.ok()) << c.text;
    EXPECT_TRUE(absl::IsInvalidArgument(table.status()));
    EXPECT_NE(table.status().message().find(c.error), std::string::npos) << table.status();
    EXPECT_EQ(table.status().message().find(kAlice), std::string::npos) << "quotes the token";
  }
}

TEST(AuthenticatorTest, NeedsABearerTokenAndTakesReplacements) {
  Authenticator none(std::nullopt);
  EXPECT_TRUE(none.Authenticate(std::nullopt)->admin);

  Authenticator auth(*TokenTable::Parse(absl::StrCat(kAlice, " alice\n"), "f"));
  EXPECT_TRUE(absl::IsUnauthenticated(auth.Authenticate(std::nullopt).status()));
  EXPECT_TRUE(absl::IsUnauthenticated(auth.Authenticate(kAlice).status()));  // No "Bearer ".
  EXPECT_EQ(auth.Authenticate(absl::StrCat("Bearer ", kAlice))->tenant, "alice");
  auth.Replace(*TokenTable::Parse(absl::StrCat(kBob, " bob\n"), "f"));
  EXPECT_TRUE(absl::IsUnauthenticated(auth.Authenticate(absl::StrCat("Bearer ", kAlice)).status()));
  EXPECT_EQ(auth.Authenticate(absl::StrCat("Bearer ", kBob))->tenant, "bob");
}

TEST(ConstantTimeEqualsTest, ComparesLikeEquality) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abcd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", ""));
}

}  // namespace
}  // namespace autolrs::server
