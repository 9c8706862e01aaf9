#include "serve_parallel.h"

#include "util/error.h"

#include <memory>

namespace sluice::cli {

namespace {

// A step: [kind, ...]. PREFILL: [kind, slot, fresh, tokens...]; DECODE: [kind, n, n slots,
// n tokens]; STOP: [kind].
enum step_kind : int32_t { STOP = 0, PREFILL = 1, DECODE = 2 };

}  // namespace

void mpi_step_mirror::prefill(int slot, bool fresh, std::span<const int32_t> tokens) {
    std::vector<int32_t> msg = {PREFILL, slot, fresh ? 1 : 0};
    msg.insert(msg.end(), tokens.begin(), tokens.end());
    ep_.broadcast_message(msg);
}

void mpi_step_mirror::decode(std::span<const int32_t> slots, std::span<const int32_t> tokens) {
    std::vector<int32_t> msg = {DECODE, static_cast<int32_t>(slots.size())};
    msg.insert(msg.end(), slots.begin(), slots.end());
    msg.insert(msg.end(), tokens.begin(), tokens.end());
    ep_.broadcast_message(msg);
}

void mpi_step_mirror::stop() {
    std::vector<int32_t> msg = {STOP};
    ep_.broadcast_message(msg);
}

void follow_server_steps(engine & e, mpi_expert_parallel & ep, const session_options & so, int n_slots) {
    std::vector<std::unique_ptr<session>> slots;
    for (int i = 0; i < n_slots; ++i) {
        slots.push_back(std::make_unique<session>(e, so));
    }
    const auto slot_at = [&](int32_t i) -> session & {
        if (i < 0 || i >= n_slots) {
            fail("rank 0 announced a step for slot {} of {}", i, n_slots);
        }
        return *slots[static_cast<size_t>(i)];
    };
    std::vector<int32_t> msg;
    for (;;) {
        ep.broadcast_message(msg);
        if (msg.empty() || msg[0] == STOP) {
            return;
        }
        const bool prefill = msg[0] == PREFILL && msg.size() >= 3;
        const bool decode =
            msg[0] == DECODE && msg.size() >= 2 && msg[1] >= 0 && msg.size() == 2 + 2 * static_cast<size_t>(msg[1]);
        if (!prefill && !decode) {
            fail("rank 0 announced a malformed step (kind {}, {} values)", msg[0], msg.size());
        }
        try {
            if (prefill) {
                session & s = slot_at(msg[1]);
                if (msg[2] != 0) {
                    s.reset();
                }
                s.eval(std::span<const int32_t>(msg).subspan(3));
            } else {
                const auto             n = static_cast<size_t>(msg[1]);
                std::vector<session *> group;
                for (size_t i = 0; i < n; ++i) {
                    group.push_back(&slot_at(msg[2 + i]));
                }
                decode_batch(group, std::span<const int32_t>(msg).subspan(2 + n, n));
            }
        } catch (const error &) {
            // The same input fails the same way on rank 0, whose scheduler reports it to the
            // client and goes on; so does the mirror.
        }
    }
}

}  // namespace sluice::cli
