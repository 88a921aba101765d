// The prober thread of the ranked upstream proxies (moproxy mode, `via = proxies`): it owns the score of every upstream
// proxy, probes them all at once every --probe seconds (a DNS-over-TCP query through the proxy to the server's `test
// dns`, or with a `test url` a GET through a tunnel to that URL's host, timed to the status line; bounded by max
// wait), takes in what the loops report (closes, failed attempts: at once, through a Waker), and
// publishes a new BackendTable to the loops through an rcu::Cell after every change, and once a second for the status
// page.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <random>
#include <span>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "backends/backend_score.h"
#include "backends/graphite.h"
#include "core/event_loop.h"
#include "engine/service.h"

namespace ferry::backends {

class Prober {
public:
    struct Config {
        unsigned probe_seconds = 30;  // 0: never probe (ranking by score base and failures only)
        SocketAddress test_dns;       // unless the server has its own `test dns`
        unsigned max_wait_ms = 4000;  // unless the server has its own `max wait`
        bool tfo = true;
        uint32_t mark = 0;            // SO_MARK on the probes' sockets when non-zero (moproxy --mark)
        std::string device;           // SO_BINDTODEVICE on them when not empty (moproxy --interface)
        // --graphite: after every probe round but the first, the servers' metrics go there (backends/graphite.h).
        std::optional<SocketAddress> graphite;
    };
    // How many probe delays each server keeps for the status page's chart.
    static constexpr size_t kHistory = 60;

    Prober(Config config, TableCell& table);
    ~Prober();
    Prober(const Prober&) = delete;
    Prober& operator=(const Prober&) = delete;

    // Replaces the server list: at start (before start()) and on reload (from any thread). A server whose
    // identity (address, protocol, tag) is unchanged keeps its counters, score and history. Publishes at once.
    void set_servers(std::vector<ServerConfig> servers);
    // A zero-downtime restart (engine/takeover.h): every server's score state, probe history and counters as
    // text for the successor (from any thread; waits for the prober thread when it runs), and, in the
    // successor, taking them back for the servers of its list with the same identity (address, protocol, tag).
    // restore_state returns how many servers matched, or nullopt with *error set when the text is not a saved
    // table (nothing changes then).
    std::string save_state();
    std::optional<size_t> restore_state(std::string_view text, std::string* error);
    void start();  // runs the prober thread
    void stop();   // stops and joins it

    Waker& waker() { return waker_; }
    // The prober thread's loop (for the systemd watchdog, which checks it makes progress).
    EventLoop& loop() { return loop_; }

    // How long the first probe round waits after start(), so the listeners are up before it.
    static constexpr uint64_t kFirstRoundDelayMs = 10;

private:
    class Probe;
    struct Entry {
        uint64_t id = 0;                    // never reused: a probe's result finds its entry by it
        std::shared_ptr<Backend> backend;
        ScoreState score;
        std::vector<std::optional<int64_t>> history;  // oldest first
        std::optional<int64_t> last_delay;
        uint64_t last_tx = 0, last_rx = 0;  // counters at the previous tick
        double tx_bps = 0, rx_bps = 0;
        std::unique_ptr<Probe> probe;       // the probe in flight, if any
        ~Entry();
    };
    class Timer;
    class WakeHandler;

    void apply_servers(std::vector<ServerConfig> servers);
    void start_round();
    void on_round_timer();
    // Once every probe of a timed round has its result: the Graphite batch (moproxy sends after each round but the
    // first, once all of its probes are done).
    void round_finished();
    void probe_done(uint64_t entry_id, uint64_t generation, std::optional<unsigned> delay_ms);
    // Ends a probe: closes its socket now, frees it after this loop iteration (events of the current batch may
    // still name it).
    void retire(std::unique_ptr<Probe> probe);
    void drain_reports();
    void tick();
    void publish();
    // Runs fn on the prober's loop and waits for it (directly when the thread does not run).
    void run_on_loop(const std::function<void()>& fn);
    ScoreParams params_of(const Entry& e) const;

    Config config_;
    TableCell& table_;
    Waker waker_;
    EventLoop loop_;
    std::vector<std::unique_ptr<Entry>> entries_;
    std::unique_ptr<Timer> round_timer_;
    std::unique_ptr<Timer> tick_timer_;
    std::unique_ptr<WakeHandler> wake_handler_;
    std::vector<std::byte> loop_scratch_storage_;
    std::span<std::byte> loop_scratch_;  // handshake replies are peeked here
    std::mt19937_64 rng_;
    uint64_t version_ = 0;
    uint64_t next_entry_id_ = 1;
    uint64_t next_generation_ = 1;
    uint64_t last_tick_ms_ = 0;
    std::shared_ptr<const BackendTable> last_table_;  // the latest published
    std::unique_ptr<graphite::Exporter> graphite_;
    uint64_t timed_rounds_ = 0;
    bool round_open_ = false;  // a timed round whose probes are not all done
    std::thread thread_;
};

// Makes a zero-downtime restart carry the prober's servers across (save_state / restore_state, with a log line
// saying how many servers the successor matched): the successor keeps ranking them where we left off.
void hand_over_statistics(Prober& prober, TakeoverConfig& takeover);

}  // namespace ferry::backends
