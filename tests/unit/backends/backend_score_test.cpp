// Scoring and ranking of the moproxy mode's upstream proxies: exact smoothing numbers, the recovery penalty,
// error windows, the error penalty and the ranking groups, with the jitter's randomness fixed by the test.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "backends/backend_score.h"

using ferry::backends::CloseHistory;
using ferry::backends::ErrorRate;
using ferry::backends::RankInput;
using ferry::backends::ScoreParams;
using ferry::backends::ScoreState;
using ferry::backends::apply_error_penalty;
using ferry::backends::effective_score;
using ferry::backends::error_rate;
using ferry::backends::rank;
using ferry::backends::record_close;
using ferry::backends::record_failure;
using ferry::backends::record_probe;

namespace {

// Random bits that always give the same jitter.
ferry::backends::RandomBits constant(uint64_t value) {
    return [value] { return value; };
}

// Random bits from a fixed list, in order; counts the draws.
struct Sequence {
    std::vector<uint64_t> values;
    size_t next = 0;
    ferry::backends::RandomBits bits() {
        return [this] { return values.at(next++); };
    }
};

ScoreState scored(int64_t score) {
    ScoreState s;
    record_probe(s, static_cast<unsigned>(score), {});
    return s;
}

std::vector<size_t> rank_of(const std::vector<ScoreState>& states, const std::vector<ScoreParams>& params,
                            const ferry::backends::RandomBits& bits) {
    std::vector<RankInput> in;
    for (size_t i = 0; i < states.size(); ++i) in.push_back({&states[i], i < params.size() ? params[i] : ScoreParams{}});
    return rank(in, bits);
}

std::vector<size_t> rank_of(const std::vector<ScoreState>& states, const ferry::backends::RandomBits& bits) {
    return rank_of(states, {}, bits);
}

using Order = std::vector<size_t>;

}  // namespace

TEST_CASE("CloseHistory keeps the last 64 outcomes and counts any window", "[backend_score]") {
    CloseHistory h;
    CHECK(h.size() == 0);
    CHECK(h.closes_in_last(16) == 0);
    CHECK(h.errors_in_last(64) == 0);
    h.push(true);
    h.push(false);
    h.push(true);
    CHECK(h.size() == 3);
    CHECK(h.closes_in_last(16) == 3);
    CHECK(h.errors_in_last(16) == 2);
    CHECK(h.errors_in_last(1) == 1);  // the newest was an error
    CHECK(h.errors_in_last(2) == 1);
    for (int i = 0; i < 13; ++i) h.push(false);
    CHECK(h.closes_in_last(16) == 16);
    CHECK(h.errors_in_last(16) == 2);
    h.push(false);  // the oldest error leaves the 16-window, not the 64-window
    CHECK(h.errors_in_last(16) == 1);
    CHECK(h.errors_in_last(64) == 2);
    for (int i = 0; i < 100; ++i) h.push(i % 4 == 0);
    CHECK(h.size() == 64);
    CHECK(h.closes_in_last(64) == 64);
    CHECK(h.closes_in_last(1000) == 64);
    CHECK(h.errors_in_last(64) == 16);  // i = 36, 40, ..., 96
    CHECK(h.errors_in_last(16) == 4);
}

TEST_CASE("error rate: the lower of the 16 and 64 windows, over the closes so far", "[backend_score]") {
    CloseHistory h;
    CHECK(error_rate(h) == ErrorRate{0, 0});
    h.push(true);
    CHECK(error_rate(h) == ErrorRate{1, 1});  // moproxy: 1/16 and 1/64; ferry: what was seen
    h.push(false);
    CHECK(error_rate(h) == ErrorRate{1, 2});
    // 20 errors, then 16 clean closes: the 16-window is clean.
    CloseHistory burst;
    for (int i = 0; i < 20; ++i) burst.push(true);
    for (int i = 0; i < 16; ++i) burst.push(false);
    CHECK(error_rate(burst) == ErrorRate{0, 16});
    // 60 clean closes, then 4 errors: 4/16 now, but only 4/64 over the long window.
    CloseHistory recent;
    for (int i = 0; i < 60; ++i) recent.push(false);
    for (int i = 0; i < 4; ++i) recent.push(true);
    CHECK(error_rate(recent) == ErrorRate{4, 64});
    // Fewer than 16 closes: both windows are the same closes.
    CloseHistory few;
    few.push(true);
    few.push(false);
    few.push(false);
    CHECK(error_rate(few) == ErrorRate{1, 3});
}

