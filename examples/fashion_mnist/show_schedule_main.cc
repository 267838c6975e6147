// Prints the schedule an AutoLRS job produced (GetSchedule) as a Markdown
// table, one row per stage: its length, the LRs probed with their forecasts,
// the chosen LR and the loss the stage achieved.
//
//   show_schedule --server=localhost:50051 --job_id=mlp-1
//
// Exit status: 0 on success, 1 on any error (message on stderr).

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "autolrs/v1/job.pb.h"
#include "autolrs/v1/service.pb.h"
#include "client/client.h"

ABSL_FLAG(std::string, server, "localhost:50051", "host:port of autolrs_server.");
ABSL_FLAG(std::string, job_id, "", "The job whose schedule to print. Required.");
ABSL_FLAG(std::string, auth_token_file, "", "File holding the server's bearer token; empty: none.");

namespace autolrs::examples {
namespace {

std::string Lr(double lr) { return absl::StrFormat("%.4g", lr); }
std::string Loss(double loss) { return absl::StrFormat("%.4f", loss); }

const char* ObjectiveName(v1::Objective objective) {
  return objective == v1::OBJECTIVE_VALIDATION_LOSS ? "val" : "train";
}

std::string StateName(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_RUNNING:
      return "RUNNING";
    case v1::JOB_STATE_DONE:
      return "DONE";
    default:
      return "UNSPECIFIED";
  }
}

void PrintSchedule(const v1::Job& job, const v1::Schedule& schedule) {
  const v1::JobConfig& c = job.config();
  std::printf(
      "Job `%s`: %s, %ld of %ld steps spent (%ld model steps), LR in [%s, %s], "
      "%d probes per stage, preset %s\n\n",
      job.job_id().c_str(), StateName(job.state()).c_str(), static_cast<long>(job.steps_spent()),
      static_cast<long>(c.total_steps()), static_cast<long>(job.model_steps()),
      Lr(c.lr_min()).c_str(), Lr(c.lr_max()).c_str(), c.probes_per_stage(),
      c.preset() == v1::PRESET_REFERENCE ? "reference" : "recommended");
  if (schedule.warmup_steps() > 0) {
    std::printf("Warmup: %ld steps, linear from 0 to %s.\n\n",
                static_cast<long>(schedule.warmup_steps()), Lr(schedule.warmup_lr()).c_str());
  }
  std::printf(
      "| stage | start step | tau | tau' | objective | probed LR (forecast) | chosen LR | "
      "forecast | achieved train loss | achieved val loss |\n"
      "|---:|---:|---:|---:|:---|:---|---:|---:|---:|---:|\n");
  for (const v1::Stage& stage : schedule.stages()) {
    std::vector<std::string> probes;
    for (const v1::Probe& p : stage.probes()) {
      probes.push_back(absl::StrCat(Lr(p.lr()), " (",
                                    p.diverged() ? "diverged" : Loss(p.predicted_loss()), ")"));
    }
    std::string probed =
        stage.search_skipped() ? "skipped: budget left too small" : absl::StrJoin(probes, ", ");
    const bool chosen = stage.chosen_lr() > 0;
    const bool exploited = stage.training_loss().count() > 0;
    std::printf(
        "| %d | %ld | %ld | %ld | %s | %s | %s | %s | %s | %s |\n", stage.index(),
        static_cast<long>(stage.start_steps_spent()), static_cast<long>(stage.tau()),
        static_cast<long>(stage.tau_probe()), ObjectiveName(stage.objective()), probed.c_str(),
        chosen ? Lr(stage.chosen_lr()).c_str() : "-",
        chosen && !stage.search_skipped() ? Loss(stage.chosen_predicted_loss()).c_str() : "-",
        exploited ? Loss(stage.training_loss().tail_mean()).c_str() : "-",
        stage.validation_loss().count() > 0 ? Loss(stage.validation_loss().last()).c_str() : "-");
  }
  if (schedule.cooldown_steps() > 0) {
    std::printf("\nCooldown: the last %ld steps, linear from %s to 0.\n",
                static_cast<long>(schedule.cooldown_steps()), Lr(schedule.cooldown_lr()).c_str());
    if (schedule.cooldown_rolled_back()) {
      std::printf("Its validation loss rose (overfit_guard): the job kept the model from before "
                  "it.\n");
    }
  }
  std::printf(
      "\nForecasts predict the stage objective after tau steps. Achieved train loss: mean of "
      "the stage's last 10 training losses; val loss: validation loss at the stage's end "
      "(validation-objective stages, and every stage with overfit_guard).\n");
}

absl::Status Run() {
  const std::string job_id = absl::GetFlag(FLAGS_job_id);
  if (job_id.empty()) return absl::InvalidArgumentError("--job_id is required");
  ClientOptions options;
  options.target = absl::GetFlag(FLAGS_server);
  if (const std::string path = absl::GetFlag(FLAGS_auth_token_file); !path.empty()) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    options.auth_token = std::string(absl::StripAsciiWhitespace(text.str()));
    if (!in || options.auth_token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth_token_file: cannot read a token from '", path, "'"));
    }
  }
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  if (!client.ok()) return client.status();
  v1::GetJobRequest get_job;
  get_job.set_job_id(job_id);
  absl::StatusOr<v1::Job> job = (*client)->GetJob(get_job);
  if (!job.ok()) return job.status();
  v1::GetScheduleRequest get_schedule;
  get_schedule.set_job_id(job_id);
  absl::StatusOr<v1::Schedule> schedule = (*client)->GetSchedule(get_schedule);
  if (!schedule.ok()) return schedule.status();
  PrintSchedule(*job, *schedule);
  return absl::OkStatus();
}

}  // namespace
}  // namespace autolrs::examples

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Prints an AutoLRS job's schedule as a Markdown table.");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = autolrs::examples::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "show_schedule: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
