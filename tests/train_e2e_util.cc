#include "tests/train_e2e_util.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace autolrs::e2e {

absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& args, const std::string& stdout_path,
                            const std::string& stderr_path) {
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int out = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) _exit(126);
    dup2(out, 1);
    dup2(err, 2);
    setenv("OMP_NUM_THREADS", "1", 1);
    std::vector<char*> argv;
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::perror("execv");
    _exit(127);
  }
  return pid;
}

absl::StatusOr<int> WaitFor(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return absl::InternalError(absl::StrCat("unexpected wait status ", status));
    }
    if (r < 0) return absl::InternalError(absl::StrCat("waitpid(", pid, ") failed"));
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return absl::DeadlineExceededError(absl::StrCat("process ", pid, " still ran after ",
                                                      absl::FormatDuration(timeout), "; killed"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

absl::StatusOr<int> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError("bind/getsockname failed");
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

FinalLine ParseFinalLine(const std::string& stdout_text) {
  FinalLine result;
  for (absl::string_view line : absl::StrSplit(stdout_text, '\n')) {
    if (!absl::ConsumePrefix(&line, "final: ")) continue;
    result.found = true;
    for (absl::string_view field : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(field, absl::MaxSplits('=', 1));
      if (kv.first == "test_loss") (void)absl::SimpleAtod(kv.second, &result.test_loss);
      if (kv.first == "test_accuracy") (void)absl::SimpleAtod(kv.second, &result.test_accuracy);
      if (kv.first == "steps") (void)absl::SimpleAtoi(kv.second, &result.steps);
      if (kv.first == "model_steps") (void)absl::SimpleAtoi(kv.second, &result.model_steps);
    }
  }
  return result;
}

absl::StatusOr<std::vector<CsvRow>> ReadStepCsv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return absl::InvalidArgumentError(absl::StrCat(path, " is empty"));
  if (line != "step,phase,lr,loss,val_loss") {
    return absl::InvalidArgumentError(absl::StrCat("bad CSV header '", line, "'"));
  }
  std::vector<CsvRow> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    CsvRow row;
    if (f.size() != 5 || !absl::SimpleAtoi(f[0], &row.step) || !absl::SimpleAtod(f[2], &row.lr) ||
        !absl::SimpleAtod(f[3], &row.loss)) {
      return absl::InvalidArgumentError(absl::StrCat("bad CSV row '", line, "'"));
    }
    row.phase = f[1];
    row.has_val_loss = !f[4].empty();
    if (row.has_val_loss && !absl::SimpleAtod(f[4], &row.val_loss)) {
      return absl::InvalidArgumentError(absl::StrCat("bad val_loss in '", line, "'"));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<std::vector<ExpectedStep>> ExpectedSteps(const v1::JobConfig& config,
                                                        const v1::Schedule& schedule,
                                                        int64_t* actions) {
  // Stages spend the budget the cooldown leaves.
  const int64_t total = config.total_steps() - schedule.cooldown_steps();
  std::vector<ExpectedStep> steps;
  *actions = 0;
  if (schedule.warmup_steps() != 0) return absl::InternalError("warmup is not expected");
  for (int s = 0; s < schedule.stages_size(); ++s) {
    const v1::Stage& stage = schedule.stages(s);
    const std::string where = absl::StrCat("stage ", s, ": ");
    if (stage.index() != s)
      return absl::InternalError(absl::StrCat(where, "index ", stage.index()));
    const int64_t at = static_cast<int64_t>(steps.size());
    if (stage.start_steps_spent() != at) {
      return absl::InternalError(absl::StrCat(where, "starts at step ", stage.start_steps_spent(),
                                              ", the previous stages end at ", at));
    }
    if (stage.search_skipped()) {
      if (stage.probes_size() != 0) {
        return absl::InternalError(absl::StrCat(where, "search skipped but has probes"));
      }
    } else if (const int32_t k = s == 0 ? config.probes_per_stage() : config.later_stage_probes();
               stage.probes_size() != k) {
      return absl::InternalError(absl::StrCat(where, stage.probes_size(), " probes, expected ", k));
    }
    for (int i = 0; i < stage.probes_size(); ++i) {
      const v1::Probe& probe = stage.probes(i);
      const int64_t want = std::min(stage.tau_probe(), total - static_cast<int64_t>(steps.size()));
      if (probe.training_loss().count() != want) {
        return absl::InternalError(absl::StrCat(where, "probe ", i, " has ",
                                                probe.training_loss().count(), " losses, expected ",
                                                want));
      }
      steps.insert(steps.end(), want, ExpectedStep{"probe", probe.lr(), stage.index()});
      ++*actions;
    }
    // The first stage's confirmations (first_stage_confirmation) run next,
    // as longer probes.
    for (int i = 0; i < stage.confirmations_size(); ++i) {
      const v1::Probe& probe = stage.confirmations(i);
      const int64_t want = probe.training_loss().count();
      if (want <= stage.tau_probe() || want > stage.tau()) {
        return absl::InternalError(absl::StrCat(where, "confirmation ", i, " has ", want,
                                                " losses, expected (tau', tau]"));
      }
      steps.insert(steps.end(), want, ExpectedStep{"probe", probe.lr(), stage.index()});
      ++*actions;
    }
    // Exploitations the exploit_guard rolled back ran first, tau steps each.
    for (double lr : stage.rolled_back_lrs()) {
      const int64_t ran = std::min(stage.tau(), total - static_cast<int64_t>(steps.size()));
      steps.insert(steps.end(), ran, ExpectedStep{"exploit", lr, stage.index()});
      ++*actions;
    }
    const int64_t want = std::min(stage.tau(), total - static_cast<int64_t>(steps.size()));
    // overfit_guard undid a last stage that left no budget to retry: the
    // cooldown starts from the stage's checkpoint at the lower LR.
    const bool undone = want == 0 && stage.rolled_back_lrs_size() > 0;
    if (stage.training_loss().count() != want || (want == 0 && !undone)) {
      return absl::InternalError(absl::StrCat(
          where, "exploitation has ", stage.training_loss().count(), " losses, expected ", want));
    }
    if (!(stage.chosen_lr() > 0)) return absl::InternalError(absl::StrCat(where, "no chosen LR"));
    if (!undone) {
      steps.insert(steps.end(), want, ExpectedStep{"exploit", stage.chosen_lr(), stage.index()});
      ++*actions;
    }
  }
  if (static_cast<int64_t>(steps.size()) != total) {
    return absl::InternalError(absl::StrCat("the stages cover ", steps.size(),
                                            " steps, total_steps less the cooldown is ", total));
  }
  // The cooldown: step i of n at cooldown_lr * (1 - i / (n + 1)).
  const int64_t n = schedule.cooldown_steps();
  if (n > 0) {
    if (schedule.cooldown_training_loss().count() != n) {
      return absl::InternalError(absl::StrCat(
          "the cooldown has ", schedule.cooldown_training_loss().count(), " losses, expected ", n));
    }
    for (int64_t i = 1; i <= n; ++i) {
      steps.push_back(
          {"cooldown",
           schedule.cooldown_lr() * (1.0 - static_cast<double>(i) / static_cast<double>(n + 1)),
           schedule.stages_size() - 1});
    }
    ++*actions;
  }
  return steps;
}

}  // namespace autolrs::e2e
