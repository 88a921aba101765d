#include "backends/prober.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <future>

#include "backends/saved_state.h"
#include "outbound/tunnel.h"
#include "outbound/upstream_socket.h"
#include "proto/dns_probe.h"
#include "proto/http_connect.h"
#include "proto/http_probe.h"
#include "core/clock.h"
#include "support/log.h"
#include "core/socket_util.h"

namespace ferry::backends {
namespace {

constexpr uint64_t kTickMs = 1000;  // counters drained, throughput sampled, table republished
constexpr uint32_t kSocketEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP;


}  // namespace

class Prober::Timer final : public TimerHandler {
public:
    explicit Timer(std::function<void()> fn) : fn_(std::move(fn)) {}
    void on_timer() override { fn_(); }
    Deadline deadline{this};

private:
    std::function<void()> fn_;
};

class Prober::WakeHandler final : public IoHandler {
public:
    explicit WakeHandler(Prober& p) : p_(p) {}
    void on_io(uint32_t) override {
        p_.waker_.drained();
        p_.drain_reports();
        p_.publish();
    }

private:
    Prober& p_;
};

// One probe through one server: connect, proxy handshake to the test DNS server, query, 14 bytes of answer; or
// with a `test url`, proxy handshake to the URL's host and port, GET, the answer's status line.
class Prober::Probe final : public IoHandler, public TimerHandler, public Deferred {
public:
    Probe(Prober& prober, const Entry& entry, uint64_t generation)
        : prober_(prober), backend_(entry.backend), entry_id_(entry.id), generation_(generation) {}
    ~Probe() override { close(); }

    uint64_t generation() const { return generation_; }

    void start() {
        const ServerConfig& server = backend_->config();
        if (const auto& url = server.test_url) {
            // An IP literal goes as an address, a name as a name for the proxy to resolve (CONNECT name:port,
            // SOCKS5 ATYP 3), as real traffic with a domain does.
            if (auto literal = parse_host_port(http_connect::authority(url->host, url->port))) {
                to_.address = *literal;
            } else {
                const uint8_t any[4] = {0, 0, 0, 0};
                to_.address = SocketAddress::from_v4(any, url->port);
                to_.host = url->host;
            }
            answer_.resize(http_connect::kMaxStatusLineLength);
        } else {
            to_.address = server.test_dns ? *server.test_dns : prober_.config_.test_dns;
            answer_.resize(dns_probe::kAnswerNeeded);
        }
        started_us_ = monotonic_us();
        UpstreamSocket s;
        s.tfo = prober_.config_.tfo;
        s.keepalive_seconds = 0;
        s.mark = prober_.config_.mark;
        s.device = prober_.config_.device;
        UpstreamResult u = open_upstream(server.address, s);
        if (!u.fd) {
            finish(std::nullopt, "dial tcp " + server.address.to_string() + ": " + u.error);
            return;
        }
        attempt_.connected = u.connected;
        fd_ = std::move(u.fd);
        io_.fd = fd_.get();
        if (!prober_.loop_.add(io_.fd, this, kSocketEvents)) {
            finish(std::nullopt, "epoll_ctl: " + errno_text(errno));
            return;
        }
        const uint64_t wait = server.max_wait_ms ? *server.max_wait_ms : prober_.config_.max_wait_ms;
        prober_.loop_.deadlines(wait).arm(deadline_, prober_.loop_.now_ms());
        if (attempt_.connected) {
            io_.writable = true;
            step();
        }
    }

    // No more events, timers or results: the socket is closed at once.
    void cancel() {
        done_ = true;
        deadline_.cancel();
        close();
    }

    void on_io(uint32_t events) override {
        if (done_) return;
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) io_.readable = true;
        if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) io_.writable = true;
        if (events & EPOLLERR) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(io_.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            finish(std::nullopt, std::string(attempt_.connected && phase_ > 0 ? "socket error: " : "connect: ") +
                                     errno_text(err ? err : ECONNRESET));
            return;
        }
        if (!attempt_.connected) {
            if (!io_.writable) return;
            attempt_.connected = true;
        }
        step();
    }

    void on_timer() override {
        if (done_) return;
        finish(std::nullopt, std::string("no answer within max wait (") +
                                 (attempt_.connected ? "connected" : "connecting") + ")");
    }

