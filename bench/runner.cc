#include "bench/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "autolrs/v1/service.pb.h"
#include "bench/run_cache.h"
#include "client/client.h"
#include "google/protobuf/text_format.h"
#include "testing/server_process.h"

namespace autolrs::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};

// fork + exec with stdout/stderr redirected to files. Everything the child
// needs is prepared before fork (the parent has gRPC threads).
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& args, const std::string& out,
                            const std::string& err) {
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0 || err_fd < 0) {
    if (out_fd >= 0) close(out_fd);
    if (err_fd >= 0) close(err_fd);
    return absl::InternalError(absl::StrCat("cannot open ", out, " or ", err));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    close(out_fd);
    close(err_fd);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out_fd);
  close(err_fd);
  return pid;
}

std::string Tail(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  const std::string text = s.str();
  return text.substr(text.size() > n ? text.size() - n : 0);
}

std::string Describe(const RunSpec& spec, const RunResult& r) {
  std::string extra;
  if (!std::isnan(r.peak_lr)) extra += absl::StrFormat(", peak LR %.3g", r.peak_lr);
  if (!std::isnan(r.step_size)) extra += absl::StrFormat(", largest step size %.3g", r.step_size);
  if (spec.kind == Kind::kAutoLrs) {
    std::vector<std::string> stages;
    for (const v1::Stage& st : r.schedule.stages()) {
      stages.push_back(absl::StrFormat("%d:%.3g%s", st.index(), st.chosen_lr(),
                                       st.search_skipped() ? "(kept)" : ""));
    }
    extra += absl::StrFormat(", probes %.0f%%, LRs %s", 100 * r.probe_fraction,
                             absl::StrJoin(stages, " "));
  }
  return absl::StrFormat("final val %.4f, test acc %.4f, %.1fs%s", r.final_val, r.test_accuracy,
                         r.seconds, extra);
}

}  // namespace

void RequestStop() { g_stop = true; }

std::string RunDir(const std::string& work_dir, const RunSpec& spec) {
  return absl::StrCat(work_dir, "/runs/", spec.id);
}

