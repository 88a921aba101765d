#include "backends/backend_score.h"

#include <algorithm>
#include <bit>

namespace ferry::backends {

namespace {

// moproxy's two windows: the short one reacts, the long one keeps a single bad minute from dominating.
constexpr unsigned kShortWindow = 16;
constexpr unsigned kLongWindow = 64;
// moproxy's weight of the error rate: a server whose every recent close failed scores 11 times its delay.
constexpr int64_t kErrorWeight = 10;

// moproxy's moving average: an improvement counts for a tenth, a worsening for a fifth, so a server has to be
// fast for a while to climb and jitter pushes it down quickly.
int64_t smooth(int64_t old_score, int64_t sample) {
    if (sample < old_score) return (9 * old_score + sample) / 10;
    return (8 * old_score + 2 * sample) / 10;
}

int64_t magnitude(int64_t v) { return v < 0 ? -v : v; }

enum class Group { Scored = 0, Unscored = 1, Down = 2 };

struct Entry {
    Group group;
    int64_t key;
    size_t index;
};

}  // namespace

void CloseHistory::push(bool error) {
    bits_ = (bits_ << 1) | (error ? 1u : 0u);
    if (size_ < kCapacity) ++size_;
}

unsigned CloseHistory::closes_in_last(unsigned n) const { return std::min(n, size_); }

unsigned CloseHistory::errors_in_last(unsigned n) const {
    unsigned k = closes_in_last(n);
    if (k == 0) return 0;
    uint64_t mask = k >= 64 ? ~uint64_t{0} : (uint64_t{1} << k) - 1;
    return static_cast<unsigned>(std::popcount(bits_ & mask));
}

ErrorRate error_rate(const CloseHistory& h) {
    ErrorRate short_window{h.errors_in_last(kShortWindow), h.closes_in_last(kShortWindow)};
    ErrorRate long_window{h.errors_in_last(kLongWindow), h.closes_in_last(kLongWindow)};
    if (short_window.closes == 0) return short_window;
    // a/b <= c/d  <=>  a*d <= c*b for positive denominators.
    if (short_window.errors * long_window.closes <= long_window.errors * short_window.closes) return short_window;
    return long_window;
}

void mark_down(ScoreState& state) {
    if (state.up) state.score_before_down = state.score;
    state.up = false;
    state.score = std::nullopt;
}

void record_probe(ScoreState& state, std::optional<unsigned> delay_ms, const ScoreParams& params) {
    if (!delay_ms) {
        mark_down(state);
        state.last_delay_ms = std::nullopt;
        return;
    }
    int64_t sample = static_cast<int64_t>(*delay_ms) + params.score_base;
    int64_t old_score = sample;  // the first sample is taken as is
    if (state.score) {
        old_score = *state.score;
    } else if (!state.up) {
        old_score = static_cast<int64_t>(params.max_wait_ms) + params.score_base;  // the recovery penalty
    }
    state.score = smooth(old_score, sample);
    state.up = true;
    state.last_delay_ms = delay_ms;
    state.score_before_down = std::nullopt;
    state.closes.push(false);
}

void record_close(ScoreState& state, bool error) { state.closes.push(error); }

void record_failure(ScoreState& state) {
    state.closes.push(true);
    // The server could not be reached just now: down until a probe or a relayed connection says otherwise, so
    // the next connections do not pay for the same failure (moproxy keeps trying it until the next probe).
    mark_down(state);
}

void record_relay_success(ScoreState& state) {
    if (state.up) return;
    state.up = true;
    state.score = state.score_before_down;
    state.score_before_down = std::nullopt;
}

int64_t apply_error_penalty(int64_t value, ErrorRate rate) {
    if (rate.errors == 0 || rate.closes == 0) return value;
    int64_t base = std::max(magnitude(value), kMinPenaltyBaseMs);
    int64_t closes = rate.closes;
    // round(10 * errors / closes * base), half up; base is at most ~2^31 + an hour in ms, errors <= 64: no overflow.
    return value + (kErrorWeight * rate.errors * base * 2 + closes) / (2 * closes);
}

std::optional<int64_t> effective_score(const ScoreState& state) {
    if (!state.score) return std::nullopt;
    return apply_error_penalty(*state.score, error_rate(state.closes));
}

std::vector<size_t> rank(std::span<const RankInput> servers, const RandomBits& random_bits) {
    std::vector<Entry> entries;
    entries.reserve(servers.size());
    for (size_t i = 0; i < servers.size(); ++i) {
        const ScoreState& s = *servers[i].state;
        const ScoreParams& p = servers[i].params;
        ErrorRate rate = error_rate(s.closes);
        if (!s.up) {
            int64_t last = s.score_before_down.value_or(static_cast<int64_t>(p.max_wait_ms) + p.score_base);
            entries.push_back({Group::Down, apply_error_penalty(last, rate), i});
        } else if (s.score) {
            auto jitter = static_cast<int64_t>(random_bits() % kJitterRange);
            entries.push_back({Group::Scored, apply_error_penalty(*s.score, rate) + jitter, i});
        } else {
            entries.push_back({Group::Unscored, apply_error_penalty(p.score_base, rate), i});
        }
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        if (a.group != b.group) return a.group < b.group;
        if (a.key != b.key) return a.key < b.key;
        return a.index < b.index;
    });
    std::vector<size_t> order;
    order.reserve(entries.size());
    for (const Entry& e : entries) order.push_back(e.index);
    return order;
}

}  // namespace ferry::backends
