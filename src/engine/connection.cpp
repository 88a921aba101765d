#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "support/log.h"
#include "engine/worker.h"

namespace ferry {
namespace {

// How often a relaying connection adds its bytes to counters other loops write too (moproxy's backends).
constexpr uint64_t kReportBytesMs = 1000;
constexpr uint32_t kSocketEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI;

int socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) return errno;
    return err;
}

}  // namespace

ConnectionView Connection::view() const {
    return ConnectionView{flow_, context_->info, *config().inbound, handshake_done_, started_ms_, refused_};
}

void Connection::Side::on_io(uint32_t events) { conn->on_side_io(*this, events); }
void Connection::DialSide::on_timer() {
    // Side::conn is set for both sides; only upstream sides have a dial deadline.
    conn->on_dial_timeout(*this);
}

Connection::Connection(Worker& worker, std::shared_ptr<const ListenerContext> context, Fd client,
                       const SocketAddress& peer, AdmissionTicket ticket)
    : worker_(worker),
      context_(std::move(context)),
      up_(context_->config->relay_mode),
      down_(context_->config->relay_mode),
      ticket_(ticket) {
    client_.conn = this;
    upstream_.conn = this;
    client_.fd = std::move(client);
    client_.io.fd = client_.fd.get();
    flow_.peer = peer;
}

Connection::~Connection() = default;