TEST_CASE("smoothing: moproxy's asymmetric moving average, exact numbers", "[backend_score]") {
    ScoreState s;
    ScoreParams p;  // score base 0, max wait 4000
    record_probe(s, 100, p);
    CHECK(s.score == 100);  // the first sample as is
    CHECK(s.up);
    CHECK(s.last_delay_ms == 100u);
    record_probe(s, 50, p);
    CHECK(s.score == 95);  // better: (9*100 + 50)/10
    record_probe(s, 200, p);
    CHECK(s.score == 116);  // worse: (8*95 + 2*200)/10 = 1160/10
    record_probe(s, 116, p);
    CHECK(s.score == 116);  // equal: (8*116 + 2*116)/10
    record_probe(s, 117, p);
    CHECK(s.score == 116);  // (928 + 234)/10 = 116.2, truncated
    record_probe(s, 0, p);
    CHECK(s.score == 104);  // (1044 + 0)/10 = 104.4
    CHECK(s.last_delay_ms == 0u);

    // The score base is added to every sample before smoothing.
    ScoreState b;
    ScoreParams backup{5000, 4000};
    record_probe(b, 30, backup);
    CHECK(b.score == 5030);
    record_probe(b, 40, backup);
    CHECK(b.score == 5032);  // (8*5030 + 2*5040)/10
    record_probe(b, 10, backup);
    CHECK(b.score == 5029);  // (9*5032 + 5010)/10 = 50298/10

    // A negative total truncates toward zero, as moproxy's i32 division.
    ScoreState n;
    ScoreParams preferred{-1000, 4000};
    record_probe(n, 50, preferred);
    CHECK(n.score == -950);
    record_probe(n, 60, preferred);
    CHECK(n.score == -948);  // (8*-950 + 2*-940)/10 = -9480/10
    record_probe(n, 45, preferred);
    CHECK(n.score == -948);  // (9*-948 - 955)/10 = -9487/10 = -948.7, toward zero
}

TEST_CASE("a failed probe marks the server down without touching the history", "[backend_score]") {
    ScoreState s = scored(80);
    record_close(s, false);
    CloseHistory before = s.closes;
    record_probe(s, std::nullopt, {});
    CHECK_FALSE(s.up);
    CHECK_FALSE(s.score);
    CHECK_FALSE(s.last_delay_ms);
    CHECK(s.score_before_down == 80);
    CHECK(s.closes == before);
    CHECK_FALSE(effective_score(s));
    // Staying down keeps the score it had when it went down.
    record_probe(s, std::nullopt, {});
    CHECK(s.score_before_down == 80);
    // A server whose first probe fails has no score to remember.
    ScoreState fresh;
    record_probe(fresh, std::nullopt, {});
    CHECK_FALSE(fresh.up);
    CHECK_FALSE(fresh.score_before_down);
}

