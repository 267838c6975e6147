// Load benchmark of autolrs_server replicas over loopback: SQLite (one
// server) against PostgreSQL with 1 and 2 replicas, and the memory of a
// replica after many finished jobs.
//
// For each setup (--setups, default "sqlite,postgresql-1,postgresql-2"):
// starts the real server binaries (PostgreSQL: a real server started by
// testing/postgres_process.h, fsync on, a fresh database per setup), creates
// --jobs jobs, then for --seconds each measures from --threads client
// threads, every call sent to the next replica in turn (any replica serves
// any job):
//   1. the gRPC health check (grpc.health.v1.Health/Check): the baseline;
//   2. ReportLosses with a 100-loss probe series, durable before answered;
//   3. NextAction.
// Prints throughput and p99 latency of each, and of 2 and 3 as ratios to the
// health check of the same setup in the same run. Then (--finished_jobs,
// default 100,000; 0 skips) runs that many jobs to DONE through two
// PostgreSQL replicas and prints each replica's resident memory.
//
//   bazel run -c opt //bench:replica_load_benchmark -- [--seconds=5] [--finished_jobs=100000]
//
// Prints figures only; asserts nothing about time.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "bench/load_common.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "testing/health_client.h"
#include "testing/postgres_process.h"
#include "testing/server_process.h"

ABSL_FLAG(std::string, setups, "sqlite,postgresql-1,postgresql-2",
          "comma-separated setups: sqlite, or postgresql-<replicas>");
ABSL_FLAG(int, jobs, 100, "concurrent jobs in the load phases");
ABSL_FLAG(int, threads, 8, "client threads");
ABSL_FLAG(double, seconds, 5, "measurement time per phase");
ABSL_FLAG(int, finished_jobs, 100000, "jobs run to DONE through 2 PostgreSQL replicas (0: skip)");
ABSL_FLAG(std::string, server, "server/autolrs_server", "path of the autolrs_server binary");

namespace autolrs {
namespace {

using Stub = v1::AutoLrsService::Stub;
using bench::FillLosses;
using bench::Latencies;

struct PhaseResult {
  int64_t calls = 0;
  int64_t errors = 0;
  double seconds = 0;
  Latencies latency;
  double rate() const { return calls / seconds; }
};

// Runs `call(thread, round)` from every thread until the time is up; a call
// returns false when it did nothing (skipped) and sets *error on failure.
template <typename Call>
PhaseResult RunPhase(int threads, double seconds, Call call) {
  std::vector<PhaseResult> per_thread(threads);
  std::vector<std::thread> pool;
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(seconds);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int64_t round = 0; absl::Now() < end; ++round) {
        const absl::Time before = absl::Now();
        bool error = false;
        if (!call(t, round, &error)) {
          per_thread[t].errors += error;
          continue;
        }
        per_thread[t].latency.ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - before));
        ++per_thread[t].calls;
      }
    });
  }
  for (auto& th : pool) th.join();
  PhaseResult total;
  total.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  for (auto& r : per_thread) {
    total.calls += r.calls;
    total.errors += r.errors;
    total.latency.ms.insert(total.latency.ms.end(), r.latency.ms.begin(), r.latency.ms.end());
  }
  return total;
}

// Done after stage 0: 2 probes of 1 step and 10 steps of exploitation.
v1::JobConfig FinishingConfig() {
  v1::JobConfig c;
  c.set_lr_min(1e-3);
  c.set_lr_max(1.0);
  c.set_tau_initial(10);
  c.set_tau_max(10);
  c.set_probe_ratio(0.1);
  c.set_probes_per_stage(2);
  c.set_later_stage_probes(2);
  c.set_objective_switch(v1::OBJECTIVE_SWITCH_NEVER);
  c.set_total_steps(12);
  c.set_cooldown_fraction(0);
  return c;
}

// The servers of one setup and a channel to each.
struct Replicas {
  std::vector<std::unique_ptr<testing::ServerProcess>> servers;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<Stub>> stubs;
  // The replica for call `round` of `thread`: every call goes to the next.
  size_t For(int thread, int64_t round) const { return (thread + round) % servers.size(); }
};

absl::StatusOr<Replicas> StartReplicas(const std::string& store, int count) {
  Replicas r;
  for (int i = 0; i < count; ++i) {
    auto server = testing::ServerProcess::Start(absl::GetFlag(FLAGS_server), store);
    if (!server.ok()) return server.status();
    r.channels.push_back(
        grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));
    r.stubs.push_back(v1::AutoLrsService::NewStub(r.channels.back()));
    r.servers.push_back(*std::move(server));
  }
  return r;
}

