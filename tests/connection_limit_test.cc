// Silent connections beyond the server's file limit must not stop it from
// accepting: the real binary runs with 256 descriptors, a client opens 400
// connections that never send a byte, and a well-behaved client is still
// served (silent connections are refused over the cap and closed after the
// handshake timeout; a failed accept() is retried).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "testing/server_process.h"

namespace autolrs {
namespace {

using autolrs::testing::ChildOptions;
using autolrs::testing::ServerProcess;

constexpr char kServer[] = "server/autolrs_server";

std::vector<int> OpenSilentConnections(int port, int n) {
  std::vector<int> fds;
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < n; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      continue;
    }
    fds.push_back(fd);
  }
  return fds;
}

grpc::Status CreateJob(const std::string& address, const std::string& id) {
  auto stub =
      v1::AutoLrsService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(40));
  v1::CreateJobRequest req;
  req.set_job_id(id);
  req.mutable_config()->set_lr_min(1e-3);
  req.mutable_config()->set_lr_max(1.0);
  v1::Job job;
  return stub->CreateJob(&ctx, req, &job);
}

TEST(ConnectionLimitTest, SilentConnectionsBeyondTheFileLimitDoNotStopTheListener) {
  ChildOptions child;
  child.max_open_files = 256;
  auto server = ServerProcess::Start(kServer, "memory:", {}, absl::Seconds(30), child);
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<int> silent = OpenSilentConnections((*server)->port(), 400);
  EXPECT_GT(silent.size(), 256u);
  absl::SleepFor(absl::Seconds(1));  // Let the server take them in.
  grpc::Status s = CreateJob((*server)->address(), "served-1");
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  // And again, with the silent connections still open on the client side.
  std::vector<int> more = OpenSilentConnections((*server)->port(), 100);
  s = CreateJob((*server)->address(), "served-2");
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  for (int fd : silent) close(fd);
  for (int fd : more) close(fd);
}

// A connection without calls is closed after --max_connection_idle: the
// client's channel falls back to IDLE (it reconnects on its next call).
TEST(ConnectionLimitTest, IdleConnectionsAreClosed) {
  auto server = ServerProcess::Start(kServer, "memory:", {"--max_connection_idle=1s"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::AutoLrsService::NewStub(channel);
  grpc::ClientContext ctx;
  v1::GetJobRequest req;
  req.set_job_id("none");
  v1::Job job;
  EXPECT_EQ(stub->GetJob(&ctx, req, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (channel->GetState(false) == GRPC_CHANNEL_READY && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_NE(channel->GetState(false), GRPC_CHANNEL_READY) << "the idle connection stayed open";
  // The next call reconnects.
  grpc::ClientContext again;
  EXPECT_EQ(stub->GetJob(&again, req, &job).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace autolrs
