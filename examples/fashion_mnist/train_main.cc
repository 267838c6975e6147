// Trains a Fashion-MNIST model with a learning-rate schedule found by AutoLRS
// (through autolrs_server) or with a hand-made baseline schedule, for the
// same budget of steps, and reports the test loss and accuracy.
//
//   train --schedule=autolrs --server=localhost:50051 --job_id=mlp-1
//         --lr_min=1e-3 --lr_max=1 --total_steps=6000 --csv=/tmp/autolrs.csv
//   train --schedule=cosine --lr=0.1 --total_steps=6000
//
// Steps are counted the same way for every schedule: every optimizer step
// spent, so with AutoLRS the probe steps (rolled back afterwards) count
// against --total_steps like the others; the job is created with
// total_steps = --total_steps and the server ends it there.
//
// Output:
//   stderr: progress (one line per AutoLRS action, validation losses).
//   stdout: one line, `final: schedule=... test_loss=... test_accuracy=...
//           val_loss=... steps=... model_steps=... seconds=...`.
//   --csv:  `step,phase,lr,loss,val_loss`, one row per step spent (step is
//           1-based; lr is read back from the optimizer right before the
//           step; phase is train for the baselines, warmup|probe|exploit|cooldown
//           for AutoLRS; val_loss is empty unless the validation loss was
//           evaluated after that step, by --eval_every or because the
//           AutoLRS action asked for it).
//
// Exit status: 0 on success, 1 on any error (message on stderr).

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autolrs/v1/job.pb.h"
#include "client/client.h"
#include "client/torch_checkpointer.h"
#include "client/tuner.h"
#include "examples/fashion_mnist/fashion_mnist.h"
#include "examples/fashion_mnist/range_test.h"
#include "examples/fashion_mnist/schedules.h"
#include "examples/fashion_mnist/trainer.h"
#include "google/protobuf/text_format.h"

ABSL_FLAG(std::string, model, "mlp",
          "Network: mlp or cnn (Fashion-MNIST), gru or transformer (byte-level "
          "language models on the text files of --data_dir, default "
          "/usr/share/common-licenses).");
ABSL_FLAG(std::string, optimizer, "sgd",
          "sgd (momentum 0.9), adam, adamw (weight decay 0.01), or a parameter-free "
          "one whose --lr is a multiplier (1 = as published): dog (evaluated at its "
          "iterate average), dadapt-sgd, dadapt-adam, prodigy.");
ABSL_FLAG(std::string, schedule, "autolrs",
          "LR schedule: autolrs (asks --server), constant, step (x0.1 at 50% "
          "and 75% of --total_steps), cosine, wsd (constant, then a linear "
          "cooldown over the last half, as AutoLRS's default ends), or "
          "range-cosine (an LR range test of at most --range_fraction of the "
          "steps, then a restart from the initial weights with a cosine from "
          "the suggested peak LR).");
ABSL_FLAG(double, range_fraction, 0.03,
          "range-cosine: the sweep's largest share of --total_steps (its steps count).");
ABSL_FLAG(double, range_lr_min, 1e-5, "range-cosine: the sweep's first LR.");
ABSL_FLAG(double, range_lr_max, 10, "range-cosine: the sweep's last LR.");
ABSL_FLAG(double, lr, 0.05,
          "Peak LR of the baseline schedules; the initial LR of the optimizer "
          "with autolrs (never used for a step there).");
ABSL_FLAG(int64_t, total_steps, 6000, "Steps to spend, S. With autolrs the probe steps count too.");
ABSL_FLAG(int64_t, batch_size, 128, "Images per step.");
ABSL_FLAG(uint64_t, seed, 1,
          "Seed of the model initialization, the data order and (autolrs) "
          "the job's random choices.");
ABSL_FLAG(int64_t, eval_every, 0,
          "Log the validation loss every this many steps (all schedules); "
          "0 = never.");
ABSL_FLAG(std::string, csv, "", "If set, write one CSV row per step here.");
ABSL_FLAG(int, threads, 1, "libtorch intra-op threads (torch::set_num_threads).");
ABSL_FLAG(std::string, data_dir, "",
          "Folder of the Fashion-MNIST IDX files (default: Debian's "
          "dataset-fashion-mnist package); with a language model, the folder of text "
          "files (default /usr/share/common-licenses).");
