// Internal to the engine: a Worker is one loop thread with its listeners, its pipe pool and its connections.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/pipe_pool.h"
#include "engine/admission.h"
#include "engine/events.h"
#include "engine/flow.h"
#include "engine/metrics.h"
#include "engine/service.h"
#include "inbound/inbound.h"
#include "outbound/outbound.h"
#include "relay/interceptor.h"
#include "relay/splice_pump.h"

namespace ferry {

class Worker;
class UdpListener;
struct ListenerContext;

// Puts a MeteredObserver (engine/metrics.h) in front of `context`'s observer, counting into the registry's
// metrics of the context's listener and address. Nothing when `registry` is null.
void meter_context(ListenerContext& context, metrics::Registry* registry);

// The loop's buffer for handshakes and copies: big enough for the largest message any handshake peeks whole
// (a PROXY v2 header: 16 bytes and up to 65535 of addresses and TLVs).
inline constexpr size_t kScratchBytes = 16 + 65535;

// What a listening socket's connections share: the socket's identity and the combination it serves. A reload
// gives the socket a new context (same info, new config); connections keep the one they were accepted with.
struct ListenerContext {
    ListenerInfo info;
    std::shared_ptr<const ListenerConfig> config;
    const ConnectionObserver* observer = nullptr;  // config->observer, or a silent one (or its MeteredObserver)
    metrics::ListenerMetrics* metrics = nullptr;   // with ServiceConfig::metrics: this address's counters
    std::shared_ptr<const void> metered;           // owns the MeteredObserver `observer` points to, if any
};

class Listener final : public IoHandler, public TimerHandler {
public:
    Listener(Worker& worker, Fd fd, std::shared_ptr<const ListenerContext> context);
    // A socket whose connections are not proxied (the status page).
    Listener(Worker& worker, Fd fd, ListenerInfo info, const AcceptHandler* handler);
    ~Listener();
    bool start();
    void on_io(uint32_t events) override;
    void on_timer() override;
    // Stops accepting for kAcceptPauseMs after `err` (logged once per episode), then tries again.
    void pause(int err, const char* during);
    // Stops accepting for a moment because the service is at its connection limit (logged once per episode).
    void pause_at_limit(uint64_t live, uint64_t limit);
    // Stops accepting for good and closes the socket now (the object itself may be named by events of this
    // batch: destroy it later).
    void close();
    const ListenerInfo& info() const { return info_; }
    bool extra() const { return handler_ != nullptr; }
    const std::shared_ptr<const ListenerContext>& context() const { return context_; }
    void set_context(std::shared_ptr<const ListenerContext> context) { context_ = std::move(context); }
    // The combination it serves; null for extra listeners.
    const ListenerConfig* serves() const { return context_ ? context_->config.get() : nullptr; }

private:
    void accept_batch();

    Worker& worker_;
    Fd fd_;
    ListenerInfo info_;
    std::shared_ptr<const ListenerContext> context_;  // null for extra listeners
    const AcceptHandler* handler_ = nullptr;           // set for listeners whose connections are not proxied
    Deadline pause_{this};
    bool paused_ = false;
    bool closed_ = false;
    uint64_t pauses_ = 0;  // since the last successful accept, for the "resumed" log line
};

// One proxied connection: inbound handshake, outbound dial (attempts, maybe racing), then two splice pumps.
class Connection final : public Deferred, public TimerHandler {
public:
    Connection(Worker& worker, std::shared_ptr<const ListenerContext> context, Fd client, const SocketAddress& peer,
               AdmissionTicket ticket = {});
    ~Connection() override;
    void start();
    void on_timer() override;
    void close_now();  // at shutdown: no failure event, plain close
    // Closes a connection still in its handshake to make room for a new one (overload protection).
    void evict(const std::string& reason);
    uint64_t started_ms() const { return started_ms_; }

