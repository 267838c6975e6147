#include "testing/action_runner.h"

namespace autolrs::testing {

double StepLearningRate(const v1::Action& action, int64_t i) {
  if (action.phase() != v1::PHASE_WARMUP && action.phase() != v1::PHASE_COOLDOWN) {
    return action.lr();
  }
  return action.lr_ramp_start() +
         (action.lr() - action.lr_ramp_start()) *
             (static_cast<double>(i) / static_cast<double>(action.steps()));
}

v1::ReportLossesRequest RunAction(const v1::Action& action, SyntheticTrainer& trainer,
                                  int worker_rank, std::vector<double>* lrs) {
  if (action.save_best()) trainer.SaveBest();
  if (action.checkpoint() == v1::CHECKPOINT_OP_SAVE) trainer.Save();
  if (action.checkpoint() == v1::CHECKPOINT_OP_RESTORE) trainer.Restore();
  if (action.checkpoint() == v1::CHECKPOINT_OP_RESTORE_BEST) trainer.RestoreBest();
  v1::ReportLossesRequest report;
  report.set_job_id(action.job_id());
  report.set_action_id(action.action_id());
  report.set_worker_rank(worker_rank);
  int next_eval = 0;
  for (int64_t i = 1; i <= action.steps(); ++i) {
    const double lr = StepLearningRate(action, i);
    if (lrs != nullptr) lrs->push_back(lr);
    trainer.SetLearningRate(lr);
    report.add_losses(trainer.TrainStep());
    if (next_eval < action.eval_steps_size() && action.eval_steps(next_eval) == i) {
      report.add_eval_losses(trainer.ValidationLoss());
      ++next_eval;
    }
  }
  return report;
}

}  // namespace autolrs::testing