absl::Status RunAll(const RunnerOptions& options, const std::vector<RunSpec>& specs,
                    std::vector<RunResult>& results) {
  results.assign(specs.size(), RunResult{});
  absl::StatusOr<std::string> train_fp = FileFingerprint(options.train_binary);
  if (!train_fp.ok()) return train_fp.status();
  absl::StatusOr<std::string> server_fp = FileFingerprint(options.server_binary);
  if (!server_fp.ok()) return server_fp.status();

  // Reuse what can be reused.
  std::vector<std::string> inputs(specs.size());
  std::deque<size_t> queue;
  bool need_server = false;
  int reused = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const RunSpec& spec = specs[i];
    const std::string dir = RunDir(options.work_dir, spec);
    inputs[i] = RunInputs(spec.args, *train_fp, spec.kind == Kind::kAutoLrs ? *server_fp : "");
    const bool ignore_binaries = options.keep_baselines && spec.kind != Kind::kAutoLrs;
    if (!options.rerun && CanReuse(dir, inputs[i], ignore_binaries)) {
      results[i] = LoadRun(spec, dir);
      results[i].reused = true;
      if (results[i].ok) {
        ++reused;
        continue;
      }
    }
    queue.push_back(i);
    need_server |= spec.kind == Kind::kAutoLrs;
  }
  std::fprintf(stderr, "schedule_quality: %zu runs, %d reused from %s/runs, %zu to run\n",
               specs.size(), reused, options.work_dir.c_str(), queue.size());
  if (queue.empty()) return absl::OkStatus();

  std::unique_ptr<testing::ServerProcess> server;
  std::unique_ptr<Client> client;
  if (need_server) {
    const std::string db = absl::StrCat(options.work_dir, "/autolrs.db");
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
    absl::StatusOr<std::unique_ptr<testing::ServerProcess>> started =
        testing::ServerProcess::Start(options.server_binary, absl::StrCat("sqlite:", db));
    if (!started.ok()) return started.status();
    server = *std::move(started);
    ClientOptions client_options;
    client_options.target = server->address();
    absl::StatusOr<std::unique_ptr<Client>> created = Client::Create(client_options);
    if (!created.ok()) return created.status();
    client = *std::move(created);
    std::fprintf(stderr, "  server %s (pid %d)\n", server->address().c_str(),
                 static_cast<int>(server->pid()));
  }

  const Clock::time_point start = Clock::now();
  const size_t to_run = queue.size();
  size_t done = 0;
  auto finished = [&](size_t index, int wait_status) {
    const RunSpec& spec = specs[index];
    const std::string dir = RunDir(options.work_dir, spec);
    RunResult& result = results[index];
    ++done;
    if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
      result = RunResult{};
      result.error = absl::StrCat("exit status ", wait_status, "; stderr tail: ",
                                  Tail(dir + "/stderr", 600));
    } else {
      if (spec.kind == Kind::kAutoLrs) {
        v1::GetScheduleRequest request;
        request.set_job_id(spec.id);
        absl::StatusOr<v1::Schedule> schedule = client->GetSchedule(request);
        std::string text;
        if (schedule.ok()) google::protobuf::TextFormat::PrintToString(*schedule, &text);
        std::ofstream(dir + "/schedule.txt", std::ios::binary | std::ios::trunc) << text;
      }
      result = LoadRun(spec, dir);
      if (result.ok) {
        if (absl::Status s = MarkDone(dir, inputs[index]); !s.ok()) {
          std::fprintf(stderr, "schedule_quality: %s\n", s.ToString().c_str());
        }
      }
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double eta = elapsed / static_cast<double>(done) * static_cast<double>(to_run - done);
    if (result.ok) {
      std::fprintf(stderr, "[%zu/%zu %4.0fs, eta %4.0fs] %s: %s\n", done, to_run, elapsed, eta,
                   spec.id.c_str(), Describe(spec, result).c_str());
    } else {
      std::fprintf(stderr, "[%zu/%zu] %s FAILED: %s\n", done, to_run, spec.id.c_str(),
                   result.error.c_str());
    }
  };

  struct Running {
    pid_t pid;
    size_t index;
  };
  std::vector<Running> running;
  while (!queue.empty() || !running.empty()) {
    if (g_stop) {
      for (const Running& r : running) {
        kill(r.pid, SIGTERM);
        waitpid(r.pid, nullptr, 0);
      }
      return absl::CancelledError("interrupted");
    }
    while (!queue.empty() && static_cast<int>(running.size()) < options.parallel) {
      const size_t index = queue.front();
      queue.pop_front();
      const RunSpec& spec = specs[index];
      const std::string dir = RunDir(options.work_dir, spec);
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir));
      if (absl::Status s = Invalidate(dir); !s.ok()) return s;
      std::vector<std::string> argv = {options.train_binary};
      argv.insert(argv.end(), spec.args.begin(), spec.args.end());
      argv.push_back(absl::StrCat("--csv=", dir, "/steps.csv"));
      if (spec.kind == Kind::kAutoLrs) argv.push_back(absl::StrCat("--server=", server->address()));
      absl::StatusOr<pid_t> pid = Spawn(argv, dir + "/stdout", dir + "/stderr");
      if (!pid.ok()) return pid.status();
      running.push_back({*pid, index});
    }
    bool reaped = false;
    for (size_t i = 0; i < running.size(); ++i) {
      int status = 0;
      if (waitpid(running[i].pid, &status, WNOHANG) == running[i].pid) {
        finished(running[i].index, status);
        running.erase(running.begin() + static_cast<long>(i));
        reaped = true;
        break;
      }
    }
    if (!reaped) usleep(50 * 1000);
  }
  return absl::OkStatus();
}

}  // namespace autolrs::bench
