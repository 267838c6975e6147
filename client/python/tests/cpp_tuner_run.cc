// Runs the C++ autolrs::Tuner on testing/SyntheticTrainer against a server,
// for the cross-language test (cross_language_test.py), which runs the Python
// Tuner on the same loss function and compares the results bit for bit.
//
//   cpp_tuner_run --server=127.0.0.1:PORT --job_id=ID --seed=N
//       --config='lr_min: 0.001 lr_max: 1 ...' --steps_out=FILE
//
// --config: an autolrs.v1.JobConfig in protobuf text format.
// --steps_out: one line per step: "<action_id> <lr> <loss> <eval>", the
// numbers in C99 hex-float (%a) so nothing is rounded; <eval> is the
// validation loss evaluated after the step, or "-".
// Exit status 0 when the job ran to DONE, 1 (with a message) otherwise.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/checkpointer.h"
#include "client/client.h"
#include "client/tuner.h"
#include "google/protobuf/text_format.h"
#include "testing/synthetic_trainer.h"

namespace {

using autolrs::testing::SyntheticTrainer;

class Slot final : public autolrs::Checkpointer {
 public:
  Slot(SyntheticTrainer* trainer, bool best) : trainer_(trainer), best_(best) {}
  absl::Status Save() override {
    best_ ? trainer_->SaveBest() : trainer_->Save();
    return absl::OkStatus();
  }
  absl::Status Restore() override {
    best_ ? trainer_->RestoreBest() : trainer_->Restore();
    return absl::OkStatus();
  }

 private:
  SyntheticTrainer* trainer_;
  bool best_;
};

std::string Flag(int argc, char** argv, const char* name) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return argv[i] + prefix.size();
    }
  }
  return "";
}

absl::Status Run(int argc, char** argv) {
  const std::string server = Flag(argc, argv, "server");
  const std::string steps_out = Flag(argc, argv, "steps_out");
  const std::string seed = Flag(argc, argv, "seed");
  if (server.empty() || steps_out.empty() || seed.empty()) {
    return absl::InvalidArgumentError("--server, --seed and --steps_out are required");
  }
  autolrs::ClientOptions client_options;
  client_options.target = server;
  absl::StatusOr<std::unique_ptr<autolrs::Client>> client =
      autolrs::Client::Create(client_options);
  if (!client.ok()) return client.status();

  SyntheticTrainer trainer(std::strtoull(seed.c_str(), nullptr, 10));
  Slot stage(&trainer, /*best=*/false);
  Slot best(&trainer, /*best=*/true);
  autolrs::TunerOptions options;
  options.job_id = Flag(argc, argv, "job_id");
  options.best_probe_checkpointer = &best;
  if (!google::protobuf::TextFormat::ParseFromString(Flag(argc, argv, "config"),
                                                     &options.config)) {
    return absl::InvalidArgumentError("--config is not a text-format autolrs.v1.JobConfig");
  }
  bool evaluated = false;
  double eval = 0;
  auto evaluate = [&]() -> absl::StatusOr<double> {
    evaluated = true;
    eval = trainer.ValidationLoss();
    return eval;
  };
  absl::StatusOr<std::unique_ptr<autolrs::Tuner>> tuner =
      autolrs::Tuner::Create(client->get(), &stage, evaluate, options);
  if (!tuner.ok()) return tuner.status();

  FILE* out = std::fopen(steps_out.c_str(), "w");
  if (out == nullptr) return absl::InvalidArgumentError("cannot write --steps_out");
  while (true) {
    absl::StatusOr<double> lr = (*tuner)->NextLearningRate();
    if ((*tuner)->done()) break;
    if (!lr.ok()) {
      std::fclose(out);
      return lr.status();
    }
    const int64_t action_id = (*tuner)->action().action_id();
    trainer.SetLearningRate(*lr);
    const double loss = trainer.TrainStep();
    evaluated = false;
    if (absl::Status s = (*tuner)->ReportStepLoss(loss); !s.ok()) {
      std::fclose(out);
      return s;
    }
    std::fprintf(out, "%ld %a %a ", static_cast<long>(action_id), *lr, loss);
    if (evaluated) {
      std::fprintf(out, "%a\n", eval);
    } else {
      std::fprintf(out, "-\n");
    }
  }
  // The model state the trainer ends on: its excess loss.
  std::fprintf(out, "end %a\n", trainer.excess_loss());
  std::fclose(out);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::Status s = Run(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "cpp_tuner_run: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
