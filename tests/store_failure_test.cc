// The real server on a failing store: a full disk (RLIMIT_FSIZE, as one
// process sees a full disk) and a database file deleted while serving.
// Writes that cannot be made durable answer UNAVAILABLE (retryable), the
// gRPC health service says NOT_SERVING while the store fails and SERVING
// once it works again, and nothing acknowledged is lost.
#include <signal.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "testing/health_client.h"
#include "testing/server_process.h"

namespace autolrs {
namespace {

using autolrs::testing::AwaitHealth;
using autolrs::testing::ChildOptions;
using autolrs::testing::Health;
using autolrs::testing::ServerProcess;

constexpr char kServer[] = "server/autolrs_server";

std::string FreshDb(const std::string& name) {
  const std::string path = ::testing::TempDir() + "/" + name;
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  return path;
}

grpc::Status CreateJob(v1::AutoLrsService::Stub& stub, const std::string& id) {
  grpc::ClientContext ctx;
  v1::CreateJobRequest req;
  req.set_job_id(id);
  req.mutable_config()->set_lr_min(1e-3);
  req.mutable_config()->set_lr_max(1.0);
  v1::Job job;
  return stub.CreateJob(&ctx, req, &job);
}

grpc::Status GetJob(v1::AutoLrsService::Stub& stub, const std::string& id) {
  grpc::ClientContext ctx;
  v1::GetJobRequest req;
  req.set_job_id(id);
  v1::Job job;
  return stub.GetJob(&ctx, req, &job);
}

TEST(StoreFailureTest, FullDiskIsUnavailableAndHealthFollowsTheStore) {
  const std::string db = FreshDb("full.db");
  ChildOptions child;
  child.max_file_bytes = 192 << 10;
  child.stderr_path = ::testing::TempDir() + "/full_stderr.txt";
  auto server = ServerProcess::Start(kServer, "sqlite:" + db, {}, absl::Seconds(30), child);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::AutoLrsService::NewStub(channel);
  ASSERT_EQ(*AwaitHealth(channel, Health::kServing), Health::kServing);

  int acknowledged = 0;
  grpc::Status failed;
  for (; acknowledged < 1000; ++acknowledged) {
    failed = CreateJob(*stub, "job-" + std::to_string(acknowledged));
    if (!failed.ok()) break;
  }
  ASSERT_FALSE(failed.ok()) << "the file size limit was never reached";
  EXPECT_EQ(failed.error_code(), grpc::StatusCode::UNAVAILABLE) << failed.error_message();
  absl::StatusOr<Health> health = AwaitHealth(channel, Health::kNotServing);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, Health::kNotServing);

  // Space comes back: health recovers and writes succeed.
  struct rlimit limit;
  ASSERT_EQ(prlimit((*server)->pid(), RLIMIT_FSIZE, nullptr, &limit), 0) << std::strerror(errno);
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(prlimit((*server)->pid(), RLIMIT_FSIZE, &limit, nullptr), 0) << std::strerror(errno);
  health = AwaitHealth(channel, Health::kServing);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, Health::kServing);
  EXPECT_TRUE(CreateJob(*stub, "after").ok());

  // After a restart every acknowledged job is there, the failed one is not.
  (*server)->Stop(SIGTERM);
  server = ServerProcess::Start(kServer, "sqlite:" + db);
  ASSERT_TRUE(server.ok()) << server.status();
  stub = v1::AutoLrsService::NewStub(
      grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < acknowledged; ++i) {
    EXPECT_TRUE(GetJob(*stub, "job-" + std::to_string(i)).ok()) << i;
  }
  EXPECT_EQ(GetJob(*stub, "job-" + std::to_string(acknowledged)).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(GetJob(*stub, "after").ok());
}

TEST(StoreFailureTest, DeletedDatabaseStopsAcknowledgingWrites) {
  const std::string db = FreshDb("deleted.db");
  auto server = ServerProcess::Start(kServer, "sqlite:" + db);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::AutoLrsService::NewStub(channel);
  ASSERT_TRUE(CreateJob(*stub, "before").ok());
  ASSERT_EQ(*AwaitHealth(channel, Health::kServing), Health::kServing);
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  grpc::Status s = CreateJob(*stub, "after");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find("was deleted"), std::string::npos) << s.error_message();
  absl::StatusOr<Health> health = AwaitHealth(channel, Health::kNotServing);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, Health::kNotServing);
}

}  // namespace
}  // namespace autolrs