bool Call(const grpc::Status& s, const char* what, bool* error) {
  if (s.ok()) return true;
  *error = true;
  static std::atomic<int> printed{0};
  if (printed++ < 5) std::fprintf(stderr, "%s: %s\n", what, s.error_message().c_str());
  return false;
}

// The load phases of one setup; prints one table row.
int LoadSetup(const std::string& name, const std::string& store, int replica_count) {
  absl::StatusOr<Replicas> replicas = StartReplicas(store, replica_count);
  if (!replicas.ok()) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), replicas.status().ToString().c_str());
    return 1;
  }
  const int threads = absl::GetFlag(FLAGS_threads);
  const int n = absl::GetFlag(FLAGS_jobs);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  std::vector<v1::Action> actions(n);
  std::vector<std::mutex> locks(n);
  for (int j = 0; j < n; ++j) {
    Stub& stub = *replicas->stubs[j % replica_count];
    grpc::ClientContext c1, c2;
    v1::CreateJobRequest create;
    create.set_job_id(absl::StrCat("load-", j));
    *create.mutable_config() = bench::LoadJobConfig(j);
    v1::Job job;
    v1::NextActionRequest next;
    next.set_job_id(create.job_id());
    if (!stub.CreateJob(&c1, create, &job).ok() || !stub.NextAction(&c2, next, &actions[j]).ok()) {
      std::fprintf(stderr, "%s: cannot create the jobs\n", name.c_str());
      return 1;
    }
  }

  PhaseResult health = RunPhase(threads, seconds, [&](int t, int64_t round, bool* error) {
    absl::StatusOr<testing::Health> h =
        testing::CheckHealth(replicas->channels[replicas->For(t, round)]);
    if (h.ok() && *h == testing::Health::kServing) return true;
    *error = true;
    return false;
  });
  std::vector<std::mt19937_64> rngs;
  for (int t = 0; t < threads; ++t) rngs.emplace_back(t);
  PhaseResult report = RunPhase(threads, seconds, [&](int t, int64_t round, bool* error) {
    const int j = static_cast<int>((t + round * threads) % n);
    std::unique_lock<std::mutex> lock(locks[j], std::try_to_lock);
    if (!lock.owns_lock()) return false;  // Another thread drives this job now.
    v1::ReportLossesRequest req;
    req.set_job_id(actions[j].job_id());
    req.set_action_id(actions[j].action_id());
    FillLosses(actions[j].steps(), rngs[t], &req);
    grpc::ClientContext ctx;
    v1::Action next;
    if (!Call(replicas->stubs[replicas->For(t, round)]->ReportLosses(&ctx, req, &next),
              "ReportLosses", error)) {
      return false;
    }
    actions[j] = next;
    return true;
  });
  PhaseResult next = RunPhase(threads, seconds, [&](int t, int64_t round, bool* error) {
    const int j = static_cast<int>((t + round * threads) % n);
    grpc::ClientContext ctx;
    v1::NextActionRequest req;
    req.set_job_id(actions[j].job_id());
    v1::Action action;
    return Call(replicas->stubs[replicas->For(t, round)]->NextAction(&ctx, req, &action),
                "NextAction", error);
  });
  const double health_p99 = health.latency.Percentile(0.99);
  auto cell = [&](PhaseResult& r) {
    const double p99 = r.latency.Percentile(0.99);
    return absl::StrFormat("%.0f/s (%.3f) | %.2f ms (%.1f)", r.rate(), r.rate() / health.rate(),
                           p99, p99 / health_p99);
  };
  std::printf("| %s | %.0f/s | %.2f ms | %s | %s | %lld |\n", name.c_str(), health.rate(),
              health_p99, cell(report).c_str(), cell(next).c_str(),
              static_cast<long long>(health.errors + report.errors + next.errors));
  std::fflush(stdout);
  return 0;
}

