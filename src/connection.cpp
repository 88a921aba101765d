#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "ferry/log.h"
#include "worker.h"

namespace ferry {
namespace {

constexpr uint32_t kSocketEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI;

int socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) return errno;
    return err;
}

}  // namespace

// Per-connection fields in go-mmproxy 2.1's order: the listener's (listenerNum, protocol, listenAdr), then
// remoteAddr, localAddr, and clientAddr and targetAddr once known.
void Connection::add_fields(log::Line& line, bool handshake_done) const {
    const Flow& flow = flow_;
    line.num("listenerNum", static_cast<int64_t>(listener_.number()))
        .str("protocol", worker_.config().protocol_name)
        .str("listenAdr", listener_.address_text());
    line.str("remoteAddr", flow.peer.to_string()).str("localAddr", flow.local.to_string());
    if (handshake_done) {
        line.str("clientAddr", flow.source.empty() ? "UNKNOWN" : flow.source.to_string());
        if (!flow.target.empty()) line.str("targetAddr", flow.target.to_string());
    }
}


void Connection::Side::on_io(uint32_t events) { conn->on_side_io(*this, events); }

Connection::Connection(Worker& worker, const Listener& listener, Fd client, const SocketAddress& peer)
    : worker_(worker), listener_(listener), up_(worker.config().relay_mode), down_(worker.config().relay_mode) {
    client_.conn = this;
    upstream_.conn = this;
    client_.fd = std::move(client);
    client_.io.fd = client_.fd.get();
    flow_.peer = peer;
}

Connection::~Connection() = default;

void Connection::start() {
    const bool verbose = log::enabled(log::Level::Debug);
    if (verbose) flow_.local = local_address(client_.fd.get());
    if (worker_.config().verbose > 1) {
        log::Line line(log::Level::Debug, "new connection", "ferry/connection.cpp:" FERRY_LOG_STR(__LINE__));
        add_fields(line, false);
    }
    if (!worker_.loop().add(client_.fd.get(), &client_, kSocketEvents)) {
        drop("failed to read PROXY header", "epoll_ctl: " + errno_text(errno));
        return;
    }
    arm(worker_.config().header_timeout_ms);
    // Loopback clients often send the header before we even accepted: try now instead of a loop round trip.
    client_.io.readable = true;
    read_handshake();
}

void Connection::arm(uint64_t duration_ms) {
    if (duration_ms == 0) {
        deadline_.cancel();
        return;
    }
    worker_.loop().deadlines(duration_ms).arm(deadline_, worker_.loop().now_ms());
}

void Connection::on_side_io(Side& side, uint32_t events) {
    if (state_ == State::Closed) return;  // a stale event from this batch
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) side.io.readable = true;
    if (events & EPOLLPRI) side.io.urgent = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) side.io.writable = true;
    switch (state_) {
        case State::Handshake:
            if (&side == &client_ && client_.io.readable) {
                read_handshake();
                // The client finished sending without completing the header: nothing more can come.
                if (state_ == State::Handshake && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                    drop("failed to read PROXY header", "EOF before a complete PROXY header");
            }
            break;
        case State::Connecting:
            if (&side == &upstream_ && upstream_.io.writable) {
                // A failed connect always reports EPOLLERR; a plain EPOLLOUT needs no SO_ERROR look-up.
                on_connected((events & (EPOLLERR | EPOLLHUP)) != 0);
            } else if (&side == &client_ && (events & EPOLLERR)) {
                // The client reset while we dial: don't finish a connection to the service for nobody.
                drop("connection broken", "read tcp " + flow_.local.to_string() + "->" + flow_.peer.to_string() +
                                              ": " + errno_text(socket_error(client_.io.fd)));
            }
            break;
        case State::Relaying:
            if (events & EPOLLERR) {
                // A reset can arrive on a socket no pump is reading any more (its direction is done): it must
                // still reset the other side, not end in a clean close.
                if (int err = socket_error(side.io.fd)) {
                    relay_failed(&side == &upstream_, "read", err);
                    return;
                }
            }
            if (DeadlineQueue* q = relay_deadlines()) q->arm(deadline_, worker_.loop().now_ms());
            drive();
            break;
        case State::Closed:
            break;
    }
}

void Connection::read_handshake() {
    InboundStep step = worker_.config().inbound->read(client_.fd.get(), flow_, worker_.scratch());
    client_.io.readable = false;
    switch (step.status) {
        case InboundStep::Status::Incomplete:
            return;
        case InboundStep::Status::Invalid:
            drop(step.message, step.error);
            return;
        case InboundStep::Status::Done:
            break;
    }
    handshake_done_ = true;
    open_outbound();
}

void Connection::open_outbound() {
    OpenResult r = worker_.config().outbound->open(flow_);
    if (worker_.config().verbose > 1) {
        log::Line line(log::Level::Debug, "successfully parsed PROXY header",
                       "ferry/connection.cpp:" FERRY_LOG_STR(__LINE__));
        add_fields(line, true);
    }
    if (!r.fd) {
        // Out of fds (or kernel memory): pause accepting like accept4's EMFILE, so the fds that are left serve
        // the connections we already have.
        if (r.error_code == EMFILE || r.error_code == ENFILE || r.error_code == ENOBUFS || r.error_code == ENOMEM)
            worker_.pause_listeners(r.error_code);
        drop("failed to establish upstream connection", r.error);
        return;
    }
    upstream_.fd = std::move(r.fd);
    upstream_.io.fd = upstream_.fd.get();
    if (!worker_.loop().add(upstream_.io.fd, &upstream_, kSocketEvents)) {
        drop("failed to establish upstream connection", "epoll_ctl: " + errno_text(errno));
        return;
    }
    state_ = State::Connecting;
    arm(worker_.config().connect_timeout_ms);
    if (r.connected) {
        upstream_.io.writable = true;
        on_connected(false);
    }
}

