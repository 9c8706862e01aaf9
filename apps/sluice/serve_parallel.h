// `serve --expert-parallel`: rank 0 serves HTTP and schedules; before each forward pass it
// tells the other ranks which pass it runs, and they run the same pass on their copies of the
// slots (same prompts, same sampled tokens from rank 0), taking part in its exchanges.
#pragma once

#include "parallel/mpi_expert_parallel.h"
#include "server/scheduler.h"

namespace sluice::cli {

// Rank 0's side: every step as one message to the other ranks.
class mpi_step_mirror final : public server::step_mirror {
  public:
    explicit mpi_step_mirror(mpi_expert_parallel & ep) : ep_(ep) {}

    void step(std::span<const part> parts) override;
    // The server stopped: the other ranks leave follow_server_steps.
    void stop();

  private:
    mpi_expert_parallel & ep_;
};

// The other ranks: `n_slots` sessions like rank 0's slots, running each step rank 0 announces
// until it stops. An error of a step (a full context) is rank 0's to report; the mirror goes on.
void follow_server_steps(engine & e, mpi_expert_parallel & ep, const session_options & so, int n_slots);

}  // namespace sluice::cli
