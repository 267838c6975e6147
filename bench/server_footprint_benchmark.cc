// The server's memory and disk after many finished jobs, and for one long
// job, measured on the real binary over loopback:
//
//   1. --finished_jobs jobs (default 100,000), each run to DONE (3 actions:
//      two 1-step probes and a 1-step exploitation), from --threads client
//      threads; prints the server's resident memory (VmRSS, and its peak
//      VmHWM) and the database's size on disk;
//   2. one job of --stages stages (default 5,000; each two 1-step probes and
//      a 10-step exploitation); prints the server's resident memory, the
//      database size, and the ReportLosses latency of the first and last
//      1,000 reports.
//
//   bazel run -c opt //bench:server_footprint_benchmark -- \
//       [--server=/path/to/another/autolrs_server] [--finished_jobs=N] [--stages=N]
//
// Prints figures only; asserts nothing about time.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "testing/server_process.h"

ABSL_FLAG(std::string, server, "server/autolrs_server", "path of the autolrs_server binary");
ABSL_FLAG(int, finished_jobs, 100000, "jobs run to DONE in part 1");
ABSL_FLAG(int, stages, 5000, "stages of the long job in part 2");
ABSL_FLAG(int, threads, 4, "client threads in part 1");
ABSL_FLAG(std::string, dir, "", "directory for the SQLite files (default: a temp dir)");

namespace autolrs {
namespace {

using Stub = v1::AutoLrsService::Stub;

double DiskMiB(const std::string& db) {
  int64_t total = 0;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    struct stat st;
    if (stat((db + suffix).c_str(), &st) == 0) total += st.st_blocks * 512;
  }
  return total / 1048576.0;
}

v1::JobConfig TinyConfig() {
  v1::JobConfig c;
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_tau_initial(10);
  c.set_tau_max(10);
  c.set_probe_ratio(0.1);  // 1-step probes.
  c.set_probes_per_stage(2);
  c.set_later_stage_probes(2);
  c.set_objective_switch(v1::OBJECTIVE_SWITCH_NEVER);
  return c;
}

// Done after stage 0: 2 probes of 1 step and 10 steps of exploitation.
v1::JobConfig FinishingConfig() {
  v1::JobConfig c = TinyConfig();
  c.set_total_steps(12);
  c.set_cooldown_fraction(0);
  return c;
}

// Runs `job_id` from `action` for at most `max_reports` reports or until
// DONE; appends each report's latency in ms when `latencies` is set.
bool Drive(Stub& stub, v1::Action action, int64_t max_reports, std::vector<double>* latencies) {
  for (int64_t r = 0; r < max_reports && action.phase() != v1::PHASE_DONE; ++r) {
    v1::ReportLossesRequest report;
    report.set_job_id(action.job_id());
    report.set_action_id(action.action_id());
    for (int64_t i = 0; i < action.steps(); ++i) report.add_losses(1.0 / (1.0 + action.lr()));
    grpc::ClientContext ctx;
    v1::Action next;
    const absl::Time start = absl::Now();
    const grpc::Status s = stub.ReportLosses(&ctx, report, &next);
    if (latencies != nullptr) latencies->push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    if (!s.ok()) {
      std::fprintf(stderr, "ReportLosses: %s\n", s.error_message().c_str());
      return false;
    }
    action = next;
  }
  return true;
}

bool CreateAndStart(Stub& stub, const std::string& id, const v1::JobConfig& config,
                    v1::Action* first) {
  v1::CreateJobRequest create;
  create.set_job_id(id);
  *create.mutable_config() = config;
  grpc::ClientContext c1, c2;
  v1::Job job;
  grpc::Status s = stub.CreateJob(&c1, create, &job);
  if (!s.ok()) {
    std::fprintf(stderr, "CreateJob: %s\n", s.error_message().c_str());
    return false;
  }
  v1::NextActionRequest next;
  next.set_job_id(id);
  s = stub.NextAction(&c2, next, first);
  return s.ok();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

int Run() {
  std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) dir = std::filesystem::temp_directory_path() / "autolrs_footprint";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string binary = absl::GetFlag(FLAGS_server);

  // Part 1: many finished jobs.
  {
    const std::string db = dir + "/finished.db";
    auto server = testing::ServerProcess::Start(binary, "sqlite:" + db);
    if (!server.ok()) {
      std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
      return 1;
    }
    const int64_t rss_start = testing::ProcStatusKiB((*server)->pid(), "VmRSS:");
    const int n = absl::GetFlag(FLAGS_finished_jobs);
    const int threads = absl::GetFlag(FLAGS_threads);
    std::atomic<int> next{0}, failed{0};
    const absl::Time start = absl::Now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        auto channel =
            grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
        auto stub = v1::AutoLrsService::NewStub(channel);
        for (int i = next++; i < n; i = next++) {
          v1::Action first;
          if (!CreateAndStart(*stub, absl::StrCat("done-", i), FinishingConfig(), &first) ||
              !Drive(*stub, first, 100, nullptr)) {
            ++failed;
          }
        }
      });
    }
    for (auto& w : workers) w.join();
    std::printf("finished jobs: %d (%d failed) in %.1f s\n", n, failed.load(),
                absl::ToDoubleSeconds(absl::Now() - start));
    std::printf(
        "  server RSS: %.1f MiB (%.1f MiB at start, peak %.1f MiB); %.2f KiB per job\n",
        testing::ProcStatusKiB((*server)->pid(), "VmRSS:") / 1024.0, rss_start / 1024.0,
        testing::ProcStatusKiB((*server)->pid(), "VmHWM:") / 1024.0,
        static_cast<double>(testing::ProcStatusKiB((*server)->pid(), "VmRSS:") - rss_start) / n);
    (*server)->Stop(SIGTERM);
    std::printf("  database on disk: %.1f MiB; %.2f KiB per job\n", DiskMiB(db),
                DiskMiB(db) * 1024 / n);
  }

  // Part 2: one long job.
  {
    const std::string db = dir + "/long.db";
    auto server = testing::ServerProcess::Start(binary, "sqlite:" + db);
    if (!server.ok()) {
      std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
      return 1;
    }
    auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
    auto stub = v1::AutoLrsService::NewStub(channel);
    const int stages = absl::GetFlag(FLAGS_stages);
    v1::Action first;
    if (!CreateAndStart(*stub, "long", TinyConfig(), &first)) return 1;
    std::vector<double> latencies;
    const absl::Time start = absl::Now();
    if (!Drive(*stub, first, 3LL * stages, &latencies)) return 1;
    const size_t k = std::min<size_t>(1000, latencies.size());
    std::printf("one job of %d stages: %zu reports in %.1f s\n", stages, latencies.size(),
                absl::ToDoubleSeconds(absl::Now() - start));
    std::printf("  ReportLosses p50: %.2f ms (first %zu), %.2f ms (last %zu)\n",
                Median({latencies.begin(), latencies.begin() + k}), k,
                Median({latencies.end() - k, latencies.end()}), k);
    std::printf("  server RSS: %.1f MiB (peak %.1f MiB)\n",
                testing::ProcStatusKiB((*server)->pid(), "VmRSS:") / 1024.0,
                testing::ProcStatusKiB((*server)->pid(), "VmHWM:") / 1024.0);
    (*server)->Stop(SIGTERM);
    std::printf("  database on disk: %.1f MiB\n", DiskMiB(db));
  }
  return 0;
}

}  // namespace
}  // namespace autolrs

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return autolrs::Run();
}
