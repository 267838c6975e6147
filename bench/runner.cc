#include "bench/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "autolrs/v1/service.grpc.pb.h"
#include "autolrs/v1/service.pb.h"
#include "bench/run_cache.h"
#include "client/client.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
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
  if (UsesServer(spec.kind)) {
    std::vector<std::string> stages;
    for (const v1::Stage& st : r.schedule.stages()) {
      stages.push_back(absl::StrFormat("%d:%.3g%s", st.index(), st.chosen_lr(),
                                       st.search_skipped() ? "(kept)" : ""));
    }
    extra += absl::StrFormat(", probes %.0f%%, LRs %s", 100 * r.probe_fraction,
                             absl::StrJoin(stages, " "));
  }
  if (spec.kind == Kind::kFamily) {
    extra +=
        absl::StrFormat(", family %s, prior from %d run(s)", r.family_name, r.family_prior_runs);
  }
  return absl::StrFormat("final val %.4f, test acc %.4f, %.1fs%s", r.final_val, r.test_accuracy,
                         r.seconds, extra);
}

// A token naming one creation of the server's database.
std::string NewDbToken() {
  return absl::StrFormat("%x-%d",
                         std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count(),
                         static_cast<int>(getpid()));
}

// The family's runs so far (GetFamily), written to `dir`/family.txt. OK with
// an empty family.txt when the server has no families (UNIMPLEMENTED);
// DATA_LOSS when the family does not exist or does not list `job_id` (the
// run was not recorded: its successors would not learn from it).
absl::Status CheckRecorded(v1::AutoLrsService::Stub& stub, const std::string& family,
                           const std::string& job_id, const std::string& dir,
                           bool& server_has_families) {
  v1::GetFamilyRequest request;
  request.set_name(family);
  v1::Family answer;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  const grpc::Status status = stub.GetFamily(&context, request, &answer);
  std::string text;
  if (status.ok()) google::protobuf::TextFormat::PrintToString(answer, &text);
  std::ofstream(dir + "/family.txt", std::ios::binary | std::ios::trunc) << text;
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    server_has_families = false;
    return absl::OkStatus();
  }
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    return absl::DataLossError(absl::StrCat("the server did not record job ", job_id, " in family ",
                                            family, " (GetFamily: ", status.error_message(), ")"));
  }
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("GetFamily(", family, "): ", status.error_message()));
  }
  for (const v1::FamilyRun& run : answer.runs()) {
    if (run.job_id() == job_id) return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("family ", family, " does not list job ", job_id, " after it finished"));
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

  // Families: each slot's runs in run order, reused whole or renamed.
  constexpr size_t kNone = static_cast<size_t>(-1);
  std::vector<std::vector<std::string>> args(specs.size());
  std::vector<std::string> family_name(specs.size());
  std::vector<size_t> previous(specs.size(), kNone);  // Run r - 1 of a family run's family.
  std::vector<bool> decided(specs.size(), false);     // Reused or queued by the family pass.
  std::map<std::string, std::vector<size_t>> slots;
  for (size_t i = 0; i < specs.size(); ++i) {
    args[i] = specs[i].args;
    if (specs[i].kind == Kind::kFamily) slots[specs[i].family_slot].push_back(i);
  }
  std::vector<std::string> inputs(specs.size());
  std::deque<size_t> queue;
  bool need_server = false;
  int reused = 0;
  std::error_code mkdir_error;
  fs::create_directories(fs::path(options.work_dir) / "families", mkdir_error);
  for (auto& [slot, runs] : slots) {
    std::sort(runs.begin(), runs.end(),
              [&](size_t a, size_t b) { return specs[a].family_run < specs[b].family_run; });
    std::vector<std::string> dirs, unnamed, named;
    for (size_t i : runs) {
      dirs.push_back(RunDir(options.work_dir, specs[i]));
      unnamed.push_back(RunInputs(specs[i].args, *train_fp, *server_fp));
    }
    const std::string key = FamilyKey(unnamed);
    const std::string state_path = absl::StrCat(options.work_dir, "/families/", slot);
    FamilyState state = ReadFamilyState(state_path);
    bool reuse = false;
    if (!options.rerun && !state.name.empty()) {
      for (size_t i : runs) {
        named.push_back(
            RunInputs(WithFamilyName(specs[i].args, state.name), *train_fp, *server_fp));
      }
      reuse = CanReuseFamily(dirs, named);
      for (size_t r = 0; reuse && r < runs.size(); ++r) {
        results[runs[r]] = LoadRun(specs[runs[r]], dirs[r]);
        results[runs[r]].reused = true;
        reuse = results[runs[r]].ok;
      }
    }
    if (!reuse) {
      ++state.generation;
      absl::StatusOr<std::string> name = FamilyName(slot, key, state.generation);
      if (!name.ok()) return name.status();
      state.name = *name;
      if (absl::Status st = WriteFamilyState(state_path, state); !st.ok()) return st;
    }
    for (size_t r = 0; r < runs.size(); ++r) {
      const size_t i = runs[r];
      decided[i] = true;
      args[i] = WithFamilyName(specs[i].args, state.name);
      family_name[i] = state.name;
      inputs[i] = RunInputs(args[i], *train_fp, *server_fp);
      if (r > 0) previous[i] = runs[r - 1];
      if (reuse) {
        results[i].family_name = state.name;
        ++reused;
      } else {
        results[i] = RunResult{};
        queue.push_back(i);
        need_server = true;
      }
    }
  }

  // Reuse what can be reused.
  for (size_t i = 0; i < specs.size(); ++i) {
    if (decided[i]) continue;
    const RunSpec& spec = specs[i];
    const std::string dir = RunDir(options.work_dir, spec);
    inputs[i] = RunInputs(spec.args, *train_fp, UsesServer(spec.kind) ? *server_fp : "");
    const bool ignore_binaries = options.keep_baselines && !UsesServer(spec.kind);
    if (!options.rerun && CanReuse(dir, inputs[i], ignore_binaries)) {
      results[i] = LoadRun(spec, dir);
      results[i].reused = true;
      if (results[i].ok) {
        ++reused;
        continue;
      }
    }
    queue.push_back(i);
    need_server |= UsesServer(spec.kind);
  }
  // Run in plan order (the family pass queued its runs first).
  std::sort(queue.begin(), queue.end());
  std::fprintf(stderr, "schedule_quality: %zu runs, %d reused from %s/runs, %zu to run\n",
               specs.size(), reused, options.work_dir.c_str(), queue.size());
  if (queue.empty()) return absl::OkStatus();

  std::unique_ptr<testing::ServerProcess> server;
  std::unique_ptr<Client> client;
  std::unique_ptr<v1::AutoLrsService::Stub> stub;
  std::string db_token;
  bool server_has_families = true;
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
    stub = v1::AutoLrsService::NewStub(
        grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
    db_token = NewDbToken();
    std::ofstream(db + ".token", std::ios::binary | std::ios::trunc) << db_token << "\n";
    std::fprintf(stderr, "  server %s (pid %d)\n", server->address().c_str(),
                 static_cast<int>(server->pid()));
  }

  const Clock::time_point start = Clock::now();
  const size_t to_run = queue.size();
  size_t done = 0;
  std::vector<bool> over(specs.size(), false);  // Finished (or failed) in this invocation.
  auto finished = [&](size_t index, int wait_status) {
    const RunSpec& spec = specs[index];
    const std::string dir = RunDir(options.work_dir, spec);
    RunResult& result = results[index];
    ++done;
    over[index] = true;
    if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
      result = RunResult{};
      result.error = absl::StrCat("exit status ", wait_status, "; stderr tail: ",
                                  Tail(dir + "/stderr", 600));
    } else {
      if (UsesServer(spec.kind)) {
        v1::GetScheduleRequest request;
        request.set_job_id(spec.id);
        absl::StatusOr<v1::Schedule> schedule = client->GetSchedule(request);
        std::string text;
        if (schedule.ok()) google::protobuf::TextFormat::PrintToString(*schedule, &text);
        std::ofstream(dir + "/schedule.txt", std::ios::binary | std::ios::trunc) << text;
      }
      absl::Status recorded = absl::OkStatus();
      if (spec.kind == Kind::kFamily) {
        const bool had = server_has_families;
        recorded = CheckRecorded(*stub, family_name[index], spec.id, dir, server_has_families);
        if (had && !server_has_families) {
          std::fprintf(stderr,
                       "schedule_quality: the server has no families (GetFamily UNIMPLEMENTED): "
                       "family runs start from nothing\n");
        }
      }
      result = LoadRun(spec, dir);
      result.family_name = family_name[index];
      if (!recorded.ok()) {
        result.ok = false;
        result.error = recorded.ToString();
      }
      if (result.ok) {
        absl::Status s =
            spec.kind == Kind::kFamily ? WriteDbToken(dir, db_token) : absl::OkStatus();
        if (s.ok()) s = MarkDone(dir, inputs[index]);
        if (!s.ok()) std::fprintf(stderr, "schedule_quality: %s\n", s.ToString().c_str());
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
    // Start the first queued runs whose family predecessor (if any) is over.
    for (auto it = queue.begin();
         it != queue.end() && static_cast<int>(running.size()) < options.parallel;) {
      const size_t index = *it;
      const size_t before = previous[index];
      if (before != kNone && !over[before] && !(results[before].ok && results[before].reused)) {
        ++it;
        continue;
      }
      it = queue.erase(it);
      const RunSpec& spec = specs[index];
      if (before != kNone && !results[before].ok) {
        results[index] = RunResult{};
        results[index].family_name = family_name[index];
        results[index].error =
            absl::StrCat("run ", spec.family_run - 1, " of its family failed; not run");
        ++done;
        over[index] = true;
        std::fprintf(stderr, "[%zu/%zu] %s FAILED: %s\n", done, to_run, spec.id.c_str(),
                     results[index].error.c_str());
        continue;
      }
      const std::string dir = RunDir(options.work_dir, spec);
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir));
      if (absl::Status s = Invalidate(dir); !s.ok()) return s;
      std::vector<std::string> argv = {options.train_binary};
      argv.insert(argv.end(), args[index].begin(), args[index].end());
      argv.push_back(absl::StrCat("--csv=", dir, "/steps.csv"));
      if (UsesServer(spec.kind)) argv.push_back(absl::StrCat("--server=", server->address()));
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