private:
    void close() {
        if (!fd_) return;
        prober_.loop_.remove(fd_.get());
        fd_.reset();
    }

    void step() {
        if (phase_ == 0) {
            HandshakeStep s =
                tunnel::proxy_handshake(backend_->config(), to_, attempt_, io_, -1, prober_.loop_scratch_);
            if (s.status == HandshakeStep::Status::Incomplete) return;
            if (s.status == HandshakeStep::Status::Failed) {
                finish(std::nullopt, s.error);
                return;
            }
            phase_ = 1;
            query_.clear();
            if (const auto& url = backend_->config().test_url) {
                http_probe::encode_request(*url, query_);
            } else {
                id_ = static_cast<uint16_t>(prober_.rng_());
                dns_probe::encode_query(id_, query_);
            }
        }
        if (phase_ == 1) {
            const IoResult r = io::send_rest(io_, query_, sent_);
            if (r.io == Io::Error) {
                finish(std::nullopt, "send: " + errno_text(r.error));
                return;
            }
            if (r.io != Io::Progress) return;
            phase_ = 2;
        }
        bool eof = false;
        while (io_.readable && got_ < answer_.size()) {
            const IoResult r = io::recv_some(io_.fd, std::span(answer_).subspan(got_));
            if (r.io == Io::Progress) {
                got_ += r.bytes;
            } else if (r.io == Io::Eof) {
                eof = true;  // what came before it may still be a whole answer (a GET's short response)
                break;
            } else if (r.io == Io::WouldBlock) {
                io_.readable = false;
            } else {
                finish(std::nullopt, "recv: " + errno_text(r.error));
                return;
            }
        }
        const std::span<const std::byte> got(answer_.data(), got_);
        ParseStatus status;
        std::string error;
        if (backend_->config().test_url) {
            // Any status code is an answer: the probe measures the path, not the page.
            auto line = http_connect::parse_status_line(got);
            status = line.status;
            error = "test url answer: " + line.error;
        } else {
            auto answer = dns_probe::check_answer(got, id_);
            status = answer.status;
            error = answer.error;
        }
        if (status == ParseStatus::Incomplete) {
            if (eof)
                finish(std::nullopt, backend_->config().test_url ? "connection closed before the HTTP status line"
                                                                 : "connection closed before the DNS answer");
            return;
        }
        if (status == ParseStatus::Invalid) {
            finish(std::nullopt, error);
            return;
        }
        const uint64_t us = monotonic_us() - started_us_;
        finish(static_cast<unsigned>((us + 500) / 1000), {});
    }

    // Hands the result to the prober after this batch (which then retires this probe).
    void finish(std::optional<unsigned> delay, const std::string& error) {
        deadline_.cancel();
        done_ = true;
        if (!delay)
            FERRY_LOG(Info, "probe failed").str("server", backend_->config().tag).str("error", error);
        else
            FERRY_LOG(Debug, "probe").str("server", backend_->config().tag).num("delayMs", *delay);
        prober_.loop_.later([p = &prober_, id = entry_id_, gen = generation_, delay] { p->probe_done(id, gen, delay); });
    }

    Prober& prober_;
    std::shared_ptr<Backend> backend_;
    uint64_t entry_id_;
    uint64_t generation_;
    tunnel::Endpoint to_;  // the test DNS server
    Attempt attempt_;
    Fd fd_;
    SocketReadiness io_;
    Deadline deadline_{this};
    uint64_t started_us_ = 0;
    int phase_ = 0;
    uint16_t id_ = 0;
    std::vector<std::byte> query_;
    uint32_t sent_ = 0;
    std::vector<std::byte> answer_;  // sized by start(): the DNS header, or the longest status line
    size_t got_ = 0;
    bool done_ = false;
};

Prober::Entry::~Entry() = default;

void Prober::retire(std::unique_ptr<Probe> probe) {
    if (!probe) return;
    probe->cancel();
    loop_.destroy_later(std::move(probe));
}

Prober::Prober(Config config, TableCell& table)
    : config_(config), table_(table), rng_(std::random_device{}()) {
    loop_scratch_storage_.resize(65536);
    loop_scratch_ = loop_scratch_storage_;
    round_timer_ = std::make_unique<Timer>([this] { on_round_timer(); });
    tick_timer_ = std::make_unique<Timer>([this] { tick(); });
    wake_handler_ = std::make_unique<WakeHandler>(*this);
    loop_.add(waker_.fd(), wake_handler_.get(), EPOLLIN);
    if (config_.graphite) graphite_ = std::make_unique<graphite::Exporter>(loop_, *config_.graphite);
}

Prober::~Prober() {
    stop();
    graphite_.reset();
    // Probes unregister from the loop; entries go before it.
    entries_.clear();
}

ScoreParams Prober::params_of(const Entry& e) const {
    ScoreParams p;
    p.score_base = e.backend->config().score_base;
    p.max_wait_ms = e.backend->config().max_wait_ms ? *e.backend->config().max_wait_ms : config_.max_wait_ms;
    return p;
}

void Prober::set_servers(std::vector<ServerConfig> servers) {
    if (!thread_.joinable()) {
        apply_servers(std::move(servers));
        return;
    }
    loop_.post([this, s = std::move(servers)]() mutable { apply_servers(std::move(s)); });
}

