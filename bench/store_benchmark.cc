// What the SQLite store writes and keeps on disk, through the JobStore
// interface only (so the same source measures any schema):
//
//   1. one job with --stages stages (default 5,000): --reports reports, each
//      adding a probe to the last stage (every 4th one opens a new stage), as
//      Scheduler::ReportLosses writes them; prints bytes written per report
//      (the process's write(2) bytes, /proc/self/io wchar) and latency
//      percentiles;
//   2. --finished_jobs finished jobs (default 100,000; copies of one real job
//      run to DONE by the state machine), inserted by 64 threads; prints the
//      database's size on disk after closing it.
//
//   bazel run //bench:store_benchmark -- [--stages=5000] [--finished_jobs=100000]
//
// Prints figures only; it asserts nothing about time.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/job.h"
#include "server/sqlite_job_store.h"
#include "testing/action_runner.h"
#include "testing/synthetic_trainer.h"

ABSL_FLAG(int, stages, 5000, "stages of the long job");
ABSL_FLAG(int, reports, 400, "reports applied to the long job");
ABSL_FLAG(int, finished_jobs, 100000, "finished jobs for the disk-use figure");
ABSL_FLAG(std::string, dir, "", "where the databases go (default: a fresh temp dir)");

namespace autolrs {
namespace {

using server::JobState;

int64_t WrittenBytes() {
  std::ifstream io("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "wchar:") return value;
  }
  return 0;
}

int64_t DiskBytes(const std::string& db) {
  int64_t total = 0;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    struct stat st;
    if (stat((db + suffix).c_str(), &st) == 0) total += st.st_blocks * 512;
  }
  return total;
}

// A real job run to DONE by the state machine with a synthetic trainer.
JobState FinishedJob() {
  v1::JobConfig config;
  config.set_lr_min(1e-3);
  config.set_lr_max(1.0);
  config.set_tau_initial(100);
  config.set_tau_max(800);
  config.set_total_steps(20000);
  config.set_seed(7);
  absl::StatusOr<server::Job> job = server::Job::Create("template", config);
  if (!job.ok()) {
    std::fprintf(stderr, "cannot create the template job: %s\n", job.status().ToString().c_str());
    std::exit(1);
  }
  testing::SyntheticTrainer trainer(3);
  v1::Action action = *job->NextAction(0);
  while (action.phase() != v1::PHASE_DONE) {
    bool changed = false;
    absl::StatusOr<v1::Action> next =
        job->ReportLosses(testing::RunAction(action, trainer), absl::UnixEpoch(), &changed);
    if (!next.ok()) {
      std::fprintf(stderr, "template job: %s\n", next.status().ToString().c_str());
      std::exit(1);
    }
    action = *next;
  }
  JobState state = job->state();
  state.set_version(1);
  return state;
}

v1::Probe MakeProbe(const v1::Stage& like, int i) {
  v1::Probe p = like.probes_size() > 0 ? like.probes(0) : v1::Probe();
  p.set_lr(1e-3 * (1 + i % 97));
  p.set_predicted_loss(0.5 + 1e-4 * i);
  return p;
}

void LongJob(const std::string& dir, const JobState& finished) {
  const int stages = absl::GetFlag(FLAGS_stages);
  const int reports = absl::GetFlag(FLAGS_reports);
  const std::string db = dir + "/long.db";
  auto store = server::SqliteJobStore::Open(db);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  // A real stage (with its probes' loss summaries) as the template of all.
  const v1::Stage like = finished.schedule().stages(finished.schedule().stages_size() - 1);
  JobState state = finished;
  state.mutable_job()->set_job_id("long");
  state.mutable_schedule()->clear_stages();
  for (int i = 0; i < stages; ++i) {
    v1::Stage* s = state.mutable_schedule()->add_stages();
    *s = like;
    s->set_index(i);
  }
  state.set_version(1);
  if (absl::Status s = (*store)->Insert(state); !s.ok()) {
    std::fprintf(stderr, "insert: %s\n", s.ToString().c_str());
    std::exit(1);
  }
  std::vector<double> latency_ms;
  const int64_t written_before = WrittenBytes();
  for (int r = 0; r < reports; ++r) {
    if (r % 4 == 3) {
      v1::Stage* s = state.mutable_schedule()->add_stages();
      *s = like;
      s->set_index(state.schedule().stages_size() - 1);
      s->clear_probes();
    }
    v1::Stage* last = state.mutable_schedule()->mutable_stages(state.schedule().stages_size() - 1);
    *last->add_probes() = MakeProbe(like, r);
    state.mutable_job()->set_steps_spent(state.job().steps_spent() + 100);
    state.set_version(state.version() + 1);
    const absl::Time start = absl::Now();
    if (absl::Status s = (*store)->Update(state); !s.ok()) {
      std::fprintf(stderr, "update: %s\n", s.ToString().c_str());
      std::exit(1);
    }
    latency_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }
  const int64_t written = WrittenBytes() - written_before;
  std::sort(latency_ms.begin(), latency_ms.end());
  auto pct = [&](double q) { return latency_ms[static_cast<size_t>(q * (latency_ms.size() - 1))]; };
  std::printf("long job: %d stages (%zu bytes serialized), %d reports\n", stages,
              state.ByteSizeLong(), reports);
  std::printf("  bytes written per report: %.0f\n", static_cast<double>(written) / reports);
  std::printf("  report latency ms: p50 %.2f  p90 %.2f  p99 %.2f\n", pct(0.5), pct(0.9), pct(0.99));
  store->reset();
  std::printf("  database on disk after closing: %.1f MiB\n", DiskBytes(db) / 1048576.0);
}

void FinishedJobs(const std::string& dir, const JobState& finished) {
  const int n = absl::GetFlag(FLAGS_finished_jobs);
  const std::string db = dir + "/finished.db";
  auto store = server::SqliteJobStore::Open(db);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&] {
      JobState state = finished;
      for (int i; (i = next.fetch_add(1)) < n;) {
        state.mutable_job()->set_job_id(absl::StrFormat("job-%07d", i));
        state.mutable_schedule()->set_job_id(state.job().job_id());
        if (!(*store)->Insert(state).ok()) failed.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  store->reset();
  std::printf(
      "finished jobs: %d (%d stages, %zu bytes serialized each), inserted in %.1f s, "
      "%d failed\n",
      n, finished.schedule().stages_size(), finished.ByteSizeLong(), seconds, failed.load());
  std::printf("  database on disk after closing: %.1f MiB (%.0f bytes per job)\n",
              DiskBytes(db) / 1048576.0, static_cast<double>(DiskBytes(db)) / n);
}

}  // namespace
}  // namespace autolrs

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) {
    dir = absl::StrFormat("%s/store_benchmark_%d", std::filesystem::temp_directory_path().string(),
                          getpid());
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const autolrs::server::JobState finished = autolrs::FinishedJob();
  autolrs::LongJob(dir, finished);
  autolrs::FinishedJobs(dir, finished);
  std::filesystem::remove_all(dir);
  return 0;
}
