// Scores and ranking of the upstream proxies, after moproxy 0.5.1: probe delays smoothed into a
// score, a penalty for recent error closes, a little jitter, down servers last. Pure: the caller owns one
// ScoreState per server, feeds it probe results and connection outcomes, and passes the random bits in.
// No clock is needed: nothing here depends on when things happened, only on their order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace ferry::backends {

// The outcomes of a server's last 64 closes, a 64-bit shift register (newest in bit 0).
class CloseHistory {
public:
    static constexpr unsigned kCapacity = 64;

    CloseHistory() = default;
    // As saved from bits() and size() (a takeover's state); a size above kCapacity is taken as kCapacity.
    CloseHistory(uint64_t bits, unsigned size) : bits_(bits), size_(size > kCapacity ? kCapacity : size) {}
    uint64_t bits() const { return bits_; }

    void push(bool error);
    // Closes recorded so far, at most kCapacity.
    unsigned size() const { return size_; }
    // Among the newest min(n, size()) closes: how many there are, and how many were errors.
    unsigned closes_in_last(unsigned n) const;
    unsigned errors_in_last(unsigned n) const;

    bool operator==(const CloseHistory&) const = default;

private:
    uint64_t bits_ = 0;  // bit i set: the i-th newest close was an error
    unsigned size_ = 0;
};

// errors / closes; 0 / 0 when nothing was recorded yet (a rate of 0).
struct ErrorRate {
    unsigned errors = 0;
    unsigned closes = 0;
    bool operator==(const ErrorRate&) const = default;
};

// moproxy's error rate: the lower of the last-16 and the last-64 windows, each over the closes recorded so far
// when there are fewer (moproxy divides by 16 and 64 regardless, which makes a new server's first errors weigh
// almost nothing). On a tie the 16-window's fraction is returned.
ErrorRate error_rate(const CloseHistory& history);

// A server's settings that the score depends on.
struct ScoreParams {
    int64_t score_base = 0;      // from the server list
    unsigned max_wait_ms = 4000; // the server's max wait (its own or the global one)
};

struct ScoreState {
    // The smoothed probe score, delay_ms + score_base; none before the first successful probe and while down.
    // The error penalty is not in it: it is applied when ranking (see effective_score()).
    std::optional<int64_t> score;
    // False from a failed probe until the next successful one. A server never probed is up.
    bool up = true;
    // The delay measured by the last probe; none before the first probe and after a failed one.
    std::optional<unsigned> last_delay_ms;
    // While down: the score it had when it went down (none if it never had one), to order down servers.
    std::optional<int64_t> score_before_down;
    CloseHistory closes;

    bool operator==(const ScoreState&) const = default;
};

// A probe result: the delay in ms (connect + handshake + DNS answer), or nullopt for a timeout or error.
// Success: new = delay_ms + score_base; the first sample is taken as is; after being down the old value is
// max_wait_ms + score_base (so a flapping server climbs back slowly: 4000 ms max wait and a 100 ms answer give
// 3610, then 3259, ...); otherwise new < old gives (9*old + new)/10 and new >= old gives (8*old + 2*new)/10, in
// integers truncated toward zero as moproxy's i32 arithmetic. The server is up, and a clean close is pushed
// into its history, as moproxy does, so the error rate of a server that answers probes decays.
// Failure: the server is down, its score none, its last delay none; the history is unchanged.
void record_probe(ScoreState& state, std::optional<unsigned> delay_ms, const ScoreParams& params);

// A relayed connection through the server closed, with an I/O error or not.
void record_close(ScoreState& state, bool error);

// A real connection could not be set up through the server (connect or proxy handshake failed or timed out):
// counted as an error close, and the server is down (as after a failed probe) until the next successful probe
// or relayed connection. It changes the next rank() at once.
void record_failure(ScoreState& state);

// A connection is being relayed through the server: a server that was down is up again, with the score it
// had before (what brings a server back when probing is off).
void record_relay_success(ScoreState& state);

// Down, keeping the score for ordering among the down servers.
void mark_down(ScoreState& state);

// The score with the error penalty: s + round(10 * rate * max(|s|, kMinPenaltyBaseMs)). For a positive score
// of at least 100 that is moproxy's s * (1 + 10 * rate); the floor keeps the penalty meaningful for a backend
// on the same host (1 ms: moproxy's product would be lost in the jitter) and for negative scores (where
// moproxy's product would make errors raise the rank). nullopt when state.score is none.
inline constexpr int64_t kMinPenaltyBaseMs = 100;
std::optional<int64_t> effective_score(const ScoreState& state);

// The penalty rule of effective_score() for any value.
int64_t apply_error_penalty(int64_t value, ErrorRate rate);

// One server to rank: its state (must outlive the call) and its settings.
struct RankInput {
    const ScoreState* state = nullptr;
    ScoreParams params;
};

// Uniform random 64-bit values; production wraps a seeded std::mt19937_64, tests return a fixed sequence.
using RandomBits = std::function<uint64_t()>;

// moproxy adds 0..29 ms at random so that servers of about the same score share the connections.
inline constexpr unsigned kJitterRange = 30;

// The order in which to try the servers, as indices into servers. Three groups, each ascending by its key,
// ties in input (configuration) order:
//   1. up with a score: effective_score() + random_bits() % kJitterRange, one draw per such server in index
//      order (so a fixed sequence gives a fixed order);
//   2. up without a score yet (before the first probe round, or with probing off): no jitter, keyed by
//      apply_error_penalty(score_base): the configuration order, steered by `score base` and by failures;
//   3. down: keyed by apply_error_penalty(score_before_down, or max_wait_ms + score_base if none).
// Down servers are still returned: the caller tries them when all else failed.
std::vector<size_t> rank(std::span<const RankInput> servers, const RandomBits& random_bits);

}  // namespace ferry::backends