    Connection* prev = nullptr;  // the worker's list of live connections
    Connection* next = nullptr;
    Connection* handshake_prev = nullptr;  // the worker's list of connections in their handshake, oldest first
    Connection* handshake_next = nullptr;
    bool in_handshake_list = false;

private:
    enum class State { Handshake, Dialing, Relaying, Closed };

    struct Side : public IoHandler {
        Connection* conn = nullptr;
        Fd fd;
        SocketReadiness io;
        void on_io(uint32_t events) override;
    };
    // The upstream socket, and while dialing one attempt with its own deadline (connect + handshake).
    struct DialSide final : public Side, public TimerHandler {
        Attempt attempt;
        Deadline deadline{this};
        bool dialing = false;
        void on_timer() override;
    };

    const ListenerConfig& config() const { return *context_->config; }
    const ConnectionObserver& observer() const { return *context_->observer; }
    ConnectionView view() const;

    void on_side_io(Side& side, uint32_t events);
    void read_handshake();
    // ListenerConfig::sniff: whether this connection's first bytes are looked at for its destination's name;
    // sniff() looks (peeks) and starts dialing once the name is known or cannot be (engine/sniff.h).
    bool wants_name() const;
    void sniff(bool client_done);
    // The inbound refused the peer itself (InboundStep::refused): logged at most once per source per interval.
    void refuse_peer(const InboundStep& step);
    // Leaves the worker's handshake list and the admission counts of connections in their handshake.
    void handshake_ended();
    void start_dialing();
    // Opens the next candidate in `d`; false when nothing was left to try (last_error_ says why).
    bool open_next(DialSide& d);
    void on_dial_io(DialSide& d, uint32_t events);
    void on_dial_timeout(DialSide& d);
    void drive_dial(DialSide& d);
    void dial_failed(DialSide& d, std::string error, int error_code, Fault fault, bool final);
    void end_dial(DialSide& d, std::string_view error, std::optional<Fault> fault);  // nullopt: cancelled
    void end_all_dials(std::string_view why);
    void won(DialSide& d);
    void start_relay();
    void drive();
    // To outbounds that count bytes as they move (the moproxy status page) and to the listener's metrics;
    // `now`: whatever the time.
    void report_bytes(bool now);
    void arm(uint64_t duration_ms);
    // Ends the connection. With `reset`, both sockets are closed with an RST (a reset is propagated).
    void finish(bool reset, bool clean = false);
    // The relay is over: the outbound's accounting and the observer's `closed`.
    void relay_ended(bool clean, bool shutdown);
    // Reports the failure and closes: with an RST, or with a FIN when the client was just sent an error reply.
    void drop(std::string_view message, const std::string& error, bool reset = true);
    void fail_dialing();  // no upstream: the inbound's failure reply, then drop
    // One direction is done, or a peer has finished sending (its FIN seen, its last bytes maybe still queued).
    bool half_closed() const;
    // The deadline queue of the relaying state: half-close when half-closed and one is set, else idle.
    DeadlineQueue* relay_deadlines() const;
    // A socket failed while relaying: report which one and how, reset both.
    void relay_failed(bool upstream_side, const char* op, int err);
    std::string dial_text(const DialSide& d) const;  // "dial tcp [source->]target"
    // "local->peer" for the client socket, as Go names a connection in its errors. Fills in flow_.local when no
    // observer asked for it (the socket still knows its address after a reset).
    std::string client_text();

