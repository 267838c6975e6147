// Every way the real autolrs_server binary can fail to start prints what was
// wrong and exits non-zero (no crash, no second server on a port or database
// already in use).
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/server_process.h"

namespace autolrs {
namespace {

using autolrs::testing::ExitResult;
using autolrs::testing::ServerProcess;

constexpr char kServer[] = "server/autolrs_server";

// Runs the server with `args` and expects it to exit non-zero on its own,
// printing `message`.
void ExpectStartFails(const std::vector<std::string>& args, const std::string& message) {
  absl::StatusOr<ExitResult> result = ServerProcess::RunToExit(kServer, args, absl::Seconds(20));
  ASSERT_TRUE(result.ok()) << result.status() << " (the server kept running)";
  ASSERT_TRUE(WIFEXITED(result->wait_status))
      << "killed by signal " << WTERMSIG(result->wait_status) << "; stderr:\n"
      << result->stderr_text;
  EXPECT_NE(WEXITSTATUS(result->wait_status), 0);
  EXPECT_NE(result->stderr_text.find(message), std::string::npos)
      << "expected '" << message << "' in:\n"
      << result->stderr_text;
}

std::string TempPath(const std::string& name) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::remove(path.c_str());
  return path;
}

TEST(ServerStartupTest, UnknownStoreScheme) {
  ExpectStartFails({"--listen=127.0.0.1:0", "--store=mysql://db"},
                   "store must be 'sqlite:<path>', 'memory:' or 'postgresql://...'");
}

TEST(ServerStartupTest, UnreachablePostgresqlNamesItWithoutThePassword) {
  // Nothing listens on port 1.
  const std::vector<std::string> args = {"--listen=127.0.0.1:0",
                                         "--store=postgresql://u:topsecret@127.0.0.1:1/jobs"};
  ExpectStartFails(args, "cannot connect to 'postgresql://u:***@127.0.0.1:1/jobs'");
  absl::StatusOr<ExitResult> result = ServerProcess::RunToExit(kServer, args, absl::Seconds(20));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->stderr_text.find("topsecret"), std::string::npos) << result->stderr_text;
}

TEST(ServerStartupTest, MalformedPostgresqlUri) {
  ExpectStartFails({"--listen=127.0.0.1:0", "--store=postgresql://h/db?no_such_option=1"},
                   "bad connection URI");
}

TEST(ServerStartupTest, StoreDirectoryCannotBeCreated) {
  const std::string file = TempPath("a_regular_file");
  std::ofstream(file) << "not a directory";
  ExpectStartFails({"--listen=127.0.0.1:0", "--store=sqlite:" + file + "/sub/jobs.db"},
                   "cannot create directory");
}

TEST(ServerStartupTest, StorePathIsADirectory) {
  ExpectStartFails({"--listen=127.0.0.1:0", "--store=sqlite:" + ::testing::TempDir()},
                   "cannot open");
}

TEST(ServerStartupTest, StoreFileIsNotADatabase) {
  const std::string db = TempPath("garbage.db");
  std::ofstream out(db);
  for (int i = 0; i < 4096; ++i) out << "garbage!";
  out.close();
  ExpectStartFails({"--listen=127.0.0.1:0", "--store=sqlite:" + db}, "not a database");
}

TEST(ServerStartupTest, MalformedListenAddress) {
  ExpectStartFails({"--listen=no-such-host.invalid:notaport", "--store=memory:"},
                   "cannot listen on 'no-such-host.invalid:notaport'");
}

TEST(ServerStartupTest, PortAlreadyInUse) {
  auto first = ServerProcess::Start(kServer, "memory:");
  ASSERT_TRUE(first.ok()) << first.status();
  ExpectStartFails({"--listen=127.0.0.1:" + std::to_string((*first)->port()), "--store=memory:"},
                   "cannot listen on '127.0.0.1:");
}

TEST(ServerStartupTest, DatabaseInUseByAnotherServer) {
  const std::string db = TempPath("shared.db");
  auto first = ServerProcess::Start(kServer, "sqlite:" + db);
  ASSERT_TRUE(first.ok()) << first.status();
  ExpectStartFails({"--listen=127.0.0.1:0", "--store=sqlite:" + db},
                   "is in use by another process");
}

TEST(ServerStartupTest, BadTokenFileNamesTheLineNotTheToken) {
  const std::string tokens = TempPath("tokens");
  std::ofstream(tokens) << "# tenants\ntoo-short team-a\n";
  ExpectStartFails({"--listen=127.0.0.1:0", "--store=memory:", "--token_file=" + tokens},
                   "line 2: the token must be 16 to 256");
  const std::string legacy = TempPath("legacy_token");
  std::ofstream(legacy) << "legacy-token\n";
  ExpectStartFails({"--listen=127.0.0.1:0", "--store=memory:", "--token_file=" + tokens,
                    "--auth_token_file=" + legacy},
                   "--token_file and --auth_token_file exclude each other");
}

TEST(ServerStartupTest, TlsKeyThatIsNotTheCertificates) {
  const std::string cert = TempPath("cert.pem"), key = TempPath("key.pem");
  std::ofstream(cert) << "not a certificate";
  std::ofstream(key) << "not a key";
  ExpectStartFails({"--listen=127.0.0.1:0", "--store=memory:", "--tls_cert_file=" + cert,
                    "--tls_key_file=" + key},
                   "holds no PEM certificate");
}

TEST(ServerStartupTest, UnreadableTokenFile) {
  ExpectStartFails(
      {"--listen=127.0.0.1:0", "--store=memory:", "--auth_token_file=" + TempPath("no_such_token")},
      "cannot read a token");
}

}  // namespace
}  // namespace autolrs