void Connection::on_connected(bool check_error) {
    if (int err = check_error ? socket_error(upstream_.io.fd) : 0) {
        std::string from = flow_.source.empty() ? "" : flow_.source.to_string() + "->";
        drop("failed to establish upstream connection",
             "dial tcp " + from + flow_.target.to_string() + ": connect: " + errno_text(err));
        return;
    }
    if (worker_.config().verbose > 1) {
        // go-mmproxy 2.1's three lines; both sockets have TCP_NODELAY by now (the client's from the listener).
        for (const char* msg : {"successfully established upstream connection",
                                "successfully set NoDelay on downstream connection",
                                "successfully set NoDelay on upstream connection"}) {
            log::Line line(log::Level::Debug, msg, "ferry/connection.cpp:" FERRY_LOG_STR(__LINE__));
            add_fields(line, true);
        }
    }
    state_ = State::Relaying;
    if (DeadlineQueue* q = relay_deadlines())
        q->arm(deadline_, worker_.loop().now_ms());
    else
        deadline_.cancel();
    // Payload that came with or after the header is still queued in the client socket: go get it.
    client_.io.readable = true;
    drive();
}

void Connection::drive() {
    PipePool& pool = worker_.pipes();
    const bool was_half_closed = up_.done() || down_.done();
    auto up = up_.pump(client_.io, upstream_.io, pool, worker_.scratch(), down_.done());
    auto down = down_.pump(upstream_.io, client_.io, pool, worker_.scratch(), up_.done());
    if (up == SplicePump::Outcome::Error || down == SplicePump::Outcome::Error) {
        const SplicePump& failed = up == SplicePump::Outcome::Error ? up_ : down_;
        const bool client_to_upstream = &failed == &up_;
        // Which socket failed: the source on a read error, the destination on a write error.
        relay_failed(client_to_upstream == failed.error_on_write(), failed.error_on_write() ? "write" : "read",
                     failed.error());
        return;
    }
    if (up_.done() && down_.done()) {
        if (worker_.config().verbose > 1) {
            log::Line line(log::Level::Debug, "connection closing", "ferry/connection.cpp:" FERRY_LOG_STR(__LINE__));
            add_fields(line, true);
        }
        finish(false);
        return;
    }
    if (!was_half_closed && (up_.done() || down_.done())) {
        // Now half-closed: the half-close deadline (if any) replaces the idle one.
        if (DeadlineQueue* q = relay_deadlines()) q->arm(deadline_, worker_.loop().now_ms());
    }
    if ((up == SplicePump::Outcome::Yield || down == SplicePump::Outcome::Yield) && !redrive_queued_) {
        redrive_queued_ = true;
        worker_.loop().later([this] {
            redrive_queued_ = false;
            if (state_ == State::Relaying) drive();
        });
    }
}

DeadlineQueue* Connection::relay_deadlines() const {
    if ((up_.done() || down_.done()) && worker_.halfclose_deadlines) return worker_.halfclose_deadlines;
    return worker_.idle_deadlines;
}

void Connection::relay_failed(bool upstream_side, const char* op, int err) {
    const Flow& f = flow_;
    std::string where = upstream_side
                            ? (f.source.empty() ? std::string() : f.source.to_string() + "->") + f.target.to_string()
                            : f.local.to_string() + "->" + f.peer.to_string();
    drop("connection broken", std::string(op) + " tcp " + where + ": " + errno_text(err));
}

void Connection::on_timer() {
    switch (state_) {
        case State::Handshake:
            drop("failed to read PROXY header",
                 "no complete PROXY header within " + std::to_string(worker_.config().header_timeout_ms) + " ms");
            break;
        case State::Connecting: {
            std::string from = flow_.source.empty() ? "" : flow_.source.to_string() + "->";
            drop("failed to establish upstream connection",
                 "dial tcp " + from + flow_.target.to_string() + ": i/o timeout");
            break;
        }
        case State::Relaying:
            if ((up_.done() || down_.done()) && worker_.halfclose_deadlines)
                drop("connection broken", "half-closed and idle for " +
                                              std::to_string(worker_.config().halfclose_timeout_ms) + " ms");
            else
                drop("connection broken", "idle for " + std::to_string(worker_.config().idle_timeout_ms) + " ms");
            break;
        case State::Closed:
            break;
    }
}

void Connection::drop(const char* message, const std::string& error) {
    if (log::enabled(log::Level::Debug) && worker_.config().verbose >= 1) {
        log::Line line(log::Level::Debug, message, "ferry/connection.cpp:" FERRY_LOG_STR(__LINE__));
        add_fields(line, handshake_done_);
        line.str("error", error).boolean("dropConnection", true);
    }
    finish(true);
}

void Connection::finish(bool reset) {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    deadline_.cancel();
    if (reset) {
        if (client_.fd) set_reset_on_close(client_.fd.get());
        if (upstream_.fd) set_reset_on_close(upstream_.fd.get());
    }
    up_.release(worker_.pipes());
    down_.release(worker_.pipes());
    client_.fd.reset();
    upstream_.fd.reset();
    worker_.unlink(*this);
    worker_.loop().destroy_later(std::unique_ptr<Deferred>(this));
}

void Connection::close_now() {
    state_ = State::Closed;
    deadline_.cancel();
    up_.release(worker_.pipes());
    down_.release(worker_.pipes());
    client_.fd.reset();
    upstream_.fd.reset();
}

}  // namespace ferry