    Worker& worker_;
    std::shared_ptr<const ListenerContext> context_;
    State state_ = State::Handshake;
    Side client_;
    DialSide upstream_;
    std::unique_ptr<DialSide[]> racers_;  // the other attempts of a race (Outbound::parallel() > 1)
    size_t racer_count_ = 0;
    size_t dials_in_flight_ = 0;
    size_t attempts_ = 0;  // opened so far (for attempt_started's index)
    DialState dial_state_;
    InboundState inbound_state_;
    std::string last_error_;
    int last_error_code_ = 0;
    Flow flow_;
    SplicePump up_;    // client -> upstream
    SplicePump down_;  // upstream -> client
    Deadline deadline_{this};
    AdmissionTicket ticket_;
    uint64_t handshake_timeout_ms_ = 0;  // the deadline armed at accept (shorter under pressure)
    DeadlineQueue* idle_deadlines_ = nullptr;       // while relaying; null: no idle timeout
    DeadlineQueue* halfclose_deadlines_ = nullptr;  // once half-closed; null: none
    uint64_t started_ms_ = 0;
    bool redrive_queued_ = false;
    bool handshake_done_ = false;
    bool relay_started_ = false;
    bool refused_ = false;  // the inbound refused the peer (for the observers' ConnectionView::refused)
    bool sniffing_ = false;         // in the handshake state after the inbound's, looking for the destination's name
    bool deadline_passed_ = false;  // the sniffing wait is over
    uint64_t reported_up_ = 0;
    uint64_t reported_down_ = 0;
    uint64_t reported_ms_ = 0;
    bool upstream_fault_ = false;  // the relay ended because the upstream side failed
    bool client_eof_first_ = false;  // the client->upstream direction finished first
    bool peer_finished_ = false;     // EPOLLRDHUP or EPOLLHUP seen on either socket while relaying
    std::unique_ptr<FlowInterceptors> intercept_;  // while relaying, when the listener has interceptors
};

class Worker {
public:
    explicit Worker(size_t index);
    ~Worker();
    EventLoop& loop() { return loop_; }
    PipePool& pipes() { return pipes_; }
    std::span<std::byte> scratch() { return scratch_; }
    size_t index() const { return index_; }

    void add_listener(Fd fd, std::shared_ptr<const ListenerContext> context);
    void add_extra_listener(Fd fd, ListenerInfo info, const AcceptHandler* handler);
    bool add_udp_listener(Fd fd, const UdpServiceConfig& config, const SocketAddress& address,
                          metrics::ListenerMetrics* metrics = nullptr);
    // On this loop's thread: the listening sockets serving `old` serve `next` from now on (their connections
    // keep `old`).
    void retarget(const ListenerConfig* old, const std::shared_ptr<const ListenerConfig>& next,
                  const ConnectionObserver* observer);
    // On this loop's thread: the listening sockets serving `old` stop accepting and are closed.
    void remove_listeners_of(const ListenerConfig* old);
    // A successor took over: every listener of this loop (TCP, UDP with its flows, extra) stops and closes its
    // socket; the connections already accepted carry on.
    void stop_accepting();
    // Takes a freshly accepted socket.
    void on_accepted(Listener& listener, Fd fd, const SocketAddress& peer);
    void unlink(Connection& c);
    // The service's overload protection (null: none, as in the unit tests' workers). Set before run().
    void set_admission(Admission* admission) { admission_ = admission; }
    // The service's metrics (null: none), for the contexts retarget() makes. Set before run().
    void set_metrics(metrics::Registry* registry) { metrics_ = registry; }
    Admission* admission() const { return admission_; }
    // The list of connections in their handshake, oldest first (the first to give way at the limit).
    void handshake_started(Connection& c);
    void handshake_finished(Connection& c);
    // Out of fds or memory somewhere on this loop: rest every listener for kAcceptPauseMs.
    void pause_listeners(int err);
    void run();
    void close_all();

private:
    size_t index_;
    EventLoop loop_;
    PipePool pipes_;
    std::vector<std::byte> scratch_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<std::unique_ptr<UdpListener>> udp_listeners_;
    Connection* connections_ = nullptr;
    Connection* handshakes_oldest_ = nullptr;
    Connection* handshakes_newest_ = nullptr;
    Admission* admission_ = nullptr;
    metrics::Registry* metrics_ = nullptr;

    // At the connection limit: closes this loop's oldest connection still in its handshake, or (when there is
    // none) rests its listeners. Called after a new connection was admitted past the limit.
    void make_room();
    void refuse(const ListenerContext& context, const SocketAddress& peer, Refusal why);
};

}  // namespace ferry