// AutoLRS only.
ABSL_FLAG(std::string, server, "localhost:50051", "autolrs: host:port of autolrs_server.");
ABSL_FLAG(std::string, job_id, "",
          "autolrs: the job's id ([a-z0-9-_], 1-63 characters). Default: "
          "fmnist-<model>-<optimizer>-s<seed>. An existing job with this id "
          "and the same config is resumed; a finished one is an error.");
ABSL_FLAG(std::string, auth_token_file, "",
          "autolrs: file holding the server's bearer token; empty: none.");
ABSL_FLAG(double, lr_min, 1e-3, "autolrs: lower end of the LR search interval.");
ABSL_FLAG(double, lr_max, 1.0, "autolrs: upper end of the LR search interval.");
ABSL_FLAG(int64_t, tau_initial, 200, "autolrs: steps of the first stage (tau).");
ABSL_FLAG(int64_t, tau_max, 800, "autolrs: largest stage length; tau doubles up to it.");
ABSL_FLAG(int32_t, probes_per_stage, 5, "autolrs: LRs probed per stage (k).");
ABSL_FLAG(std::string, preset, "recommended",
          "autolrs: algorithm defaults, recommended or reference (the "
          "published AutoLRS).");
ABSL_FLAG(std::string, job_config, "",
          "autolrs: more JobConfig fields in protobuf text format, applied "
          "over the flags above, e.g. 'probe_ratio: 0.05 kappa: 1'.");
ABSL_FLAG(absl::Duration, max_outage, absl::Minutes(5),
          "autolrs: how long to keep retrying while the server is "
          "unreachable before giving up.");

namespace autolrs::examples {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Per-step CSV output (or nothing when the path is empty).
class StepLog {
 public:
  static absl::StatusOr<std::unique_ptr<StepLog>> Open(const std::string& path) {
    std::unique_ptr<StepLog> log(new StepLog);
    if (path.empty()) return log;
    log->file_ = std::fopen(path.c_str(), "w");
    if (log->file_ == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--csv: cannot write '", path, "'"));
    }
    log->path_ = path;
    std::fprintf(log->file_, "step,phase,lr,loss,val_loss\n");
    return log;
  }
  ~StepLog() {
    if (file_ != nullptr) std::fclose(file_);
  }

  // `val_loss` NaN: not evaluated (empty field).
  void Row(int64_t step, const char* phase, double lr, double loss, double val_loss,
           bool evaluated) {
    if (file_ == nullptr) return;
    std::fprintf(file_, "%ld,%s,%.10g,%.7g,", static_cast<long>(step), phase, lr, loss);
    if (evaluated) std::fprintf(file_, "%.7g", val_loss);
    std::fputc('\n', file_);
  }

  absl::Status Close() {
    if (file_ == nullptr) return absl::OkStatus();
    const bool ok = std::ferror(file_) == 0 && std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok) return absl::DataLossError(absl::StrCat("--csv: error writing '", path_, "'"));
    return absl::OkStatus();
  }

 private:
  StepLog() = default;
  FILE* file_ = nullptr;
  std::string path_;
};

const char* PhaseName(v1::Phase phase) {
  switch (phase) {
    case v1::PHASE_WARMUP:
      return "warmup";
    case v1::PHASE_PROBE:
      return "probe";
    case v1::PHASE_EXPLOIT:
      return "exploit";
    case v1::PHASE_COOLDOWN:
      return "cooldown";
    default:
      return "other";
  }
}

bool Retryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
}

struct RunResult {
  int64_t steps = 0;        // Steps spent (counted).
  int64_t model_steps = 0;  // Steps the final model went through.
  double last_val_loss = NAN;
  double peak_lr = NAN;      // range-cosine: the suggested peak.
  int64_t sweep_steps = 0;   // range-cosine: steps the sweep spent.
  double max_step_size = 0;  // Baselines: the largest Trainer::step_size().
};