TEST_CASE("recovery penalty: after being down the score restarts from max wait", "[backend_score]") {
    ScoreState s = scored(100);
    ScoreParams p{0, 4000};
    record_probe(s, std::nullopt, p);
    record_probe(s, 100, p);
    CHECK(s.up);
    CHECK(s.score == 3610);  // (9*4000 + 100)/10
    CHECK_FALSE(s.score_before_down);
    record_probe(s, 100, p);
    CHECK(s.score == 3259);  // (9*3610 + 100)/10
    record_probe(s, 100, p);
    CHECK(s.score == 2943);  // (9*3259 + 100)/10 = 29431/10
    // With a score base and the server's own max wait.
    ScoreState b;
    ScoreParams q{50, 2000};
    record_probe(b, std::nullopt, q);  // down before any success: the penalty applies too
    record_probe(b, 150, q);
    CHECK(b.score == 1865);  // old = 2000 + 50, new = 150 + 50: (9*2050 + 200)/10
    // Every fall costs the whole climb from max wait again, however good the server was before.
    ScoreState f = scored(100);
    for (int i = 0; i < 3; ++i) {
        record_probe(f, std::nullopt, p);
        record_probe(f, 100, p);
        CHECK(f.score == 3610);
    }
}

TEST_CASE("a successful probe counts as a clean close, as in moproxy", "[backend_score]") {
    ScoreState s;
    record_failure(s);
    CHECK(error_rate(s.closes) == ErrorRate{1, 1});
    record_probe(s, 20, {});
    CHECK(error_rate(s.closes) == ErrorRate{1, 2});
    record_probe(s, std::nullopt, {});
    CHECK(error_rate(s.closes) == ErrorRate{1, 2});
}

TEST_CASE("the error penalty: moproxy's product with a floor", "[backend_score]") {
    CHECK(apply_error_penalty(200, {0, 0}) == 200);
    CHECK(apply_error_penalty(200, {0, 16}) == 200);
    CHECK(apply_error_penalty(200, {1, 16}) == 325);    // 200 * (1 + 10/16)
    CHECK(apply_error_penalty(200, {16, 16}) == 2200);  // every close failed: 11 times
    CHECK(apply_error_penalty(100, {1, 3}) == 433);     // 100 + 333.3
    CHECK(apply_error_penalty(100, {2, 3}) == 767);     // 100 + 666.7, rounded
    CHECK(apply_error_penalty(1000, {1, 64}) == 1156);  // 1000 + 156.25
    CHECK(apply_error_penalty(1000, {3, 64}) == 1469);  // 1000 + 468.75, rounded half up
    // The floor: a 1 ms local backend and a score base below zero still lose rank with errors.
    CHECK(apply_error_penalty(1, {1, 16}) == 64);       // 1 + 10/16 * 100 = 63.5 -> 64
    CHECK(apply_error_penalty(0, {1, 1}) == 1000);
    CHECK(apply_error_penalty(-500, {1, 2}) == 2000);   // -500 + 10/2 * 500
    CHECK(apply_error_penalty(-50, {1, 10}) == 50);     // -50 + 10/10 * 100

    ScoreState s = scored(300);
    record_close(s, true);  // history: clean (the probe), error
    CHECK(effective_score(s) == 1800);  // 300 + 10 * 1/2 * 300
    CHECK(s.score == 300);              // the smoothed score itself is untouched
}

TEST_CASE("rank: ascending score, ties in configuration order", "[backend_score]") {
    std::vector<ScoreState> s{scored(300), scored(100), scored(200), scored(100)};
    CHECK(rank_of(s, constant(0)) == Order{1, 3, 2, 0});
    CHECK(rank_of(s, constant(29)) == Order{1, 3, 2, 0});  // the same jitter for all changes nothing
    CHECK(rank(std::span<const RankInput>{}, constant(0)).empty());
}

