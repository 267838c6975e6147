#include "client/tuner.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/message_differencer.h"

namespace autolrs {
namespace {

// Loss-buffer capacity reserved when an action starts; longer actions grow it
// (amortized) past this.
constexpr int64_t kMaxReserve = int64_t{1} << 20;

absl::Status Annotate(const absl::Status& s, absl::string_view context) {
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

// FAILED_PRECONDITION unless every field set in `wanted` has the same value
// in the job's resolved config `actual`.
absl::Status CheckConfig(const std::string& job_id, const v1::JobConfig& wanted,
                         const v1::JobConfig& actual) {
  v1::JobConfig expected = actual;
  expected.MergeFrom(wanted);  // proto3: copies the fields set in `wanted`.
  google::protobuf::util::MessageDifferencer differencer;
  std::string diff;
  differencer.ReportDifferencesToString(&diff);
  if (differencer.Compare(actual, expected)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("job '", job_id, "' exists with another config (job -> requested): ",
                   absl::StripTrailingAsciiWhitespace(diff)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tuner>> Tuner::Create(
    Client* client, Checkpointer* checkpointer, std::function<absl::StatusOr<double>()> evaluate,
    TunerOptions options) {
  if (client == nullptr) return absl::InvalidArgumentError("client is required");
  if (checkpointer == nullptr) return absl::InvalidArgumentError("checkpointer is required");
  if (options.job_id.empty()) return absl::InvalidArgumentError("TunerOptions.job_id is required");
  if (options.worker_rank < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("TunerOptions.worker_rank must be >= 0, got ", options.worker_rank));
  }
  if (options.max_wait <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("TunerOptions.max_wait must be > 0");
  }
  std::unique_ptr<Tuner> tuner(
      new Tuner(client, checkpointer, std::move(evaluate), std::move(options)));
  const TunerOptions& o = tuner->options_;

  // The request_id is derived from the job_id: a restarted trainer gets the
  // job it created before, whatever happened in between.
  v1::CreateJobRequest create;
  create.set_job_id(o.job_id);
  *create.mutable_config() = o.config;
  create.set_request_id(absl::StrCat("tuner-", o.job_id));
  ++tuner->rpcs_;
  absl::StatusOr<v1::Job> job = client->CreateJob(create);
  if (absl::IsAlreadyExists(job.status())) {
    // Created by someone else (another tool, or another rank's request id):
    // use it.
    v1::GetJobRequest get;
    get.set_job_id(o.job_id);
    ++tuner->rpcs_;
    job = client->GetJob(get);
  }
  if (!job.ok()) return Annotate(job.status(), absl::StrCat("creating job '", o.job_id, "'"));
  if (absl::Status s = CheckConfig(o.job_id, o.config, job->config()); !s.ok()) return s;
  tuner->job_ = *std::move(job);

  v1::NextActionRequest next;
  next.set_job_id(o.job_id);
  next.set_worker_rank(o.worker_rank);
  ++tuner->rpcs_;
  absl::StatusOr<v1::Action> action = client->NextAction(next);
  if (!action.ok()) {
    return Annotate(action.status(), absl::StrCat("fetching the action of job '", o.job_id, "'"));
  }
  tuner->SetAction(*std::move(action));
  return tuner;
}

Tuner::Tuner(Client* client, Checkpointer* checkpointer,
             std::function<absl::StatusOr<double>()> evaluate, TunerOptions options)
    : client_(client),
      checkpointer_(checkpointer),
      evaluate_(std::move(evaluate)),
      options_(std::move(options)) {}

absl::Status Tuner::NotInStep() const {
  return absl::FailedPreconditionError(
      "ReportStepLoss() called without a step begun by NextLearningRate()");
}

void Tuner::SetAction(v1::Action action) {
  action_ = std::move(action);
  done_ = action_.phase() == v1::PHASE_DONE;
  started_ = false;
  eval_due_ = false;
  slow_path_ = true;
  step_ = 0;
  steps_ = 0;
  next_eval_step_ = std::numeric_limits<int64_t>::max();
}

absl::StatusOr<double> Tuner::NextLearningRateSlow() {
  if (in_step_) {
    return absl::FailedPreconditionError(
        "NextLearningRate() called again before ReportStepLoss() of the step it began");
  }
  // Every iteration either returns or moves to a new action through an RPC.
  while (true) {
    if (end_restore_due_) {
      if (absl::Status s = EndOnMainLine(); !s.ok()) return s;
    }
    if (done_) {
      return absl::OutOfRangeError(absl::StrCat("job '", options_.job_id, "' is done"));
    }
    if (!started_) {
      if (action_.phase() == v1::PHASE_WAIT) {
        if (absl::Status s = WaitForOthers(); !s.ok()) return s;
        continue;
      }
      if (absl::Status s = StartAction(); !s.ok()) return s;
    }
    if (eval_due_) {
      if (absl::Status s = Evaluate(); !s.ok()) return s;
    }
    if (step_ < steps_) break;
    if (absl::Status s = SendReport(); !s.ok()) return s;
  }
  slow_path_ = false;
  in_step_ = true;
  if (ramp_) lr_ = RampLr();
  return lr_;
}

absl::Status Tuner::EndOfStepSlow() {
  if (step_ == next_eval_step_) {
    if (absl::Status s = Evaluate(); !s.ok()) {
      eval_due_ = true;
      slow_path_ = true;
      return s;
    }
  }
  if (step_ == steps_) {
    slow_path_ = true;
    return SendReport();
  }
  return absl::OkStatus();
}

absl::Status Tuner::Evaluate() {
  absl::StatusOr<double> loss = evaluate_();
  if (!loss.ok()) {
    return Annotate(loss.status(), absl::StrCat("evaluate() after step ", step_, " of action ",
                                                action_.action_id()));
  }
  report_.add_eval_losses(*loss);
  eval_due_ = false;
  ++next_eval_;
  next_eval_step_ = next_eval_ < action_.eval_steps_size() ? action_.eval_steps(next_eval_)
                                                           : std::numeric_limits<int64_t>::max();
  return absl::OkStatus();
}

absl::Status Tuner::SendReport() {
  ++rpcs_;
  absl::StatusOr<v1::Action> next = client_->ReportLosses(report_);
  if (!next.ok()) {
    return Annotate(next.status(),
                    absl::StrCat("reporting the losses of action ", action_.action_id(),
                                 " of job '", options_.job_id, "'"));
  }
  SetAction(*std::move(next));
  return EndOnMainLine();
}

absl::Status Tuner::EndOnMainLine() {
  if (action_.phase() != v1::PHASE_DONE || action_.checkpoint() != v1::CHECKPOINT_OP_RESTORE) {
    return absl::OkStatus();
  }
  // The budget ended inside a search: the model holds a probe's rolled-back
  // state. Keep the main line's, the stage checkpoint.
  if (absl::Status s = checkpointer_->Restore(); !s.ok()) {
    // Not done until the main line is back: NextLearningRate() retries.
    done_ = false;
    end_restore_due_ = true;
    return Annotate(s, absl::StrCat("Restore() at the end of job '", options_.job_id, "'"));
  }
  end_restore_due_ = false;
  done_ = true;
  return absl::OkStatus();
}

absl::Status Tuner::WaitForOthers() {
  const absl::Time deadline = absl::Now() + options_.max_wait;
  v1::NextActionRequest request;
  request.set_job_id(options_.job_id);
  request.set_worker_rank(options_.worker_rank);
  while (action_.phase() == v1::PHASE_WAIT) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("other workers of job '", options_.job_id, "' did not report action ",
                       action_.action_id(), " within ", absl::FormatDuration(options_.max_wait)));
    }
    absl::SleepFor(
        std::min(absl::Milliseconds(std::max<int64_t>(1, action_.retry_after_ms())), left));
    ++rpcs_;
    absl::StatusOr<v1::Action> next = client_->NextAction(request);
    if (!next.ok()) {
      return Annotate(next.status(),
                      absl::StrCat("waiting for the other workers of job '", options_.job_id, "'"));
    }
    SetAction(*std::move(next));
    if (absl::Status s = EndOnMainLine(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Tuner::StartAction() {
  const v1::Action& a = action_;
  if (a.steps() < 0) {
    return absl::InternalError(
        absl::StrCat("action ", a.action_id(), " has ", a.steps(), " steps"));
  }
  for (int i = 0; i < a.eval_steps_size(); ++i) {
    if (a.eval_steps(i) < 1 || a.eval_steps(i) > a.steps() ||
        (i > 0 && a.eval_steps(i) <= a.eval_steps(i - 1))) {
      return absl::InternalError(
          absl::StrCat("action ", a.action_id(), " lists invalid eval_steps"));
    }
  }
  if (a.eval_steps_size() > 0 && !evaluate_) {
    return absl::FailedPreconditionError(
        absl::StrCat("action ", a.action_id(), " of job '", options_.job_id,
                     "' asks for validation losses but the Tuner has no evaluate callback"));
  }
  Checkpointer* best = options_.best_probe_checkpointer;
  if ((a.save_best() || a.checkpoint() == v1::CHECKPOINT_OP_RESTORE_BEST) && best == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("action ", a.action_id(), " of job '", options_.job_id,
                     "' uses the best-probe checkpoint (reuse_best_probe) but "
                     "TunerOptions.best_probe_checkpointer is not set"));
  }
  if (a.save_best()) {
    if (absl::Status s = best->Save(); !s.ok()) {
      return Annotate(s, absl::StrCat("saving the best probe before action ", a.action_id()));
    }
  }
  if (a.checkpoint() == v1::CHECKPOINT_OP_SAVE) {
    if (absl::Status s = checkpointer_->Save(); !s.ok()) {
      return Annotate(s, absl::StrCat("Save() before action ", a.action_id()));
    }
  } else if (a.checkpoint() == v1::CHECKPOINT_OP_RESTORE) {
    if (absl::Status s = checkpointer_->Restore(); !s.ok()) {
      return Annotate(s, absl::StrCat("Restore() before action ", a.action_id()));
    }
  } else if (a.checkpoint() == v1::CHECKPOINT_OP_RESTORE_BEST) {
    if (absl::Status s = best->Restore(); !s.ok()) {
      return Annotate(s, absl::StrCat("restoring the best probe before action ", a.action_id()));
    }
  }
  started_ = true;
  step_ = 0;
  steps_ = a.steps();
  next_eval_ = 0;
  next_eval_step_ = a.eval_steps_size() > 0 ? a.eval_steps(0) : std::numeric_limits<int64_t>::max();
  ramp_ = a.phase() == v1::PHASE_WARMUP || a.phase() == v1::PHASE_COOLDOWN;
  ramp_start_ = a.lr_ramp_start();
  ramp_end_ = a.lr();
  if (!ramp_) lr_ = a.lr();

  report_.Clear();  // Keeps the buffers' capacity.
  report_.set_job_id(options_.job_id);
  report_.set_action_id(a.action_id());
  report_.set_worker_rank(options_.worker_rank);
  report_.mutable_losses()->Reserve(static_cast<int>(std::min(steps_, kMaxReserve)));
  report_.mutable_eval_losses()->Reserve(a.eval_steps_size());
  return absl::OkStatus();
}

}  // namespace autolrs