// Runs --finished_jobs jobs to DONE through two replicas on `store` (each
// call to the next replica) and prints each replica's memory.
int FinishedJobs(const std::string& store) {
  const int n = absl::GetFlag(FLAGS_finished_jobs);
  absl::StatusOr<Replicas> replicas = StartReplicas(store, 2);
  if (!replicas.ok()) {
    std::fprintf(stderr, "%s\n", replicas.status().ToString().c_str());
    return 1;
  }
  std::vector<int64_t> rss_start;
  for (auto& s : replicas->servers) rss_start.push_back(testing::ProcStatusKiB(s->pid(), "VmRSS:"));
  const int threads = absl::GetFlag(FLAGS_threads);
  std::atomic<int> next_job{0}, failed{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      int64_t round = 0;
      auto stub = [&]() -> Stub& { return *replicas->stubs[replicas->For(t, round++)]; };
      for (int i = next_job++; i < n; i = next_job++) {
        const std::string id = absl::StrCat("done-", i);
        v1::CreateJobRequest create;
        create.set_job_id(id);
        *create.mutable_config() = FinishingConfig();
        v1::Job job;
        v1::NextActionRequest next;
        next.set_job_id(id);
        v1::Action action;
        grpc::ClientContext c1, c2;
        if (!stub().CreateJob(&c1, create, &job).ok() ||
            !stub().NextAction(&c2, next, &action).ok()) {
          ++failed;
          continue;
        }
        for (int r = 0; r < 10 && action.phase() != v1::PHASE_DONE; ++r) {
          v1::ReportLossesRequest report;
          report.set_job_id(id);
          report.set_action_id(action.action_id());
          for (int64_t s = 0; s < action.steps(); ++s) report.add_losses(1.0 / (1.0 + action.lr()));
          grpc::ClientContext ctx;
          if (!stub().ReportLosses(&ctx, report, &action).ok()) break;
        }
        if (action.phase() != v1::PHASE_DONE) ++failed;
      }
    });
  }
  for (auto& w : workers) w.join();
  std::printf("\n%d jobs run to DONE through 2 PostgreSQL replicas (%d failed) in %.0f s:\n", n,
              failed.load(), absl::ToDoubleSeconds(absl::Now() - start));
  for (size_t i = 0; i < replicas->servers.size(); ++i) {
    const pid_t pid = replicas->servers[i]->pid();
    std::printf("  replica %zu: RSS %.1f MiB (%.1f MiB at start, peak %.1f MiB)\n", i + 1,
                testing::ProcStatusKiB(pid, "VmRSS:") / 1024.0, rss_start[i] / 1024.0,
                testing::ProcStatusKiB(pid, "VmHWM:") / 1024.0);
  }
  return 0;
}

int Run(const std::string& dir);

int Main() {
  char tmpl[] = "/tmp/autolrs_replica_load_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const int rc = Run(tmpl);
  std::error_code error;
  std::filesystem::remove_all(tmpl, error);  // The SQLite files.
  return rc;
}

int Run(const std::string& dir) {
  std::unique_ptr<testing::PostgresProcess> pg;
  auto postgres = [&]() -> testing::PostgresProcess* {
    if (pg == nullptr) {
      auto started = testing::PostgresProcess::Start(testing::PostgresProcess::Options());
      if (!started.ok()) {
        std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
        return nullptr;
      }
      pg = *std::move(started);
    }
    return pg.get();
  };
  std::printf(
      "| setup | health check | health p99 | ReportLosses (ratio to health) | p99 (ratio) |"
      " NextAction (ratio to health) | p99 (ratio) | failed calls |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|\n");
  int setup_index = 0;
  for (absl::string_view setup : absl::StrSplit(absl::GetFlag(FLAGS_setups), ',')) {
    const std::string name(setup);
    int replicas = 0;
    std::string store;
    if (setup == "sqlite") {
      replicas = 1;
      store = absl::StrCat("sqlite:", dir, "/load.db");
    } else if (absl::ConsumePrefix(&setup, "postgresql-") && absl::SimpleAtoi(setup, &replicas) &&
               replicas >= 1) {
      if (postgres() == nullptr) return 1;
      absl::StatusOr<std::string> uri = pg->CreateDatabase(absl::StrCat("load_", ++setup_index));
      if (!uri.ok()) {
        std::fprintf(stderr, "%s\n", uri.status().ToString().c_str());
        return 1;
      }
      store = *uri;
    } else {
      std::fprintf(stderr, "bad --setups entry '%s'\n", name.c_str());
      return 2;
    }
    if (int rc = LoadSetup(name, store, replicas); rc != 0) return rc;
  }
  std::printf(
      "\n%d jobs, %d client threads, %g s per phase, on %ld cores (client, servers and "
      "PostgreSQL share them); every call to the next replica in turn.\n",
      absl::GetFlag(FLAGS_jobs), absl::GetFlag(FLAGS_threads), absl::GetFlag(FLAGS_seconds),
      sysconf(_SC_NPROCESSORS_ONLN));
  if (absl::GetFlag(FLAGS_finished_jobs) > 0) {
    if (postgres() == nullptr) return 1;
    absl::StatusOr<std::string> uri = pg->CreateDatabase("finished");
    if (!uri.ok()) {
      std::fprintf(stderr, "%s\n", uri.status().ToString().c_str());
      return 1;
    }
    return FinishedJobs(*uri);
  }
  return 0;
}

}  // namespace
}  // namespace autolrs

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return autolrs::Main();
}