void Prober::apply_servers(std::vector<ServerConfig> servers) {
    std::vector<std::unique_ptr<Entry>> next;
    for (auto& config : servers) {
        std::unique_ptr<Entry> entry;
        for (auto& old : entries_) {
            if (old && same_identity(old->backend->config(), config)) {
                entry = std::move(old);
                break;
            }
        }
        if (!entry) {
            entry = std::make_unique<Entry>();
            entry->id = next_entry_id_++;
            entry->backend = std::make_shared<Backend>(std::move(config), std::make_shared<BackendStats>(), &waker_);
        } else {
            // Same server: its counters, score and history stay; its settings are the new ones, so a probe in
            // flight with the old ones is dropped.
            retire(std::move(entry->probe));
            entry->backend = std::make_shared<Backend>(std::move(config), entry->backend->shared_stats(), &waker_);
        }
        next.push_back(std::move(entry));
    }
    for (auto& removed : entries_)
        if (removed) retire(std::move(removed->probe));
    entries_ = std::move(next);
    publish();
    if (thread_.joinable() && config_.probe_seconds > 0) start_round();  // new servers get a score soon
}

void Prober::run_on_loop(const std::function<void()>& fn) {
    if (!thread_.joinable()) {
        fn();
        return;
    }
    std::promise<void> done;
    loop_.post([&] {
        fn();
        done.set_value();
    });
    done.get_future().wait();
}

std::string Prober::save_state() {
    std::vector<SavedServer> saved;
    run_on_loop([&] {
        for (const auto& e : entries_) {
            const ServerConfig& c = e->backend->config();
            const BackendStats& stats = e->backend->stats();
            SavedServer s;
            s.tag = c.tag;
            s.protocol = std::string(protocol_name(c.protocol));
            s.address = c.address.to_string();
            s.score = e->score;
            s.history = e->history;
            s.last_delay = e->last_delay;
            s.conn_total = stats.conn_total.load(std::memory_order_relaxed);
            s.conn_error = stats.conn_error.load(std::memory_order_relaxed);
            s.tx_bytes = stats.tx_bytes.load(std::memory_order_relaxed);
            s.rx_bytes = stats.rx_bytes.load(std::memory_order_relaxed);
            saved.push_back(std::move(s));
        }
    });
    return encode_saved_servers(saved);
}

std::optional<size_t> Prober::restore_state(std::string_view text, std::string* error) {
    auto saved = parse_saved_servers(text, kHistory, error);
    if (!saved) return std::nullopt;
    size_t matched = 0;
    run_on_loop([&] {
        for (auto& e : entries_) {
            const ServerConfig& c = e->backend->config();
            const std::string address = c.address.to_string();
            for (auto& s : *saved) {
                if (s.tag != c.tag || s.address != address || s.protocol != protocol_name(c.protocol)) continue;
                e->score = s.score;
                e->history = std::move(s.history);
                e->last_delay = s.last_delay;
                BackendStats& stats = e->backend->stats();
                stats.conn_total.store(s.conn_total, std::memory_order_relaxed);
                stats.conn_error.store(s.conn_error, std::memory_order_relaxed);
                stats.tx_bytes.store(s.tx_bytes, std::memory_order_relaxed);
                stats.rx_bytes.store(s.rx_bytes, std::memory_order_relaxed);
                e->last_tx = s.tx_bytes;
                e->last_rx = s.rx_bytes;
                ++matched;
                break;
            }
        }
        publish();
    });
    return matched;
}

void Prober::start() {
    if (config_.probe_seconds > 0) loop_.deadlines(kFirstRoundDelayMs).arm(round_timer_->deadline, loop_.now_ms());
    loop_.deadlines(kTickMs).arm(tick_timer_->deadline, loop_.now_ms());
    last_tick_ms_ = loop_.now_ms();
    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "ferry-prober");
        loop_.run();
    });
}

void Prober::stop() {
    if (!thread_.joinable()) return;
    loop_.stop();
    thread_.join();
}

void Prober::start_round() {
    for (auto& e : entries_) {
        if (e->probe) continue;  // the previous one is still bounded by its max wait
        e->probe = std::make_unique<Probe>(*this, *e, next_generation_++);
        e->probe->start();
    }
    if (config_.probe_seconds > 0)
        loop_.deadlines(uint64_t{config_.probe_seconds} * 1000).arm(round_timer_->deadline, loop_.now_ms());
}

void Prober::on_round_timer() {
    ++timed_rounds_;
    round_open_ = true;
    start_round();
    round_finished();  // nothing to wait for when there is no server
}

