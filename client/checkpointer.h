#ifndef AUTOLRS_CLIENT_CHECKPOINTER_H_
#define AUTOLRS_CLIENT_CHECKPOINTER_H_

#include "absl/status/status.h"

namespace autolrs {

// Saves and restores the trainer's state (model parameters, buffers and
// optimizer state) in one slot: the current stage's checkpoint. The Tuner
// calls Save() before the first probe of a stage and Restore() before every
// later probe and before the stage's exploitation.
//
// Thread-safety: called from the training thread only.
class Checkpointer {
 public:
  virtual ~Checkpointer() = default;

  // Replaces the slot's content with the current state.
  virtual absl::Status Save() = 0;

  // Puts the state saved by the last Save() back. FAILED_PRECONDITION when
  // nothing was saved.
  virtual absl::Status Restore() = 0;
};

}  // namespace autolrs

#endif  // AUTOLRS_CLIENT_CHECKPOINTER_H_