TEST_CASE("rank: the jitter is 0..29 ms, one draw per scored server in order", "[backend_score]") {
    std::vector<ScoreState> s{scored(100), scored(129), scored(130)};
    Sequence seq{{29, 0, 0}};
    CHECK(rank_of(s, seq.bits()) == Order{0, 1, 2});  // 129 vs 129: the tie keeps the configuration order
    CHECK(seq.next == 3);
    Sequence wrap{{30 + 29, 0, 0}};  // taken modulo 30: 59 is 29
    CHECK(rank_of(s, wrap.bits()) == Order{0, 1, 2});
    Sequence beat{{30, 0, 0}};  // 30 is 0
    CHECK(rank_of(s, beat.bits()) == Order{0, 1, 2});
    // 29 ms is the most it can shift: 100 + 29 beats 130 + 0 but not 128 + 0.
    std::vector<ScoreState> close{scored(100), scored(128)};
    Sequence up{{29, 0}};
    CHECK(rank_of(close, up.bits()) == Order{1, 0});
    std::vector<ScoreState> far{scored(100), scored(130)};
    Sequence huge{{UINT64_MAX, 0}};  // UINT64_MAX % 30 == 15
    CHECK(rank_of(far, huge.bits()) == Order{0, 1});
    for (uint64_t r = 0; r < 200; ++r) {
        std::vector<ScoreState> pair{scored(100), scored(130)};
        Sequence seq2{{r, 0}};
        CHECK(rank_of(pair, seq2.bits()) == Order{0, 1});
    }
    // Down and unscored servers draw nothing.
    ScoreState down = scored(10);
    record_probe(down, std::nullopt, {});
    std::vector<ScoreState> mixed{ScoreState{}, down, scored(50), ScoreState{}, scored(40)};
    Sequence draws{{7, 3}};
    CHECK(rank_of(mixed, draws.bits()) == Order{4, 2, 0, 3, 1});  // 40+3 < 50+7
    CHECK(draws.next == 2);
}

TEST_CASE("rank: down servers go last, in the order of their score before going down", "[backend_score]") {
    auto down_from = [](int64_t score) {
        ScoreState s = scored(score);
        record_probe(s, std::nullopt, {});
        return s;
    };
    ScoreState never_up;
    record_probe(never_up, std::nullopt, {});  // keyed by max wait + score base: 4000
    std::vector<ScoreState> s{down_from(50), never_up, scored(9000), down_from(20), down_from(5000), ScoreState{}};
    CHECK(rank_of(s, constant(0)) == Order{2, 5, 3, 0, 1, 4});
    // A down server stays behind even the slowest up one.
    std::vector<ScoreState> t{down_from(1), scored(3999)};
    CHECK(rank_of(t, constant(29)) == Order{1, 0});
    // With its own max wait and score base.
    std::vector<ScoreState> u{never_up, never_up};
    CHECK(rank_of(u, {{0, 4000}, {0, 1000}}, constant(0)) == Order{1, 0});
    CHECK(rank_of(u, {{-3500, 4000}, {0, 1000}}, constant(0)) == Order{0, 1});
}

TEST_CASE("rank: never-probed servers follow the scored ones, ordered by score base", "[backend_score]") {
    // Probing off: nobody has a score; the configuration order, steered by score base (the seed's backup).
    std::vector<ScoreState> s(4);
    std::vector<ScoreParams> p{{5000, 4000}, {0, 4000}, {0, 4000}, {-10, 4000}};
    CHECK(rank_of(s, p, constant(0)) == Order{3, 1, 2, 0});
    // Once probed, a server moves before all unprobed ones, whatever its score base.
    s[0] = ScoreState{};
    record_probe(s[0], 900, p[0]);
    CHECK(rank_of(s, p, constant(0)) == Order{0, 3, 1, 2});
}

TEST_CASE("rank: score base pulls a server away from the preferred ones", "[backend_score]") {
    ScoreParams preferred{0, 4000}, backup{5000, 4000};
    ScoreState a, b;
    record_probe(a, 300, preferred);  // slow but preferred
    record_probe(b, 20, backup);      // fast backup
    std::vector<RankInput> in{{&b, backup}, {&a, preferred}};
    CHECK(rank(in, constant(0)) == Order{1, 0});
}

