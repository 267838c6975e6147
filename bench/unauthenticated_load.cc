// How much memory unauthenticated clients can make the server hold.
//
// Starts the real server with a bearer token, then --threads client threads
// (each on its own connection) send --requests ReportLosses each of
// --request_bytes (just under the server's message limit) WITHOUT the token.
// Samples the server's resident memory (VmRSS) before, at peak during, and
// --settle seconds after the load, and prints the figures and the status
// codes the requests got. Asserts nothing.
//
//   bazel run //bench:unauthenticated_load -- [--server_args=--max_message_bytes=4194304]
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "testing/server_process.h"

ABSL_FLAG(int, threads, 16, "client threads, one connection each");
ABSL_FLAG(int, requests, 20, "requests per thread");
ABSL_FLAG(int, request_bytes, (16 << 20) - 4096, "size of each request");
ABSL_FLAG(double, settle, 3, "seconds to wait after the load before the last sample");
ABSL_FLAG(std::string, server, "server/autolrs_server", "path of the autolrs_server binary");
ABSL_FLAG(std::string, server_args, "", "extra server flags, comma-separated");

namespace autolrs {
namespace {

int Run() {
  const std::string token_file = "/tmp/unauthenticated_load_token";
  std::ofstream(token_file) << "the-secret-token\n";
  std::vector<std::string> args = {"--auth_token_file=" + token_file};
  for (absl::string_view a :
       absl::StrSplit(absl::GetFlag(FLAGS_server_args), ',', absl::SkipEmpty())) {
    args.emplace_back(a);
  }
  auto server = testing::ServerProcess::Start(absl::GetFlag(FLAGS_server), "memory:", args);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  const pid_t pid = (*server)->pid();
  absl::SleepFor(absl::Milliseconds(500));
  const int64_t before = testing::ProcStatusKiB(pid, "VmRSS:");

  v1::ReportLossesRequest request;
  request.set_job_id("victim");
  request.set_action_id(1);
  const int n = absl::GetFlag(FLAGS_request_bytes) / 9;
  for (int i = 0; i < n; ++i) request.add_losses(1.0 + i);

  std::atomic<bool> done{false};
  std::atomic<int64_t> peak{before};
  std::thread sampler([&] {
    while (!done.load()) {
      const int64_t rss = testing::ProcStatusKiB(pid, "VmRSS:");
      if (rss > peak.load()) peak.store(rss);
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  std::mutex mu;
  std::map<std::string, int> codes;
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int t = 0; t < absl::GetFlag(FLAGS_threads); ++t) {
    threads.emplace_back([&, t] {
      grpc::ChannelArguments channel_args;
      channel_args.SetInt("grpc.channel_id", t);  // One connection per thread.
      channel_args.SetMaxSendMessageSize(64 << 20);
      auto stub = v1::AutoLrsService::NewStub(grpc::CreateCustomChannel(
          (*server)->address(), grpc::InsecureChannelCredentials(), channel_args));
      for (int r = 0; r < absl::GetFlag(FLAGS_requests); ++r) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        v1::Action action;
        const grpc::Status s = stub->ReportLosses(&ctx, request, &action);
        std::lock_guard<std::mutex> lock(mu);
        ++codes[std::to_string(s.error_code()) + " " + s.error_message().substr(0, 60)];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_settle)));
  done.store(true);
  sampler.join();
  const int64_t after = testing::ProcStatusKiB(pid, "VmRSS:");
  std::printf("%d threads x %d unauthenticated requests of %.1f MiB in %.1f s\n",
              absl::GetFlag(FLAGS_threads), absl::GetFlag(FLAGS_requests),
              request.ByteSizeLong() / 1048576.0, seconds);
  for (const auto& [code, count] : codes) std::printf("  %5d x code %s\n", count, code.c_str());
  std::printf("server RSS: before %.1f MiB, peak %.1f MiB, %.0f s after %.1f MiB\n",
              before / 1024.0, peak.load() / 1024.0, absl::GetFlag(FLAGS_settle), after / 1024.0);
  return 0;
}

}  // namespace
}  // namespace autolrs

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return autolrs::Run();
}
