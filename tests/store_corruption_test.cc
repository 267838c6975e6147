// Bytes of one job's record corrupted in the SQLite file of the real server
// (the file itself stays a valid database): after a restart that job
// answers DATA_LOSS, every other job is served, and ListJobs lists all of
// them (the bad one as a placeholder holding only its job_id).
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "testing/server_process.h"

namespace autolrs {
namespace {

using autolrs::testing::ServerProcess;

constexpr char kServer[] = "server/autolrs_server";
// An lr_max whose 8 bytes occur nowhere else in the file.
constexpr double kMarkerLrMax = 0.87654321012345678;

std::unique_ptr<v1::AutoLrsService::Stub> Connect(const ServerProcess& server) {
  return v1::AutoLrsService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
}

grpc::Status CreateJob(v1::AutoLrsService::Stub& stub, const std::string& id, double lr_max) {
  grpc::ClientContext ctx;
  v1::CreateJobRequest req;
  req.set_job_id(id);
  req.mutable_config()->set_lr_min(1e-3);
  req.mutable_config()->set_lr_max(lr_max);
  v1::Job job;
  return stub.CreateJob(&ctx, req, &job);
}

grpc::Status GetJob(v1::AutoLrsService::Stub& stub, const std::string& id, v1::Job* job) {
  grpc::ClientContext ctx;
  v1::GetJobRequest req;
  req.set_job_id(id);
  return stub.GetJob(&ctx, req, job);
}

TEST(StoreCorruptionTest, ACorruptJobIsDataLossAloneAndStillListed) {
  const std::string db = ::testing::TempDir() + "/corrupt.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  {
    auto server = ServerProcess::Start(kServer, "sqlite:" + db);
    ASSERT_TRUE(server.ok()) << server.status();
    auto stub = Connect(**server);
    ASSERT_TRUE(CreateJob(*stub, "a", 1.0).ok());
    ASSERT_TRUE(CreateJob(*stub, "b", kMarkerLrMax).ok());
    ASSERT_TRUE(CreateJob(*stub, "c", 1.0).ok());
    (*server)->Stop(SIGTERM);  // Closing checkpoints the WAL into the file.
  }
  std::stringstream read;
  read << std::ifstream(db, std::ios::binary).rdbuf();
  std::string bytes = read.str();
  char marker[sizeof(double)];
  std::memcpy(marker, &kMarkerLrMax, sizeof(marker));
  const size_t at = bytes.find(std::string(marker, sizeof(marker)));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 6] ^= 0x40;  // lr_max becomes another plausible-looking double.
  std::ofstream(db, std::ios::binary | std::ios::trunc) << bytes;

  auto server = ServerProcess::Start(kServer, "sqlite:" + db);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = Connect(**server);
  v1::Job job;
  grpc::Status b = GetJob(*stub, "b", &job);
  EXPECT_EQ(b.error_code(), grpc::StatusCode::DATA_LOSS) << b.error_message();
  EXPECT_TRUE(GetJob(*stub, "a", &job).ok());
  EXPECT_TRUE(GetJob(*stub, "c", &job).ok());
  grpc::ClientContext ctx;
  v1::ListJobsResponse page;
  ASSERT_TRUE(stub->ListJobs(&ctx, v1::ListJobsRequest(), &page).ok());
  ASSERT_EQ(page.jobs_size(), 3);
  EXPECT_EQ(page.jobs(0).state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(page.jobs(1).job_id(), "b");
  EXPECT_EQ(page.jobs(1).state(), v1::JOB_STATE_UNSPECIFIED);
  EXPECT_EQ(page.jobs(2).state(), v1::JOB_STATE_RUNNING);
  // The healthy jobs still run.
  grpc::ClientContext next_ctx;
  v1::NextActionRequest next;
  next.set_job_id("a");
  v1::Action action;
  EXPECT_TRUE(stub->NextAction(&next_ctx, next, &action).ok());
}

}  // namespace
}  // namespace autolrs
