#include "serve_parallel.h"

#include "util/error.h"

#include <memory>

namespace sluice::cli {

namespace {

// A message: [kind, ...]. STEP: [kind, n, then per part: slot, restart_at, length, then every
// part's tokens in order]; STOP: [kind].
enum step_kind : int32_t { STOP = 0, STEP = 1 };

}  // namespace

void mpi_step_mirror::step(std::span<const part> parts) {
    std::vector<int32_t> msg = {STEP, static_cast<int32_t>(parts.size())};
    for (const part & p : parts) {
        msg.insert(msg.end(), {p.slot, p.restart_at, static_cast<int32_t>(p.tokens.size())});
    }
    for (const part & p : parts) {
        msg.insert(msg.end(), p.tokens.begin(), p.tokens.end());
    }
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
        // Every count is checked against the message's length before it is used.
        const size_t n     = msg[0] == STEP && msg.size() >= 2 && msg[1] >= 0 ? static_cast<size_t>(msg[1]) : 0;
        bool         ok    = msg[0] == STEP && msg.size() >= 2 + 3 * n;
        size_t       total = 0;
        for (size_t i = 0; ok && i < n; ++i) {
            const int32_t len = msg[2 + 3 * i + 2];
            ok                = len > 0 && static_cast<size_t>(len) <= msg.size();
            total += ok ? static_cast<size_t>(len) : 0;
        }
        if (!ok || msg.size() != 2 + 3 * n + total) {
            fail("rank 0 announced a malformed step (kind {}, {} values)", msg[0], msg.size());
        }
        std::vector<session *>                group;
        std::vector<std::span<const int32_t>> chunks;
        size_t                                at = 2 + 3 * n;
        for (size_t i = 0; i < n; ++i) {
            session & s = slot_at(msg[2 + 3 * i]);
            if (msg[2 + 3 * i + 1] >= 0) {  // a new request: keep the prefix rank 0 kept
                s.rewind(msg[2 + 3 * i + 1]);
            }
            const auto len = static_cast<size_t>(msg[2 + 3 * i + 2]);
            group.push_back(&s);
            chunks.push_back(std::span<const int32_t>(msg).subspan(at, len));
            at += len;
        }
        try {
            eval_batch(group, chunks);
        } catch (const error &) {
            // The same input fails the same way on rank 0, whose scheduler reports it to the
            // client and goes on; so does the mirror.
        }
    }
}

}  // namespace sluice::cli