// A baseline schedule over `total` steps, numbered from first_step + 1 in the
// CSV and in --eval_every (steps before it were spent elsewhere, e.g. by a
// range test).
absl::Status RunBaseline(Trainer& trainer, BaselineSchedule schedule, double peak,
                         int64_t first_step, int64_t total, StepLog& log, RunResult& result) {
  const int64_t eval_every = absl::GetFlag(FLAGS_eval_every);
  const int64_t progress_every = std::max<int64_t>(1, total / 10);
  double tail = 0;  // Sum of the losses since the last progress line.
  int64_t tail_count = 0;
  for (int64_t t = 0; t < total; ++t) {
    trainer.SetLearningRate(BaselineLearningRate(schedule, peak, t, total));
    const double lr = trainer.learning_rate();
    const double loss = trainer.TrainStep();
    result.max_step_size = std::max(result.max_step_size, trainer.step_size());
    const int64_t step = first_step + t + 1;
    double val = NAN;
    const bool evaluated = eval_every > 0 && step % eval_every == 0;
    if (evaluated) {
      val = trainer.ValidationLoss();
      result.last_val_loss = val;
      std::fprintf(stderr, "step %ld: lr %.4g, validation loss %.4f\n", static_cast<long>(step), lr,
                   val);
    }
    log.Row(step, "train", lr, loss, val, evaluated);
    tail += loss;
    ++tail_count;
    if ((t + 1) % progress_every == 0 || t + 1 == total) {
      std::fprintf(stderr, "step %ld/%ld: lr %.4g (step size %.4g), mean training loss %.4f\n",
                   static_cast<long>(step), static_cast<long>(first_step + total), lr,
                   trainer.step_size(), tail / static_cast<double>(tail_count));
      tail = 0;
      tail_count = 0;
    }
  }
  result.steps = first_step + total;
  result.model_steps = total;
  return absl::OkStatus();
}

// The LR range test + cosine: a sweep of at most range_fraction x S steps
// (phase "probe" in the CSV: its model is thrown away), then a new Trainer
// with the same options and data (the same initial weights and data order)
// trains a cosine from the suggested peak for the remaining steps.
absl::Status RunRangeCosine(std::unique_ptr<Trainer>& trainer, StepLog& log, RunResult& result) {
  const int64_t total = absl::GetFlag(FLAGS_total_steps);
  RangeTestOptions options;
  options.lr_min = absl::GetFlag(FLAGS_range_lr_min);
  options.lr_max = absl::GetFlag(FLAGS_range_lr_max);
  options.steps = std::max<int64_t>(
      1, static_cast<int64_t>(std::floor(absl::GetFlag(FLAGS_range_fraction) * total)));
  if (!(options.lr_min > 0 && options.lr_max > options.lr_min) || options.steps >= total) {
    return absl::InvalidArgumentError(
        "range-cosine: need 0 < --range_lr_min < --range_lr_max and a sweep shorter than S");
  }
  RangeTest sweep(options);
  int64_t step = 0;
  for (int64_t i = 0; i < options.steps; ++i) {
    trainer->SetLearningRate(sweep.Lr(i));
    const double lr = trainer->learning_rate();
    const double loss = trainer->TrainStep();
    log.Row(++step, "probe", lr, loss, NAN, false);
    if (sweep.Add(loss)) break;
  }
  result.sweep_steps = step;
  result.peak_lr = sweep.SuggestedPeak();
  std::fprintf(stderr, "range test: %ld steps (%s), peak LR %.4g\n", static_cast<long>(step),
               sweep.diverged() ? "stopped at divergence" : "whole sweep", result.peak_lr);
  TrainerOptions restart = trainer->options();
  restart.learning_rate = result.peak_lr;
  absl::StatusOr<std::unique_ptr<Trainer>> fresh = Trainer::Create(restart, trainer->data());
  if (!fresh.ok()) return fresh.status();
  trainer = *std::move(fresh);
  return RunBaseline(*trainer, BaselineSchedule::kCosine, result.peak_lr, step, total - step, log,
                     result);
}

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string token(absl::StripAsciiWhitespace(text.str()));
  if (!in || token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth_token_file: cannot read a token from '", path, "'"));
  }
  return token;
}

