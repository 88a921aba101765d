#include "backends/status_server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>

#include "core/clock.h"
#include "support/log.h"
#include "support/version.h"

namespace ferry::backends {
// One HTTP exchange: read the request head, answer, close.
class StatusServer::Session final : public IoHandler, public TimerHandler, public Deferred {
public:
    Session(const StatusServer& server, EventLoop& loop, Fd fd) : server_(server), loop_(loop), fd_(std::move(fd)) {}

    void start() {
        if (!loop_.add(fd_.get(), this, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) {
            close();
            return;
        }
        loop_.deadlines(kTimeoutMs).arm(deadline_, loop_.now_ms());
        io_.fd = fd_.get();
        io_.readable = true;
        step();
    }

    void on_io(uint32_t events) override {
        if (closed_) return;
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) io_.readable = true;
        if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) io_.writable = true;
        if (events & EPOLLERR) {
            close();
            return;
        }
        step();
    }

    void on_timer() override { close(); }

    // At shutdown, from the server's destructor.
    void abandon() { fd_.reset(); }

private:
    void step() {
        if (out_.empty()) {
            if (!io_.readable) return;
            char buf[status::kMaxRequestHead + 1];
            for (;;) {
                const auto room = std::as_writable_bytes(std::span(buf, sizeof buf - in_.size()));
                const IoResult r = io::recv_some(io_.fd, room);
                if (r.io == Io::Progress) {
                    in_.append(buf, r.bytes);
                    if (in_.size() > status::kMaxRequestHead) break;
                    continue;
                }
                if (r.io == Io::WouldBlock) {
                    io_.readable = false;
                    break;
                }
                // EOF or an error before a complete request: nothing to answer.
                if (in_.empty() || r.io == Io::Error) {
                    close();
                    return;
                }
                eof_ = true;
                break;
            }
            auto req = status::parse_request(std::as_bytes(std::span(in_.data(), in_.size())));
            if (req.status == status::Status::Incomplete && !eof_) return;
            status::Response resp = status::route(req, status::needs_snapshot(req) ? server_.snapshot()
                                                                                     : status::Snapshot{});
            out_ = status::serialize(resp, req.status == status::Status::Done && req.method == "HEAD");
            sent_ = 0;
            ::shutdown(fd_.get(), SHUT_RD);
        }
        const IoResult r = io::send_rest(io_, std::as_bytes(std::span(out_)), sent_);
        if (r.io == Io::WouldBlock) return;
        close();
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        deadline_.cancel();
        fd_.reset();
        server_.forget(this);
        loop_.destroy_later(std::unique_ptr<Deferred>(this));
    }

    const StatusServer& server_;
    EventLoop& loop_;
    Fd fd_;
    Deadline deadline_{this};
    std::string in_, out_;
    SocketReadiness io_;
    uint32_t sent_ = 0;
    bool eof_ = false, closed_ = false;
};

StatusServer::StatusServer(const TableCell& table, const DirectStats& direct, const metrics::Registry* metrics,
                           std::string mode)
    : table_(&table), direct_(&direct), metrics_(metrics), mode_(std::move(mode)), started_ms_(monotonic_ms()) {}

StatusServer::StatusServer(std::string mode, const metrics::Registry& metrics)
    : metrics_(&metrics), mode_(std::move(mode)), started_ms_(monotonic_ms()) {}

StatusServer::~StatusServer() {
    std::lock_guard lock(mutex_);
    for (Session* s : sessions_) {
        s->abandon();
        delete s;
    }
    sessions_.clear();
}

void StatusServer::on_accept(EventLoop& loop, Fd fd, const SocketAddress&) const {
    auto* s = new Session(*this, loop, std::move(fd));
    {
        std::lock_guard lock(mutex_);
        sessions_.insert(s);
    }
    s->start();
}

void StatusServer::forget(Session* s) const {
    std::lock_guard lock(mutex_);
    sessions_.erase(s);
}

status::Snapshot StatusServer::snapshot() const {
    status::Snapshot snap;
    snap.version = FERRY_VERSION;
    snap.uptime_s = (monotonic_ms() - started_ms_) / 1000;
    snap.generated_unix_ms = unix_ms();
    snap.mode = mode_;
    if (metrics_) {
        snap.listeners_shown = true;
        snap.listeners = metrics_->snapshot();
    }
    snap.proxies = table_ != nullptr;
    if (!table_) return snap;
    snap.direct_alive = direct_->alive.load(std::memory_order_relaxed);
    snap.direct_total = direct_->total.load(std::memory_order_relaxed);
    const PublishedTable* current = table_->read();  // valid for this loop iteration
    if (!current || !current->table) return snap;
    for (const RankedBackend& r : current->table->ranked) {
        const ServerConfig& c = r.backend->config();
        const BackendStats& st = r.backend->stats();
        status::ServerStatus s;
        s.tag = c.tag;
        s.protocol = std::string(protocol_name(c.protocol));
        s.address = c.address.to_string();
        if (!c.address_host.empty()) s.host = written_address(c);
        s.up = r.up;
        s.delay_ms = r.delay_ms;
        s.score = r.score;
        s.conn_alive = st.conn_alive.load(std::memory_order_relaxed);
        s.conn_total = st.conn_total.load(std::memory_order_relaxed);
        s.conn_error = st.conn_error.load(std::memory_order_relaxed);
        s.errors_last16 = r.errors_last16;
        s.errors_last64 = r.errors_last64;
        s.tx_bytes = st.tx_bytes.load(std::memory_order_relaxed);
        s.rx_bytes = st.rx_bytes.load(std::memory_order_relaxed);
        s.tx_bps = r.tx_bps;
        s.rx_bps = r.rx_bps;
        s.delay_history = r.delay_history;
        snap.servers.push_back(std::move(s));
    }
    return snap;
}

}  // namespace ferry::backends