void Connection::start() {
    started_ms_ = worker_.loop().now_ms();
    if (observer().needs_local_address() || config().outbound->needs_local_address())
        flow_.local = local_address(client_.fd.get());
    observer().accepted(view());
    if (!worker_.loop().add(client_.fd.get(), &client_, kSocketEvents)) {
        drop(config().inbound->failure_message(), "epoll_ctl: " + errno_text(errno));
        return;
    }
    worker_.handshake_started(*this);
    const Admission* admission = worker_.admission();
    handshake_timeout_ms_ =
        admission ? admission->handshake_timeout_ms(config().header_timeout_ms) : config().header_timeout_ms;
    arm(handshake_timeout_ms_);
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
            if (&side == &client_ && sniffing_) {
                if (client_.io.readable) sniff(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
            } else if (&side == &client_ && client_.io.readable) {
                read_handshake();
                // The client finished sending without completing the header: nothing more can come.
                if (state_ == State::Handshake && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                    drop(config().inbound->failure_message(),
                         std::string("EOF before a complete ") + config().inbound->handshake_name());
            }
            break;
        case State::Dialing:
            if (&side != &client_) {
                on_dial_io(static_cast<DialSide&>(side), events);  // ignores slots no longer dialing
            } else if (events & EPOLLERR) {
                // The client reset while we dial: don't finish a connection to the service for nobody.
                const int err = socket_error(client_.io.fd);
                drop("connection broken", "read tcp " + client_text() + ": " + errno_text(err));
            }
            break;
        case State::Relaying:
            // A closed racing slot's event from this batch (the slots live as long as the connection).
            if (&side != &client_ && &side != &upstream_) return;
            if (events & EPOLLERR) {
                // A reset can arrive on a socket no pump is reading any more (its direction is done): it must
                // still reset the other side, not end in a clean close.
                if (int err = socket_error(side.io.fd)) {
                    relay_failed(&side == &upstream_, "read", err);
                    return;
                }
            }
            // The peer finished sending: half-closed from now on, even while its last bytes wait behind a
            // peer that does not read (a wedged upstream must not hold a client that left for ever).
            if (events & (EPOLLRDHUP | EPOLLHUP)) peer_finished_ = true;
            if (DeadlineQueue* q = relay_deadlines()) q->arm(deadline_, worker_.loop().now_ms());
            drive();
            break;
        case State::Closed:
            break;
    }
}

void Connection::read_handshake() {
    InboundStep step = config().inbound->read(client_.fd.get(), flow_, inbound_state_, worker_.scratch());
    client_.io.readable = false;
    switch (step.status) {
        case InboundStep::Status::Incomplete:
            return;
        case InboundStep::Status::Invalid:
            if (step.refused)
                refuse_peer(step);
            else
                drop(step.message, step.error, !step.replied);
            return;
        case InboundStep::Status::Done:
            break;
    }
    handshake_done_ = true;
    if (wants_name()) {
        sniffing_ = true;
        arm(config().sniff->wait_ms);
        sniff(false);  // the first bytes may be there already
        return;
    }
    handshake_ended();
    start_dialing();
}

bool Connection::wants_name() const {
    // A destination address to name (not a SOCKS5 host name already, nor no destination at all), and a client
    // that is free to speak.
    return config().sniff && flow_.destination_host.empty() && !flow_.destination.empty() &&
           !flow_.destination.is_unspecified() && config().inbound->client_speaks(inbound_state_);
}

void Connection::sniff(bool client_done) {
    std::span<std::byte> buffer = worker_.scratch().first(std::min(sniff_peek_limit(), worker_.scratch().size()));
    const IoResult r = io::peek(client_.fd.get(), buffer);
    bool can_wait = !client_done && !deadline_passed_;
    size_t got = 0;
    switch (r.io) {
        case Io::Progress: got = r.bytes; break;
        case Io::WouldBlock: break;
        case Io::Eof: can_wait = false; break;
        case Io::Error:
            drop(config().inbound->failure_message(), "read tcp " + client_text() + ": " + errno_text(r.error));
            return;
    }
    if (got == buffer.size()) can_wait = false;
    SniffStep step = sniff_step(flow_.destination.port(), std::span<const std::byte>(buffer.data(), got), can_wait);
    if (step.action == SniffStep::Action::Wait) {
        client_.io.readable = false;  // more bytes bring a new edge
        return;
    }
    client_.io.readable = r.io != Io::WouldBlock;  // the queued bytes, or the EOF, are the relay's to read
    sniffing_ = false;
    flow_.destination_host = std::move(step.host);
    observer().named(view(), step.why);
    handshake_ended();
    start_dialing();
}

void Connection::handshake_ended() {
    worker_.handshake_finished(*this);
    if (Admission* a = worker_.admission()) a->handshake_done(ticket_);
}

void Connection::refuse_peer(const InboundStep& step) {
    Admission* a = worker_.admission();
    refused_ = true;
    if (!a) {
        drop(step.message, step.error, !step.replied);
        return;
    }
    a->counters.refused_clients.fetch_add(1, std::memory_order_relaxed);
    uint64_t not_logged = 0;
    if (!a->log_limiter().allow(a->key(flow_.peer), worker_.loop().now_ms(), &not_logged)) {
        if (context_->metrics) context_->metrics->failed(metrics::Failure::RequestRefused, true);
        finish(!step.replied);  // refused again within the interval: counted, not logged
        return;
    }
    std::string error = step.error;
    if (not_logged > 0) error += " (and " + std::to_string(not_logged) + " more refusals of it not logged)";
    drop(step.message, error, !step.replied);
}

void Connection::evict(const std::string& reason) {
    if (state_ != State::Handshake) return;
    drop(config().inbound->failure_message(), reason);
}

// ------------------------------------------------------------------------------------------------- dialing

std::string Connection::dial_text(const DialSide& d) const {
    std::string from = d.attempt.from_client ? flow_.client().to_string() + "->" : "";
    return "dial tcp " + from + (d.attempt.target.empty() ? flow_.target : d.attempt.target).to_string();
}

void Connection::start_dialing() {
    state_ = State::Dialing;
    observer().dialing(view());
    deadline_.cancel();  // each attempt has its own deadline
    const Outbound& outbound = *config().outbound;
    const size_t parallel = std::max<size_t>(1, outbound.parallel());
    if (parallel > 1) {
        racer_count_ = parallel - 1;
        racers_ = std::make_unique<DialSide[]>(racer_count_);
        for (size_t i = 0; i < racer_count_; ++i) racers_[i].conn = this;
    }
    bool any = open_next(upstream_);
    for (size_t i = 0; any && i < racer_count_ && state_ == State::Dialing; ++i) any = open_next(racers_[i]);
    if (state_ == State::Dialing && dials_in_flight_ == 0) fail_dialing();
}

bool Connection::open_next(DialSide& d) {
    const Outbound& outbound = *config().outbound;
    for (;;) {
        d.attempt = Attempt{};
        d.io = SocketReadiness{};
        OpenResult r;
        const uint64_t now = worker_.loop().now_ms();
        const bool opened = outbound.open(flow_, d.attempt, dial_state_, r, now);
        observer().attempt_started(view(), d.attempt, attempts_++);
        if (opened) {
            d.attempt.started_ms = now;
            d.fd = std::move(d.attempt.fd);
            d.io.fd = d.fd.get();
            if (!worker_.loop().add(d.io.fd, &d, kSocketEvents)) {
                r.error = "epoll_ctl: " + errno_text(errno);
                r.error_code = errno;
                r.exhausted = true;  // our side, not the server's: no point in the next one
                outbound.attempt_failed(flow_, d.attempt, r.error, Fault::Local);
                observer().attempt_failed(view(), d.attempt, r.error, Fault::Local);
                d.fd.reset();
            } else {
                d.dialing = true;
                ++dials_in_flight_;
                const uint64_t timeout = d.attempt.timeout_ms ? d.attempt.timeout_ms : config().connect_timeout_ms;
                if (timeout) worker_.loop().deadlines(timeout).arm(d.deadline, now);
                if (d.attempt.connected) {
                    d.io.writable = true;
                    drive_dial(d);
                }
                return true;
            }
        } else if (!r.exhausted && !r.error.empty()) {
            // This candidate failed before its connect got going (the outbound has counted it): the next one.
            observer().attempt_failed(view(), d.attempt, r.error, Fault::Upstream);
        }
        // An exhausted list says nothing new: keep the reason of the last real failure.
        if (!r.error.empty()) {
            last_error_ = std::move(r.error);
            last_error_code_ = r.error_code;
        }
        // Out of fds (or kernel memory): pause accepting like accept4's EMFILE, so the fds that are left serve
        // the connections we already have.
        if (r.error_code == EMFILE || r.error_code == ENFILE || r.error_code == ENOBUFS || r.error_code == ENOMEM)
            worker_.pause_listeners(r.error_code);
        if (r.exhausted) return false;
    }
}

void Connection::on_dial_io(DialSide& d, uint32_t events) {
    if (!d.dialing) return;
    if (!d.attempt.connected) {
        if (!d.io.writable) return;
        // A failed connect always reports EPOLLERR; a plain EPOLLOUT needs no SO_ERROR look-up.
        if (events & (EPOLLERR | EPOLLHUP)) {
            int err = socket_error(d.io.fd);
            if (err == 0) err = ECONNRESET;
            dial_failed(d, dial_text(d) + ": connect: " + errno_text(err), err, Fault::Upstream, false);
            return;
        }
        d.attempt.connected = true;
    } else if (events & EPOLLERR) {
        if (int err = socket_error(d.io.fd)) {
            // With TCP Fast Open the connect itself happens after the first write: a refusal is still one.
            const char* op = err == ECONNREFUSED ? "connect" : "read";
            dial_failed(d, dial_text(d) + ": " + op + ": " + errno_text(err), err, Fault::Upstream,
                        d.attempt.payload_out && err != ECONNREFUSED);
            return;
        }
    }
    drive_dial(d);
}

void Connection::on_dial_timeout(DialSide& d) {
    if (!d.dialing || state_ != State::Dialing) return;
    const uint64_t ms = d.attempt.timeout_ms ? d.attempt.timeout_ms : config().connect_timeout_ms;
    if (!d.attempt.connected)
        dial_failed(d, dial_text(d) + ": i/o timeout", ETIMEDOUT, Fault::Upstream, false);
    else
        dial_failed(d, dial_text(d) + ": no reply within " + std::to_string(ms) + " ms (connect + handshake)",
                    ETIMEDOUT, Fault::Upstream, d.attempt.payload_out);
}

void Connection::drive_dial(DialSide& d) {
    HandshakeStep step = config().outbound->handshake(flow_, d.attempt, d.io, client_.fd.get(), worker_.scratch());
    switch (step.status) {
        case HandshakeStep::Status::Incomplete:
            return;
        case HandshakeStep::Status::Failed:
            dial_failed(d, std::move(step.error), step.error_code, step.fault, step.final);
            return;
        case HandshakeStep::Status::Done:
            won(d);
            return;
    }
}

void Connection::end_dial(DialSide& d, std::string_view error, std::optional<Fault> fault) {
    if (!d.dialing) return;
    d.dialing = false;
    --dials_in_flight_;
    d.deadline.cancel();
    config().outbound->attempt_failed(flow_, d.attempt, error, fault);
    observer().attempt_failed(view(), d.attempt, error, fault);
    if (d.fd) set_reset_on_close(d.fd.get());
    d.fd.reset();
    d.io = SocketReadiness{};
}

void Connection::end_all_dials(std::string_view why) {
    end_dial(upstream_, why, std::nullopt);
    for (size_t i = 0; i < racer_count_; ++i) end_dial(racers_[i], why, std::nullopt);
}

void Connection::dial_failed(DialSide& d, std::string error, int error_code, Fault fault, bool final) {
    end_dial(d, error, fault);
    last_error_ = std::move(error);
    last_error_code_ = error_code;
    if (state_ != State::Dialing) return;
    if (fault == Fault::Local || final) {
        // Nothing another candidate could do better (or it could do harm): the connection fails now.
        end_all_dials("the connection failed");
        fail_dialing();
        return;
    }
    if (open_next(d) || state_ != State::Dialing) return;
    if (dials_in_flight_ > 0) return;  // the race goes on without this slot
    fail_dialing();
}

void Connection::fail_dialing() {
    const bool replied =
        config().inbound->upstream_failed(client_.fd.get(), flow_, inbound_state_, last_error_code_);
    drop("failed to establish upstream connection", last_error_, !replied);
}

void Connection::won(DialSide& d) {
    // The race is over: the others are closed (they never carried client bytes beyond a handshake).
    if (&d != &upstream_) end_dial(upstream_, "another attempt won the race", std::nullopt);
    for (size_t i = 0; i < racer_count_; ++i)
        if (&racers_[i] != &d) end_dial(racers_[i], "another attempt won the race", std::nullopt);
    d.dialing = false;
    --dials_in_flight_;
    d.deadline.cancel();
    if (&d != &upstream_) {
        upstream_.fd = std::move(d.fd);
        upstream_.io = d.io;
        upstream_.attempt = std::move(d.attempt);
        if (!worker_.loop().modify(upstream_.fd.get(), &upstream_, kSocketEvents)) {
            drop("failed to establish upstream connection", "epoll_ctl: " + errno_text(errno));
            return;
        }
    }
    // racers_ stays until the connection is destroyed: events of this batch may still name its slots.
    flow_.target = upstream_.attempt.target.empty() ? flow_.target : upstream_.attempt.target;
    dial_state_.candidates.reset();  // the winner's attempt keeps what it needs
    // Client bytes that went out inside the handshake are delivered: take them out of the client socket.
    if (!io::discard_exactly(client_.io.fd, upstream_.attempt.payload_len, worker_.scratch())) {
        const int err = errno ? errno : EPIPE;
        drop("connection broken", "read tcp " + client_text() + ": " + errno_text(err));
        return;
    }
    if (std::string err = config().inbound->upstream_ready(client_.io.fd, flow_, inbound_state_, upstream_.io.fd);
        !err.empty()) {
        drop("connection broken", err);
        return;
    }
    start_relay();
}

void Connection::start_relay() {
    state_ = State::Relaying;
    relay_started_ = true;
    observer().established(view(), upstream_.attempt);
    config().outbound->relay_started(flow_, upstream_.attempt);
    if (const InterceptorSet* set = config().interceptors) {
        // Directions nobody intercepts keep splicing.
        intercept_ = std::make_unique<FlowInterceptors>(*set, flow_);
        up_.set_filter(intercept_->filter(Direction::Up));
        down_.set_filter(intercept_->filter(Direction::Down));
    }
    EventLoop& loop = worker_.loop();
    if (config().idle_timeout_ms) idle_deadlines_ = &loop.deadlines(config().idle_timeout_ms);
    if (config().halfclose_timeout_ms) halfclose_deadlines_ = &loop.deadlines(config().halfclose_timeout_ms);
    if (DeadlineQueue* q = relay_deadlines())
        q->arm(deadline_, loop.now_ms());
    else
        deadline_.cancel();
    // Payload that came with or after the header is still queued in the client socket: go get it.
    client_.io.readable = true;
    drive();
}

void Connection::drive() {
    PipePool& pool = worker_.pipes();
    const bool was_half_closed = half_closed();
    const bool eof_before = up_.eof_seen() || down_.eof_seen();
    auto up = up_.pump(client_.io, upstream_.io, pool, worker_.scratch(), down_.done());
    auto down = down_.pump(upstream_.io, client_.io, pool, worker_.scratch(), up_.done());
    if (up == SplicePump::Outcome::Error || down == SplicePump::Outcome::Error) {
        const SplicePump& failed = up == SplicePump::Outcome::Error ? up_ : down_;
        if (!failed.filter_error().empty()) {
            drop("interceptor failed", failed.filter_error());
            return;
        }
        const bool client_to_upstream = &failed == &up_;
        // Which socket failed: the source on a read error, the destination on a write error.
        relay_failed(client_to_upstream == failed.error_on_write(), failed.error_on_write() ? "write" : "read",
                     failed.error());
        return;
    }
    report_bytes(false);
    // Whose EOF was read first (both in one call: the client's, read first).
    if (!eof_before && (up_.eof_seen() || down_.eof_seen())) client_eof_first_ = up_.eof_seen();
    if (up_.done() && down_.done()) {
        finish(false, true);
        return;
    }
    if (!was_half_closed && half_closed()) {
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

void Connection::report_bytes(bool now) {
    const Outbound& outbound = *config().outbound;
    metrics::ListenerMetrics* metrics = context_->metrics;
    if (!outbound.wants_relay_bytes() && !metrics) return;
    const uint64_t up = up_.bytes(), down = down_.bytes();
    if (up == reported_up_ && down == reported_down_) return;
    // Shared counters, written by every loop: at most about once a second per connection, and at the end.
    if (!now && worker_.loop().now_ms() < reported_ms_ + kReportBytesMs) return;
    reported_ms_ = worker_.loop().now_ms();
    if (outbound.wants_relay_bytes()) outbound.relay_bytes(upstream_.attempt, up - reported_up_, down - reported_down_);
    if (metrics) metrics->relayed(up - reported_up_, down - reported_down_);
    reported_up_ = up;
    reported_down_ = down;
}

bool Connection::half_closed() const { return peer_finished_ || up_.done() || down_.done(); }

DeadlineQueue* Connection::relay_deadlines() const {
    if (half_closed() && halfclose_deadlines_) return halfclose_deadlines_;
    return idle_deadlines_;
}

std::string Connection::client_text() {
    if (flow_.local.empty()) flow_.local = local_address(client_.fd.get());
    return flow_.local.to_string() + "->" + flow_.peer.to_string();
}

void Connection::relay_failed(bool upstream_side, const char* op, int err) {
    std::string where = upstream_side
                            ? (upstream_.attempt.from_client ? flow_.client().to_string() + "->" : std::string()) +
                                  flow_.target.to_string()
                            : client_text();
    upstream_fault_ = upstream_side;
    drop("connection broken", std::string(op) + " tcp " + where + ": " + errno_text(err));
}

void Connection::on_timer() {
    switch (state_) {
        case State::Handshake:
            if (sniffing_) {  // no (complete) name in time: go on without one
                deadline_passed_ = true;
                sniff(true);
                break;
            }
            drop(config().inbound->failure_message(),
                 std::string("no complete ") + config().inbound->handshake_name() + " within " +
                     std::to_string(handshake_timeout_ms_) + " ms");
            break;
        case State::Relaying:
            if (half_closed() && halfclose_deadlines_)
                drop("connection broken",
                     "half-closed and idle for " + std::to_string(config().halfclose_timeout_ms) + " ms");
            else
                drop("connection broken", "idle for " + std::to_string(config().idle_timeout_ms) + " ms");
            break;
        case State::Dialing:  // each attempt has its own deadline
        case State::Closed:
            break;
    }
}

void Connection::drop(std::string_view message, const std::string& error, bool reset) {
    // Attempts still in flight end first, so `failed` is the connection's last word before `closed`.
    if (state_ != State::Closed && dials_in_flight_ > 0) end_all_dials("connection closed while dialing");
    if (state_ != State::Closed) {
        const Stage stage = state_ == State::Handshake ? Stage::Handshake
                            : state_ == State::Dialing ? Stage::Dialing
                                                       : Stage::Relaying;
        observer().failed(view(), stage, message, error);
    }
    finish(reset);
}

void Connection::finish(bool reset, bool clean) {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    handshake_ended();
    if (Admission* a = worker_.admission()) a->release(ticket_);
    deadline_.cancel();
    if (dials_in_flight_ > 0) end_all_dials("connection closed while dialing");
    if (relay_started_) relay_ended(clean, false);
    if (intercept_) intercept_->close(reset, up_.bytes(), down_.bytes());
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

void Connection::relay_ended(bool clean, bool shutdown) {
    report_bytes(true);
    const bool upstream_error = upstream_fault_ && !shutdown;
    config().outbound->relay_closed(flow_, upstream_.attempt, up_.bytes(), down_.bytes(), upstream_error);
    CloseInfo info;
    info.bytes_up = up_.bytes();
    info.bytes_down = down_.bytes();
    info.duration_ms = worker_.loop().now_ms() - started_ms_;
    info.clean = clean;
    info.client_first = client_eof_first_;
    info.upstream_error = upstream_error;
    info.shutdown = shutdown;
    observer().closed(view(), upstream_.attempt, info);
}

void Connection::close_now() {
    if (state_ != State::Closed) {
        if (dials_in_flight_ > 0) end_all_dials("shutting down");
        if (relay_started_) relay_ended(false, true);
        if (intercept_) intercept_->close(true, up_.bytes(), down_.bytes());
        handshake_ended();
        if (Admission* a = worker_.admission()) a->release(ticket_);
    }
    state_ = State::Closed;
    deadline_.cancel();
    up_.release(worker_.pipes());
    down_.release(worker_.pipes());
    client_.fd.reset();
    upstream_.fd.reset();
}

}  // namespace ferry