absl::StatusOr<v1::Preset> ParsePreset(const std::string& name) {
  if (name == "recommended") return v1::PRESET_RECOMMENDED;
  if (name == "reference") return v1::PRESET_REFERENCE;
  return absl::InvalidArgumentError(
      absl::StrCat("--preset: unknown '", name, "'; expected recommended or reference"));
}

// AutoLRS: every step's LR comes from the Tuner, which also saves and
// restores the model around the probes and evaluates the validation loss
// when an action asks for it.
absl::Status RunAutoLrs(Trainer& trainer, StepLog& log, RunResult& result) {
  const int64_t total = absl::GetFlag(FLAGS_total_steps);
  const int64_t eval_every = absl::GetFlag(FLAGS_eval_every);
  const absl::Duration max_outage = absl::GetFlag(FLAGS_max_outage);

  absl::StatusOr<v1::Preset> preset = ParsePreset(absl::GetFlag(FLAGS_preset));
  if (!preset.ok()) return preset.status();
  absl::StatusOr<std::string> token = ReadToken(absl::GetFlag(FLAGS_auth_token_file));
  if (!token.ok()) return token.status();

  ClientOptions client_options;
  client_options.target = absl::GetFlag(FLAGS_server);
  client_options.auth_token = *token;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(client_options);
  if (!client.ok()) return client.status();

  TunerOptions options;
  options.job_id = absl::GetFlag(FLAGS_job_id);
  if (options.job_id.empty()) {
    options.job_id = absl::StrCat("fmnist-", trainer.options().model, "-",
                                  trainer.options().optimizer, "-s", trainer.options().seed);
  }
  v1::JobConfig& config = options.config;
  config.set_lr_min(absl::GetFlag(FLAGS_lr_min));
  config.set_lr_max(absl::GetFlag(FLAGS_lr_max));
  config.set_tau_initial(absl::GetFlag(FLAGS_tau_initial));
  config.set_tau_max(absl::GetFlag(FLAGS_tau_max));
  config.set_probes_per_stage(absl::GetFlag(FLAGS_probes_per_stage));
  config.set_total_steps(total);
  config.set_seed(trainer.options().seed);
  config.set_preset(*preset);
  if (const std::string fields = absl::GetFlag(FLAGS_job_config);
      !fields.empty() && !google::protobuf::TextFormat::MergeFromString(fields, &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--job_config: not text-format autolrs.v1.JobConfig fields: '", fields, "'"));
  }

  TorchCheckpointer checkpointer(trainer.model(), trainer.optimizer());
  // The best probe's end state, used only by jobs with reuse_best_probe.
  TorchCheckpointer best_probe(trainer.model(), trainer.optimizer());
  options.best_probe_checkpointer = &best_probe;
  // The validation loss the Tuner asked for after the current step, if any.
  bool tuner_evaluated = false;
  double tuner_val = NAN;
  auto evaluate = [&]() -> absl::StatusOr<double> {
    tuner_val = trainer.ValidationLoss();
    tuner_evaluated = true;
    return tuner_val;
  };
  absl::StatusOr<std::unique_ptr<Tuner>> created =
      Tuner::Create(client->get(), &checkpointer, evaluate, options);
  if (!created.ok()) return created.status();
  Tuner& tuner = **created;
  if (tuner.done()) {
    return absl::FailedPreconditionError(absl::StrCat("job '", options.job_id, "' on ",
                                                      client_options.target,
                                                      " is already done; choose another --job_id"));
  }
  std::fprintf(stderr, "autolrs: job '%s' on %s, LR in [%g, %g], S = %ld\n", options.job_id.c_str(),
               client_options.target.c_str(), config.lr_min(), config.lr_max(),
               static_cast<long>(total));

  int64_t steps_run = 0;  // By this process (less than the job's when resuming).
  // Per action, for the progress line.
  int64_t action_id = -1;
  v1::Action action;
  std::vector<double> recent;  // The action's last (up to) 10 losses.
  auto finish_action = [&]() {
    if (action_id < 0 || recent.empty()) return;
    double sum = 0;
    for (double l : recent) sum += l;
    const double action_tail = sum / static_cast<double>(recent.size());
    std::string what = PhaseName(action.phase());
    if (action.phase() == v1::PHASE_PROBE) {
      // k of this stage, from the job's resolved config (later stages probe
      // later_stage_probes LRs).
      const v1::JobConfig& resolved = tuner.job().config();
      const int32_t k =
          action.stage() == 0 ? resolved.probes_per_stage() : resolved.later_stage_probes();
      what = action.confirmation() ? absl::StrCat("confirm ", action.probe_index() + 1 - k)
                                   : absl::StrCat("probe ", action.probe_index() + 1, "/", k);
    }
    std::fprintf(stderr, "action %ld: stage %d %-11s lr %-10.4g %5ld steps, last-10 loss %.4f\n",
                 static_cast<long>(action_id), action.stage(), what.c_str(), action.lr(),
                 static_cast<long>(action.steps()), action_tail);
  };

  absl::Time outage_start = absl::InfiniteFuture();
  while (true) {
    absl::StatusOr<double> lr = tuner.NextLearningRate();
    if (tuner.done()) break;
    if (!lr.ok()) {
      // The Client already retried for a while; keep trying up to max_outage.
      if (!Retryable(lr.status())) return lr.status();
      const absl::Time now = absl::Now();
      if (outage_start == absl::InfiniteFuture()) outage_start = now;
      if (now - outage_start > max_outage) return lr.status();
      std::fprintf(stderr, "autolrs: %s; retrying\n", lr.status().ToString().c_str());
      absl::SleepFor(absl::Seconds(1));
      continue;
    }
    outage_start = absl::InfiniteFuture();
    if (tuner.action().action_id() != action_id) {
      finish_action();
      action = tuner.action();
      action_id = action.action_id();
      recent.clear();
    }
    // The checkpoint restore (inside NextLearningRate) does not restore the
    // LR: set it before every step.
    trainer.SetLearningRate(*lr);
    const double used_lr = trainer.learning_rate();
    const double loss = trainer.TrainStep();
    ++steps_run;
    // The job's step count (1-based), probe steps included.
    const int64_t step = action.steps_spent() + tuner.step_in_action() + 1;
    if (recent.size() == 10) recent.erase(recent.begin());
    recent.push_back(loss);
    tuner_evaluated = false;
    if (absl::Status s = tuner.ReportStepLoss(loss); !s.ok()) {
      // A failed report is sent again by the next NextLearningRate().
      if (!Retryable(s)) return s;
      std::fprintf(stderr, "autolrs: %s; will retry\n", s.ToString().c_str());
    }
    bool evaluated = tuner_evaluated;
    double val = tuner_val;
    if (!evaluated && eval_every > 0 && step % eval_every == 0) {
      val = trainer.ValidationLoss();
      evaluated = true;
    }
    if (evaluated) result.last_val_loss = val;
    if (eval_every > 0 && step % eval_every == 0) {
      std::fprintf(stderr, "step %ld: lr %.4g (%s), validation loss %.4f\n",
                   static_cast<long>(step), used_lr, PhaseName(action.phase()), val);
    }
    log.Row(step, PhaseName(action.phase()), used_lr, loss, val, evaluated);
  }
  finish_action();

  v1::GetJobRequest get;
  get.set_job_id(options.job_id);
  absl::StatusOr<v1::Job> job = (*client)->GetJob(get);
  if (!job.ok()) return job.status();
  std::fprintf(stderr, "autolrs: job done, %ld steps spent, %ld model steps, %ld RPCs\n",
               static_cast<long>(job->steps_spent()), static_cast<long>(job->model_steps()),
               static_cast<long>(tuner.rpcs()));
  if (steps_run != job->steps_spent()) {
    // A resumed job (trainer restart) spends fewer steps in this process.
    std::fprintf(stderr, "autolrs: this process ran %ld of the job's %ld steps\n",
                 static_cast<long>(steps_run), static_cast<long>(job->steps_spent()));
  }
  result.steps = job->steps_spent();
  result.model_steps = job->model_steps();
  return absl::OkStatus();
}

absl::Status Run() {
  const Clock::time_point start = Clock::now();
  const int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 1) return absl::InvalidArgumentError("--threads must be >= 1");
  at::set_num_threads(threads);

  const std::string schedule_name = absl::GetFlag(FLAGS_schedule);
  const bool autolrs = schedule_name == "autolrs";
  const bool range_cosine = schedule_name == "range-cosine";
  BaselineSchedule baseline = BaselineSchedule::kConstant;
  if (range_cosine) {
    // Checked in RunRangeCosine.
  } else if (!autolrs) {
    absl::StatusOr<BaselineSchedule> parsed = ParseBaselineSchedule(schedule_name);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--schedule: unknown '", schedule_name,
                       "'; expected autolrs, constant, step, cosine, wsd or range-cosine"));
    }
    baseline = *parsed;
  } else if (absl::Status s = ParsePreset(absl::GetFlag(FLAGS_preset)).status(); !s.ok()) {
    return s;
  }
  if (absl::GetFlag(FLAGS_total_steps) < 1) {
    return absl::InvalidArgumentError("--total_steps must be >= 1");
  }
  if (absl::GetFlag(FLAGS_eval_every) < 0) {
    return absl::InvalidArgumentError("--eval_every must be >= 0");
  }

  TrainerOptions options;
  options.model = absl::GetFlag(FLAGS_model);
  options.optimizer = absl::GetFlag(FLAGS_optimizer);
  options.learning_rate = absl::GetFlag(FLAGS_lr);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.seed = absl::GetFlag(FLAGS_seed);
  absl::StatusOr<std::unique_ptr<Trainer>> trainer =
      Trainer::CreateWithData(options, absl::GetFlag(FLAGS_data_dir));
  if (!trainer.ok()) return trainer.status();

  absl::StatusOr<std::unique_ptr<StepLog>> log = StepLog::Open(absl::GetFlag(FLAGS_csv));
  if (!log.ok()) return log.status();

  std::fprintf(stderr, "train: model=%s optimizer=%s schedule=%s batch=%ld seed=%lu threads=%d\n",
               options.model.c_str(), options.optimizer.c_str(), schedule_name.c_str(),
               static_cast<long>(options.batch_size), static_cast<unsigned long>(options.seed),
               threads);
  const Clock::time_point train_start = Clock::now();
  RunResult result;
  absl::Status status = autolrs ? RunAutoLrs(**trainer, **log, result)
                        : range_cosine
                            ? RunRangeCosine(*trainer, **log, result)
                            : RunBaseline(**trainer, baseline, absl::GetFlag(FLAGS_lr), 0,
                                          absl::GetFlag(FLAGS_total_steps), **log, result);
  if (!status.ok()) return status;
  const double train_seconds = Seconds(train_start);
  if (absl::Status s = (*log)->Close(); !s.ok()) return s;

  const Trainer::Metrics test = (*trainer)->TestMetrics();
  const double val = (*trainer)->ValidationLoss();
  std::fprintf(stderr, "train: %.2f ms/step over %ld steps\n",
               1e3 * train_seconds / static_cast<double>(std::max<int64_t>(1, (*trainer)->steps())),
               static_cast<long>((*trainer)->steps()));
  std::string extra;
  if (range_cosine) {
    extra = absl::StrFormat(" peak_lr=%.6g sweep_steps=%d", result.peak_lr, result.sweep_steps);
  }
  if (IsParameterFree(options.optimizer)) {
    extra += absl::StrFormat(" max_step_size=%.6g", result.max_step_size);
  }
  std::printf(
      "final: schedule=%s test_loss=%.4f test_accuracy=%.4f val_loss=%.4f steps=%ld "
      "model_steps=%ld seconds=%.1f%s\n",
      schedule_name.c_str(), test.loss, test.accuracy, val, static_cast<long>(result.steps),
      static_cast<long>(result.model_steps), Seconds(start), extra.c_str());
  std::fflush(stdout);
  return absl::OkStatus();
}

}  // namespace
}  // namespace autolrs::examples

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Trains Fashion-MNIST with an AutoLRS or a baseline LR schedule; see "
      "examples/fashion_mnist/README.md.");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = autolrs::examples::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "train: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