void Prober::round_finished() {
    if (!round_open_) return;
    for (const auto& e : entries_)
        if (e->probe) return;
    round_open_ = false;
    if (!graphite_ || timed_rounds_ < 2 || !last_table_) return;
    std::string batch;
    graphite::encode(graphite::sample(*last_table_), unix_us(), batch);
    if (!batch.empty()) graphite_->send(std::move(batch));
}

void Prober::probe_done(uint64_t entry_id, uint64_t generation, std::optional<unsigned> delay_ms) {
    // A reload may have removed the entry or dropped its probe since: take only results still wanted.
    Entry* found = nullptr;
    for (auto& e : entries_)
        if (e->id == entry_id) found = e.get();
    if (!found || !found->probe || found->probe->generation() != generation) return;
    Entry& entry = *found;
    retire(std::move(entry.probe));
    record_probe(entry.score, delay_ms, params_of(entry));
    entry.last_delay = delay_ms ? std::optional<int64_t>(*delay_ms) : std::nullopt;
    entry.history.push_back(entry.last_delay);
    if (entry.history.size() > kHistory) entry.history.erase(entry.history.begin());
    publish();
    round_finished();
}

void Prober::drain_reports() {
    for (auto& e : entries_) {
        BackendStats& s = e->backend->stats();
        uint64_t closes = s.unscored_closes.exchange(0, std::memory_order_relaxed);
        uint64_t errors = s.unscored_error_closes.exchange(0, std::memory_order_relaxed);
        uint64_t failures = s.unscored_failures.exchange(0, std::memory_order_relaxed);
        uint64_t relays = s.unscored_relays.exchange(0, std::memory_order_relaxed);
        errors = std::min(errors, closes);
        // Only the last 64 outcomes matter to the score.
        for (uint64_t i = 0, n = std::min<uint64_t>(closes - errors, 64); i < n; ++i) record_close(e->score, false);
        for (uint64_t i = 0, n = std::min<uint64_t>(errors, 64); i < n; ++i) record_close(e->score, true);
        for (uint64_t i = 0, n = std::min<uint64_t>(failures, 64); i < n; ++i) record_failure(e->score);
        // A connection relayed through it since: reachable after all (the order of the two is lost; a failure
        // and a success in the same tick leave it up, which the next probe corrects if need be).
        if (relays > 0) record_relay_success(e->score);
    }
}

void Prober::tick() {
    const uint64_t now = loop_.now_ms();
    const double seconds = now > last_tick_ms_ ? static_cast<double>(now - last_tick_ms_) / 1000.0 : 1.0;
    last_tick_ms_ = now;
    for (auto& e : entries_) {
        BackendStats& s = e->backend->stats();
        uint64_t tx = s.tx_bytes.load(std::memory_order_relaxed), rx = s.rx_bytes.load(std::memory_order_relaxed);
        e->tx_bps = tx >= e->last_tx ? static_cast<double>(tx - e->last_tx) * 8 / seconds : 0;
        e->rx_bps = rx >= e->last_rx ? static_cast<double>(rx - e->last_rx) * 8 / seconds : 0;
        e->last_tx = tx;
        e->last_rx = rx;
    }
    drain_reports();
    publish();
    loop_.deadlines(kTickMs).arm(tick_timer_->deadline, now);
}

void Prober::publish() {
    std::vector<RankInput> inputs;
    inputs.reserve(entries_.size());
    for (auto& e : entries_) inputs.push_back(RankInput{&e->score, params_of(*e)});
    auto order = rank(inputs, [this] { return rng_(); });
    auto table = std::make_shared<BackendTable>();
    table->version = ++version_;
    table->built_unix_ms = unix_ms();
    for (size_t i : order) {
        const Entry& e = *entries_[i];
        RankedBackend r;
        r.backend = e.backend;
        r.up = e.score.up;
        r.score = effective_score(e.score);
        r.delay_ms = e.last_delay;
        r.errors_last16 = e.score.closes.errors_in_last(16);
        r.errors_last64 = e.score.closes.errors_in_last(64);
        r.tx_bps = e.tx_bps;
        r.rx_bps = e.rx_bps;
        r.delay_history = e.history;
        table->ranked.push_back(std::move(r));
    }
    last_table_ = table;
    auto published = std::make_unique<PublishedTable>();
    published->table = std::move(table);
    table_.publish(std::move(published));
}

void hand_over_statistics(Prober& prober, TakeoverConfig& takeover) {
    takeover.save_state = [&prober] { return prober.save_state(); };
    takeover.restore_state = [&prober](std::string_view state) {
        std::string error;
        if (auto matched = prober.restore_state(state, &error)) {
            FERRY_LOG(Info, "server statistics taken over").num("servers", static_cast<int64_t>(*matched));
        } else {
            FERRY_LOG(Warn, "server statistics not taken over").str("error", error);
        }
    };
}

}  // namespace ferry::backends