TEST_CASE("record_failure takes the server down at once, until a probe or a relay brings it back", "[backend_score]") {
    // Two servers with a long clean history; A is a little faster.
    ScoreState a = scored(50), b = scored(60);
    for (int i = 0; i < 63; ++i) {
        record_close(a, false);
        record_close(b, false);
    }
    const ScoreParams p{0, 1000};
    CHECK(rank_of({a, b}, constant(0)) == Order{0, 1});
    record_failure(a);
    CHECK(error_rate(a.closes) == ErrorRate{1, 64});
    CHECK_FALSE(a.up);
    CHECK_FALSE(effective_score(a));
    CHECK(a.score_before_down == 50);
    // Down goes last whatever the jitter: the failure took effect without waiting for a probe.
    for (uint64_t r = 0; r < 30; ++r) CHECK(rank_of({a, b}, constant(r)) == Order{1, 0});
    // A successful probe brings it back with the recovery penalty (old = max wait).
    record_probe(a, 50, p);
    CHECK(a.up);
    CHECK(a.score == (9 * 1000 + 50) / 10);
    CHECK(rank_of({a, b}, constant(0)) == Order{1, 0});
    // Failures in a row: each one is an error close too.
    for (int i = 0; i < 15; ++i) record_failure(a);
    CHECK(a.closes.errors_in_last(16) == 15);  // and the probe's clean close
    CHECK(rank_of({a, b}, constant(0)) == Order{1, 0});
}

TEST_CASE("record_relay_success brings a down server back with its old score", "[backend_score]") {
    ScoreState a = scored(40);
    record_failure(a);
    CHECK_FALSE(a.up);
    record_relay_success(a);
    CHECK(a.up);
    CHECK(a.score == 40);
    CHECK_FALSE(a.score_before_down);
    // On an up server it changes nothing.
    ScoreState b = scored(70);
    ScoreState before = b;
    record_relay_success(b);
    CHECK(b == before);
}

TEST_CASE("record_failure works with probing off, and for a local 1 ms backend", "[backend_score]") {
    // Nobody probed: a failing server drops behind the others, and a relayed connection brings it back
    // (behind the others while its errors weigh).
    std::vector<ScoreState> s(3);
    CHECK(rank_of(s, constant(0)) == Order{0, 1, 2});
    record_failure(s[0]);
    CHECK(rank_of(s, constant(0)) == Order{1, 2, 0});
    record_relay_success(s[0]);
    CHECK(s[0].up);
    CHECK(rank_of(s, constant(0)) == Order{1, 2, 0});  // up, unscored, keyed by the penalised score base
    record_close(s[0], false);
    record_close(s[0], false);  // 1 of 3 failed: 0 + 333
    CHECK(rank_of(s, constant(0)) == Order{1, 2, 0});
    // Two backends on the same host answer in 1 ms; after one failure and a probe, the error among 16 closes
    // still outweighs any jitter.
    ScoreState x = scored(1), y = scored(1);
    for (int i = 0; i < 13; ++i) {
        record_close(x, false);
        record_close(y, false);
    }
    record_failure(x);
    record_probe(x, 1, ScoreParams{0, 1});  // back, and max wait 1 ms: no recovery penalty to speak of
    CHECK(x.score == 1);
    CHECK(error_rate(x.closes) == ErrorRate{1, 16});
    CHECK(effective_score(x) == 64);
    for (uint64_t r = 0; r < 30; ++r) {
        Sequence seq{{0, r}};
        CHECK(rank_of({x, y}, seq.bits()) == Order{1, 0});
    }
}

TEST_CASE("record_close with and without an error", "[backend_score]") {
    ScoreState s;
    record_close(s, false);
    record_close(s, true);
    record_close(s, false);
    CHECK(s.closes.size() == 3);
    CHECK(s.closes.errors_in_last(64) == 1);
    CHECK_FALSE(s.score);  // closes never create a score
    CHECK(s.up);
}
