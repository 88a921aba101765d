// The engine's connection state machine (engine/connection.cpp) without root or network namespaces: a real
// Worker accepts on a 127.0.0.1 listening socket with an ephemeral port, a scripted Outbound dials loopback
// "servers" the test holds, and the test drives the worker's loop with EventLoop::run_until while it plays
// both peers itself. A recording observer checks the exact sequence of events (engine/events.h); the peers
// check the bytes and the errnos that reach them. Deadlines are tens of milliseconds; every wait is bounded.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/io.h"
#include "core/socket_util.h"
#include "engine/admission.h"
#include "support/log.h"
#include "engine/worker.h"
#include "tls_hello.h"
#include "inbound/inbound.h"
#include "outbound/outbound.h"

using ferry::Attempt;
using ferry::CloseInfo;
using ferry::ConnectionObserver;
using ferry::ConnectionView;
using ferry::DialState;
using ferry::Fault;
using ferry::Fd;
using ferry::Flow;
using ferry::HandshakeStep;
using ferry::Inbound;
using ferry::InboundState;
using ferry::InboundStep;
using ferry::Io;
using ferry::IoResult;
using ferry::ListenerConfig;
using ferry::ListenerContext;
using ferry::OpenResult;
using ferry::Outbound;
using ferry::PlainInbound;
using ferry::RelayMode;
using ferry::SocketAddress;
using ferry::SocketReadiness;
using ferry::Stage;

namespace {

// Every wait for something that must happen gives up after this: a bug fails the test instead of hanging it.
constexpr uint64_t kWaitMs = 2000;

SocketAddress loopback(uint16_t port) {
    const uint8_t lo[4] = {127, 0, 0, 1};
    return SocketAddress::from_v4(lo, port);
}

std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(gen());
    return s;
}

// -------------------------------------------------------------------------------------------- observer

const char* stage_name(Stage s) {
    switch (s) {
        case Stage::Handshake: return "handshake";
        case Stage::Dialing: return "dialing";
        case Stage::Relaying: return "relaying";
    }
    return "?";
}

std::string fault_name(std::optional<Fault> f) {
    if (!f) return "cancelled";
    switch (*f) {
        case Fault::Upstream: return "upstream";
        case Fault::Destination: return "destination";
        case Fault::Local: return "local";
    }
    return "?";
}

// Records every event of the listener as one line, when it came (on the loop's clock, which the deadlines use)
// and whether the handshake was done then.
class Recorder final : public ConnectionObserver {
public:
    bool needs_local_address() const override { return wants_local; }
    void accepted(const ConnectionView& c) const override { add(c, "accepted"); }
    void dialing(const ConnectionView& c) const override { add(c, "dialing"); }
    void named(const ConnectionView& c, std::string_view why_none) const override {
        add(c, c.flow.destination_host.empty() ? "named nothing: " + std::string(why_none)
                                               : "named " + c.flow.destination_host);
    }
    void attempt_started(const ConnectionView& c, const Attempt& a, size_t index) const override {
        add(c, "attempt_started #" + std::to_string(index) + " " +
                   (a.fd ? a.target.to_string() : std::string("(nothing opened)")));
    }
    void attempt_failed(const ConnectionView& c, const Attempt& a, std::string_view error,
                        std::optional<Fault> fault) const override {
        add(c, "attempt_failed " + a.target.to_string() + " " + fault_name(fault) + ": " + std::string(error));
    }
    void established(const ConnectionView& c, const Attempt& a) const override {
        add(c, "established " + a.target.to_string() + " (flow.target " + c.flow.target.to_string() + ")");
    }
    void failed(const ConnectionView& c, Stage stage, std::string_view message,
                std::string_view error) const override {
        add(c, std::string("failed ") + stage_name(stage) + ": " + std::string(message) + ": " + std::string(error));
    }
    void closed(const ConnectionView& c, const Attempt&, const CloseInfo& info) const override {
        add(c, "closed");
        close_info = info;
    }

    bool has(std::string_view prefix) const { return count(prefix) > 0; }
    size_t count(std::string_view prefix) const {
        size_t n = 0;
        for (const auto& l : lines)
            if (l.starts_with(prefix)) ++n;
        return n;
    }
    // When the first event starting with `prefix` came (the loop's milliseconds).
    uint64_t when(std::string_view prefix) const {
        for (size_t i = 0; i < lines.size(); ++i)
            if (lines[i].starts_with(prefix)) return at[i];
        FAIL("no event " << prefix);
        return 0;
    }

    bool wants_local = true;
    const ferry::EventLoop* loop = nullptr;
    mutable std::vector<std::string> lines;
    mutable std::vector<uint64_t> at;
    mutable std::vector<bool> handshake_done;
    mutable std::optional<CloseInfo> close_info;

private:
    void add(const ConnectionView& c, std::string line) const {
        lines.push_back(std::move(line));
        at.push_back(loop->now_ms());
        handshake_done.push_back(c.handshake_done);
    }
};

// ------------------------------------------------------------------------------------ inbound, outbound

// A handshake of the test's own: the line "HELLO\n", then payload. Peeks, and consumes only the line.
class HelloInbound final : public Inbound {
public:
    static constexpr size_t kMaxLine = 64;
    InboundStep read(int fd, Flow& flow, InboundState&, std::span<std::byte> scratch) const override {
        ++reads;
        const IoResult r = ferry::io::peek(fd, scratch.first(kMaxLine));
        if (r.io == Io::Error) return InboundStep::invalid(failure_message(), ferry::errno_text(r.error));
        if (r.io != Io::Progress) return {};  // nothing yet, or EOF: the engine sees the hang-up itself
        const std::string_view seen(reinterpret_cast<const char*>(scratch.data()), r.bytes);
        const size_t eol = seen.find('\n');
        if (eol == std::string_view::npos)
            return seen.size() < kMaxLine ? InboundStep{} : InboundStep::invalid(failure_message(), "line too long");
        if (seen.substr(0, eol) != "HELLO") return InboundStep::invalid(failure_message(), "not HELLO");
        if (!ferry::io::discard_exactly(fd, eol + 1, scratch))
            return InboundStep::invalid(failure_message(), ferry::errno_text(errno));
        flow.destination = destination;
        return InboundStep::done();
    }
    const char* failure_message() const override { return "failed to read test header"; }
    const char* done_message() const override { return "test header read"; }
    const char* handshake_name() const override { return "test header"; }

    mutable int reads = 0;
    SocketAddress destination;  // what the handshake "learns" (empty: nothing)
};

// One upstream the scripted outbound may dial.
struct Candidate {
    SocketAddress address;
    std::string greeting;     // what the server must send before the attempt is Done (empty: Done once connected)
    uint64_t timeout_ms = 0;  // the attempt's own bound on connect + handshake (0: the listener's)
};

// Dials its candidates in order over loopback; a candidate's handshake is reading its greeting. Records what the
// engine tells it.
class ScriptedOutbound final : public Outbound {
public:
    bool open(Flow& flow, Attempt& a, DialState& state, OpenResult& r, uint64_t) const override {
        if (state.next >= candidates.size()) {
            r.exhausted = true;
            return false;
        }
        const size_t index = state.next++;
        const Candidate& c = candidates[index];
        a.stage = static_cast<uint8_t>(index);
        a.target = c.address;
        a.timeout_ms = c.timeout_ms;
        flow.target = c.address;
        Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd) {
            r.error = "socket: " + ferry::errno_text(errno);
            r.error_code = errno;
            r.exhausted = true;
            return false;
        }
        if (::connect(fd.get(), c.address.sa(), c.address.length) == 0) {
            a.connected = true;
        } else if (errno != EINPROGRESS) {
            r.error = "dial tcp " + c.address.to_string() + ": connect: " + ferry::errno_text(errno);
            r.error_code = errno;
            return false;
        }
        a.fd = std::move(fd);
        return true;
    }

    HandshakeStep handshake(Flow&, Attempt& a, SocketReadiness& io, int, std::span<std::byte> scratch) const override {
        const std::string& want = candidates[a.stage].greeting;
        while (a.sent < want.size()) {
            if (!io.readable) return {};
            const IoResult r = ferry::io::recv_some(io.fd, scratch.first(want.size() - a.sent));
            switch (r.io) {
                case Io::WouldBlock:
                    io.readable = false;
                    return {};
                case Io::Eof: return HandshakeStep::failed("greeting: EOF", ECONNRESET);
                case Io::Error: return HandshakeStep::failed("greeting: " + ferry::errno_text(r.error), r.error);
                case Io::Progress: break;
            }
            if (std::memcmp(scratch.data(), want.data() + a.sent, r.bytes) != 0)
                return HandshakeStep::failed("greeting: unexpected bytes", EPROTO);
            a.sent += static_cast<uint32_t>(r.bytes);
        }
        return HandshakeStep::done();
    }

    size_t parallel() const override { return racing; }

    void attempt_failed(const Flow&, const Attempt& a, std::string_view, std::optional<Fault> fault) const override {
        calls.push_back("attempt_failed " + a.target.to_string() + " " + fault_name(fault));
    }
    void relay_started(const Flow&, const Attempt& a) const override {
        calls.push_back("relay_started " + a.target.to_string());
    }
    void relay_closed(const Flow&, const Attempt& a, uint64_t up, uint64_t down, bool error) const override {
        calls.push_back("relay_closed " + a.target.to_string() + " up " + std::to_string(up) + " down " +
                        std::to_string(down) + (error ? " upstream error" : ""));
    }

    std::vector<Candidate> candidates;
    size_t racing = 1;
    mutable std::vector<std::string> calls;
};

// ------------------------------------------------------------------------------------------------ peers

// Sockets the test holds are watched by the loop too, with a handler that does nothing: their events only end
// epoll_wait, so run_until checks its condition again as soon as a peer has something.
struct Nudge final : ferry::IoHandler {
    void on_io(uint32_t) override {}
};
Nudge nudge;

// A test-held end of a TCP connection: what it has sent and received, and how it ended.
struct Peer {
    Fd fd;
    std::string out;  // everything it is to send
    size_t sent = 0;
    std::string in;   // everything received so far
    bool eof = false;
    int read_error = 0;
    int write_error = 0;

    // Sends what the socket takes of `out` and reads what has arrived. Never blocks.
    void pump() {
        while (sent < out.size() && !write_error) {
            const ssize_t n = ::send(fd.get(), out.data() + sent, out.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n == -1) {
                if (errno != EAGAIN) write_error = errno;
                break;
            }
            sent += static_cast<size_t>(n);
        }
        char buf[65536];
        while (!eof && !read_error) {
            const ssize_t n = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                in.append(buf, static_cast<size_t>(n));
            } else if (n == 0) {
                eof = true;
            } else {
                if (errno != EAGAIN) read_error = errno;
                break;
            }
        }
    }
    void send(const std::string& s) {
        out += s;
        pump();
    }
    bool all_sent() const { return sent == out.size(); }
    // The peer's end is over: EOF or an error read.
    bool ended() const { return eof || read_error != 0; }
    void shut_write() { REQUIRE(::shutdown(fd.get(), SHUT_WR) == 0); }
    // Closes with an RST (SO_LINGER 0).
    void reset() {
        ferry::set_reset_on_close(fd.get());
        fd.reset();
    }
};

// A loopback address a test "server" owns: listening, or only bound, so that connecting to it is refused
// (ECONNREFUSED) without any other process being able to take the port meanwhile.
struct Server {
    Fd fd;
    SocketAddress address;
    explicit Server(bool listening = true) {
        fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        REQUIRE(fd);
        const SocketAddress any_port = loopback(0);
        REQUIRE(::bind(fd.get(), any_port.sa(), any_port.length) == 0);
        if (listening) REQUIRE(::listen(fd.get(), 16) == 0);
        address = ferry::local_address(fd.get());
        REQUIRE(address.port() != 0);
    }
};

// ------------------------------------------------------------------------------------------------ proxy

// One Worker with one listening socket on 127.0.0.1 serving `config`, its loop driven from the test thread.
// The inbound and the outbound the config points to must outlive it.
class Proxy {
public:
    explicit Proxy(ListenerConfig config) {
        REQUIRE(worker_.loop().ok());
        events.loop = &worker_.loop();
        config.observer = &events;
        ferry::ListenOptions options;
        options.reuse_port = false;
        options.backlog = 16;
        std::string why;
        Fd fd = ferry::listen_tcp(loopback(0), options, &why);
        INFO(why);
        REQUIRE(fd);
        address_ = ferry::local_address(fd.get());
        auto context = std::make_shared<ListenerContext>();
        context->info.address = address_;
        context->info.address_text = address_.to_string();
        context->config = std::make_shared<const ListenerConfig>(std::move(config));
        context->observer = &events;
        worker_.add_listener(std::move(fd), std::move(context));
    }

    void set_admission(ferry::Admission* a) { worker_.set_admission(a); }

    // Runs the loop until `done` (bounded by `timeout_ms`); returns whether it came true.
    bool run_until(const std::function<bool()>& done, uint64_t timeout_ms = kWaitMs) {
        return worker_.loop().run_until(done, timeout_ms);
    }
    // Runs the loop for `ms` whatever happens.
    void run_for(uint64_t ms) { run_until([] { return false; }, ms); }

    // A client connected to the listener (the kernel completes the connect; the loop accepts it when it runs).
    Peer connect() {
        Peer p;
        p.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(p.fd);
        REQUIRE(::connect(p.fd.get(), address_.sa(), address_.length) == 0);
        REQUIRE(::fcntl(p.fd.get(), F_SETFL, O_NONBLOCK) == 0);
        watch(p.fd.get());
        return p;
    }

    // The next connection the engine made to `server`, accepted.
    Peer accept(Server& server) {
        watch(server.fd.get());
        Peer p;
        const bool accepted = run_until([&] {
            p.fd.reset(::accept4(server.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            return p.fd.valid();
        });
        REQUIRE(accepted);
        watch(p.fd.get());
        return p;
    }

    // Runs the loop until both peers have sent all they have and `up`/`down` bytes have arrived at the
    // upstream / the client.
    bool exchange(Peer& client, Peer& upstream, size_t up, size_t down) {
        return run_until([&] {
            client.pump();
            upstream.pump();
            return client.all_sent() && upstream.all_sent() && upstream.in.size() >= up && client.in.size() >= down;
        });
    }

    // Runs the loop until `p` has seen its end.
    bool until_ended(Peer& p) {
        return run_until([&] {
            p.pump();
            return p.ended();
        });
    }

    Recorder events;  // declared before the worker: connections closed by its destructor still report

private:
    void watch(int fd) {
        if (!worker_.loop().add(fd, &nudge, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) REQUIRE(errno == EEXIST);
    }

    SocketAddress address_;
    ferry::Worker worker_{0};
};

ListenerConfig listener(const Inbound& inbound, const Outbound& outbound) {
    ListenerConfig c;
    c.inbound = &inbound;
    c.outbound = &outbound;
    c.header_timeout_ms = 1000;
    c.connect_timeout_ms = 1000;
    return c;
}

std::string addr(const Server& s) { return s.address.to_string(); }

// The relay is running between `client` and `upstream`; a round trip has gone through it (and was cleared).
struct Relayed {
    Peer client;
    Peer upstream;
};

Relayed establish(Proxy& proxy, Server& server) {
    Relayed r{proxy.connect(), {}};
    REQUIRE(proxy.run_until([&] { return proxy.events.has("established") || proxy.events.has("failed"); }));
    REQUIRE(proxy.events.has("established"));
    r.upstream = proxy.accept(server);
    r.client.send("ping");
    r.upstream.send("pong");
    REQUIRE(proxy.exchange(r.client, r.upstream, 4, 4));
    REQUIRE(r.upstream.in == "ping");
    REQUIRE(r.client.in == "pong");
    r.client.in.clear();
    r.upstream.in.clear();
    return r;
}

// The events of a connection to `s` that got as far as relaying.
std::vector<std::string> established_lines(const Server& s) {
    return {"accepted", "dialing", "attempt_started #0 " + addr(s),
            "established " + addr(s) + " (flow.target " + addr(s) + ")"};
}

// A listener whose handshake "learns" the destination 192.0.2.1:443 and that then sniffs for the destination's
// name, waiting up to `wait_ms` (ListenerConfig::sniff).
struct Sniffing {
    HelloInbound inbound;
    Server server;
    ScriptedOutbound outbound;
    std::unique_ptr<Proxy> proxy;
    explicit Sniffing(uint64_t wait_ms) {
        const uint8_t dst[4] = {192, 0, 2, 1};
        inbound.destination = SocketAddress::from_v4(dst, 443);
        outbound.candidates = {{server.address}};
        ListenerConfig config = listener(inbound, outbound);
        config.sniff = ferry::SniffConfig{wait_ms};
        proxy = std::make_unique<Proxy>(config);
    }
};

}  // namespace

// ----------------------------------------------------------------------------------------------- handshake

TEST_CASE("connection: the handshake completes after some bytes and the payload behind it is relayed intact",
          "[connection]") {
    const RelayMode mode = GENERATE(RelayMode::Splice, RelayMode::Copy, RelayMode::Adaptive);
    HelloInbound inbound;
    Server server;
    ScriptedOutbound outbound;
    outbound.candidates = {{server.address}};
    ListenerConfig config = listener(inbound, outbound);
    config.relay_mode = mode;
    Proxy proxy(config);

    Peer client = proxy.connect();
    client.send("HEL");
    REQUIRE(proxy.run_until([&] { return proxy.events.has("accepted") && inbound.reads > 0; }));
    proxy.run_for(20);
    // A partial header: the inbound has seen it, nothing is dialled yet.
    CHECK(proxy.events.lines == std::vector<std::string>{"accepted"});
    CHECK(proxy.events.handshake_done == std::vector<bool>{false});

    // The rest of the line and, in the same segment, the first of the payload.
    const std::string up = random_bytes(300 * 1024, 1);
    const std::string down = random_bytes(200 * 1024 + 7, 2);
    client.send("LO\n" + up.substr(0, 1000));
    client.out += up.substr(1000);
    REQUIRE(proxy.run_until([&] { return proxy.events.has("established"); }));
    Peer upstream = proxy.accept(server);
    upstream.out += down;
    REQUIRE(proxy.exchange(client, upstream, up.size(), down.size()));
    CHECK(upstream.in.size() == up.size());
    CHECK(upstream.in == up);  // the header is gone, the payload is whole and in order
    CHECK(client.in.size() == down.size());
    CHECK(client.in == down);
    CHECK(proxy.events.lines == established_lines(server));
    CHECK(proxy.events.handshake_done == std::vector<bool>{false, true, true, true});

    // Both close: a clean end that counts the payload only.
    client.shut_write();
    upstream.shut_write();
    REQUIRE(proxy.run_until([&] { return proxy.events.has("closed"); }));
    REQUIRE(proxy.events.close_info);
    CHECK(proxy.events.close_info->clean);
    CHECK(proxy.events.close_info->bytes_up == up.size());
    CHECK(proxy.events.close_info->bytes_down == down.size());
    CHECK(outbound.calls == std::vector<std::string>{"relay_started " + addr(server),
                                                     "relay_closed " + addr(server) + " up " + std::to_string(up.size()) +
                                                         " down " + std::to_string(down.size())});
}

TEST_CASE("connection: a handshake that never completes hits the header deadline", "[connection]") {
    HelloInbound inbound;
    Server server;
    ScriptedOutbound outbound;
    outbound.candidates = {{server.address}};
    ListenerConfig config = listener(inbound, outbound);
    config.header_timeout_ms = 30;
    Proxy proxy(config);

    Peer client = proxy.connect();
    client.send("HELL");
    REQUIRE(proxy.run_until([&] { return proxy.events.has("failed"); }));
    CHECK(proxy.events.lines ==
          std::vector<std::string>{"accepted",
                                   "failed handshake: failed to read test header: no complete test header within 30 ms"});
    CHECK(proxy.events.when("failed") - proxy.events.when("accepted") >= 30);
    // Dropped with an RST (the unread partial header alone would make close() send one); no connection was
    // made upstream; no "closed" without a relay.
    REQUIRE(proxy.until_ended(client));
    CHECK(client.read_error == ECONNRESET);
    proxy.run_for(10);
    CHECK(proxy.events.lines.size() == 2);
    const int upstream_fd = ::accept4(server.fd.get(), nullptr, nullptr, SOCK_NONBLOCK);
    const int accept_error = errno;
    CHECK(upstream_fd == -1);
    CHECK(accept_error == EAGAIN);
}

TEST_CASE("connection: a sniffing listener waits for a split ClientHello, names the flow, relays every byte",
          "[connection][sniff]") {
    Sniffing sniffing(1000);
    HelloInbound& inbound = sniffing.inbound;
    Server& server = sniffing.server;
    Proxy& proxy = *sniffing.proxy;

    const auto hello_bytes = ferry_test::hello_with(ferry_test::sni_extension("Split.Example"));
    const std::string hello(reinterpret_cast<const char*>(hello_bytes.data()), hello_bytes.size());
    Peer client = proxy.connect();
    client.send("HELLO\n" + hello.substr(0, 20));
    REQUIRE(proxy.run_until([&] { return inbound.reads > 0; }));
    proxy.run_for(30);
    CHECK(proxy.events.lines == std::vector<std::string>{"accepted"});  // half a hello: still waiting

    const std::string payload = random_bytes(100 * 1024, 3);
    client.send(hello.substr(20) + payload);
    REQUIRE(proxy.run_until([&] { return proxy.events.has("established"); }));
    CHECK(proxy.events.lines == std::vector<std::string>{"accepted", "named split.example", "dialing",
                                                         "attempt_started #0 " + addr(server),
                                                         "established " + addr(server) + " (flow.target " +
                                                             addr(server) + ")"});
    CHECK(proxy.events.when("named") - proxy.events.when("accepted") < 1000);
    Peer upstream = proxy.accept(server);
    REQUIRE(proxy.exchange(client, upstream, hello.size() + payload.size(), 0));
    CHECK(upstream.in == hello + payload);  // peeked, never consumed: every byte goes on
}

TEST_CASE("connection: a sniffing listener gives a silent client its wait, then dials without a name",
          "[connection][sniff]") {
    Sniffing sniffing(40);
    HelloInbound& inbound = sniffing.inbound;
    Server& server = sniffing.server;
    Proxy& proxy = *sniffing.proxy;

    Peer client = proxy.connect();
    client.send("HELLO\n");
    REQUIRE(proxy.run_until([&] { return proxy.events.has("established"); }));
    CHECK(proxy.events.lines[1] == "named nothing: no bytes from the client in time");
    CHECK(proxy.events.when("dialing") - proxy.events.when("accepted") >= 40);
    Peer upstream = proxy.accept(server);
    client.send("late bytes");
    upstream.send("reply");
    REQUIRE(proxy.exchange(client, upstream, 10, 5));
    CHECK(upstream.in == "late bytes");

    // Not on a port where the client speaks first, nothing is waited for.
    inbound.destination.set_port(22);
    Peer ssh = proxy.connect();
    ssh.send("HELLO\n");
    REQUIRE(proxy.run_until([&] { return proxy.events.count("dialing") == 2; }));
    const auto named = std::find_if(proxy.events.lines.rbegin(), proxy.events.lines.rend(),
                                    [](const std::string& l) { return l.starts_with("named"); });
    REQUIRE(named != proxy.events.lines.rend());
    CHECK(*named == "named nothing: not a port where the client speaks first");

    // No destination learned (nothing to name): no sniffing at all.
    inbound.destination = SocketAddress{};
    Peer plain = proxy.connect();
    plain.send("HELLO\n");
    REQUIRE(proxy.run_until([&] { return proxy.events.count("dialing") == 3; }));
    CHECK(proxy.events.count("named") == 2);
}

TEST_CASE("connection: the client's EOF in the middle of the handshake fails it at once", "[connection]") {
    HelloInbound inbound;
    Server server;
    ScriptedOutbound outbound;
    outbound.candidates = {{server.address}};
    ListenerConfig config = listener(inbound, outbound);
    config.header_timeout_ms = 5000;
    Proxy proxy(config);

    Peer client = proxy.connect();
    client.send("HEL");
    client.shut_write();
    REQUIRE(proxy.run_until([&] { return proxy.events.has("failed"); }));
    CHECK(proxy.events.lines ==
          std::vector<std::string>{"accepted", "failed handshake: failed to read test header: EOF before a complete test header"});
    CHECK(proxy.events.when("failed") - proxy.events.when("accepted") < 1000);
    REQUIRE(proxy.until_ended(client));
    CHECK(client.read_error == ECONNRESET);
}

// ------------------------------------------------------------------------------------------------- dialing

TEST_CASE("connection: a refused candidate is reported and the next one carries the connection", "[connection]") {
    PlainInbound inbound;
    Server closed(false);
    Server live;
    ScriptedOutbound outbound;
    outbound.candidates = {{closed.address}, {live.address}};
    Proxy proxy(listener(inbound, outbound));

    Relayed r = establish(proxy, live);
    CHECK(proxy.events.lines ==
          std::vector<std::string>{
              "accepted", "dialing", "attempt_started #0 " + addr(closed),
              "attempt_failed " + addr(closed) + " upstream: dial tcp " + addr(closed) + ": connect: connection refused",
              "attempt_started #1 " + addr(live), "established " + addr(live) + " (flow.target " + addr(live) + ")"});
    CHECK(outbound.calls ==
          std::vector<std::string>{"attempt_failed " + addr(closed) + " upstream", "relay_started " + addr(live)});

    // The second attempt's socket is the relay's.
    const std::string up = random_bytes(70000, 3), down = random_bytes(90000, 4);
    r.client.out += up;
    r.upstream.out += down;
    REQUIRE(proxy.exchange(r.client, r.upstream, up.size(), down.size()));
    CHECK(r.upstream.in == up);
    CHECK(r.client.in == down);
}

TEST_CASE("connection: a candidate that connects but never answers times out, the next one is tried",
          "[connection]") {
    PlainInbound inbound;
    Server mute;
    Server live;
    ScriptedOutbound outbound;
    outbound.candidates = {{mute.address, "HI", 30}, {live.address, "HI"}};
    Proxy proxy(listener(inbound, outbound));

    Peer client = proxy.connect();
    Peer silent = proxy.accept(mute);
    Peer answering = proxy.accept(live);
    answering.send("HI");
    REQUIRE(proxy.run_until([&] { return proxy.events.has("established"); }));
    CHECK(proxy.events.lines ==
          std::vector<std::string>{"accepted", "dialing", "attempt_started #0 " + addr(mute),
                                   "attempt_failed " + addr(mute) + " upstream: dial tcp " + addr(mute) +
                                       ": no reply within 30 ms (connect + handshake)",
                                   "attempt_started #1 " + addr(live),
                                   "established " + addr(live) + " (flow.target " + addr(live) + ")"});
    CHECK(proxy.events.when("attempt_failed") - proxy.events.when("attempt_started #0") >= 30);
    // The abandoned attempt was closed with an RST.
    REQUIRE(proxy.until_ended(silent));
    CHECK(silent.read_error == ECONNRESET);
    client.send("after");
    REQUIRE(proxy.exchange(client, answering, 5, 0));
    CHECK(answering.in == "after");
}

TEST_CASE("connection: when every candidate fails, the connection fails while dialing", "[connection]") {
    PlainInbound inbound;
    Server closed(false);
    ScriptedOutbound outbound;
    outbound.candidates = {{closed.address}};
    Proxy proxy(listener(inbound, outbound));

    Peer client = proxy.connect();
    REQUIRE(proxy.run_until([&] { return proxy.events.has("failed"); }));
    const std::string refused = "dial tcp " + addr(closed) + ": connect: connection refused";
    CHECK(proxy.events.lines ==
          std::vector<std::string>{"accepted", "dialing", "attempt_started #0 " + addr(closed),
                                   "attempt_failed " + addr(closed) + " upstream: " + refused,
                                   // open() asked again: nothing left (no socket)
                                   "attempt_started #1 (nothing opened)",
                                   "failed dialing: failed to establish upstream connection: " + refused});
    REQUIRE(proxy.until_ended(client));
    CHECK(client.read_error == ECONNRESET);
}

TEST_CASE("connection: the client resetting while the upstream dials cancels the attempt", "[connection]") {
    // The reason names the client's connection ("local->peer") whether or not the observer asked for
    // flow.local.
    const bool observer_wants_local = GENERATE(true, false);
    PlainInbound inbound;
    Server mute;
    ScriptedOutbound outbound;
    outbound.candidates = {{mute.address, "HI"}};
    Proxy proxy(listener(inbound, outbound));
    proxy.events.wants_local = observer_wants_local;

    Peer client = proxy.connect();
    Peer server_side = proxy.accept(mute);
    REQUIRE(proxy.run_until([&] { return proxy.events.has("attempt_started"); }));
    const SocketAddress client_address = ferry::local_address(client.fd.get());
    const SocketAddress proxy_address = ferry::peer_address(client.fd.get());
    client.reset();
    REQUIRE(proxy.run_until([&] { return proxy.events.has("failed dialing"); }));
    // The attempt ends before the connection reports its failure: `failed` is the connection's last word.
    CHECK(proxy.events.lines ==
          std::vector<std::string>{"accepted", "dialing", "attempt_started #0 " + addr(mute),
                                   "attempt_failed " + addr(mute) + " cancelled: connection closed while dialing",
                                   "failed dialing: connection broken: read tcp " + proxy_address.to_string() + "->" +
                                       client_address.to_string() + ": connection reset by peer"});
    REQUIRE(proxy.until_ended(server_side));
    CHECK(server_side.read_error == ECONNRESET);
    CHECK(outbound.calls == std::vector<std::string>{"attempt_failed " + addr(mute) + " cancelled"});
}

// ------------------------------------------------------------------------------------------------- racing

TEST_CASE("connection: racing attempts, the first to finish its handshake wins and the loser is reset",
          "[connection]") {
    const size_t winner_index = GENERATE(0, 1);
    PlainInbound inbound;
    Server a, b;
    ScriptedOutbound outbound;
    outbound.candidates = {{a.address, "A!"}, {b.address, "B!"}};
    outbound.racing = 2;
    Proxy proxy(listener(inbound, outbound));

    Peer client = proxy.connect();
    Peer at_a = proxy.accept(a);
    Peer at_b = proxy.accept(b);
    REQUIRE(proxy.run_until([&] { return proxy.events.count("attempt_started") == 2; }));
    proxy.run_for(10);
    CHECK_FALSE(proxy.events.has("established"));  // both connected, neither answered

    Server& win = winner_index == 0 ? a : b;
    Server& lose = winner_index == 0 ? b : a;
    Peer& winner = winner_index == 0 ? at_a : at_b;
    Peer& loser = winner_index == 0 ? at_b : at_a;
    winner.send(winner_index == 0 ? "A!" : "B!");
    REQUIRE(proxy.run_until([&] { return proxy.events.has("established"); }));
    CHECK(proxy.events.lines ==
          std::vector<std::string>{"accepted", "dialing", "attempt_started #0 " + addr(a),
                                   "attempt_started #1 " + addr(b),
                                   "attempt_failed " + addr(lose) + " cancelled: another attempt won the race",
                                   "established " + addr(win) + " (flow.target " + addr(win) + ")"});
    CHECK(outbound.calls ==
          std::vector<std::string>{"attempt_failed " + addr(lose) + " cancelled", "relay_started " + addr(win)});
    // The loser's socket was closed with an RST; its late answer goes nowhere.
    REQUIRE(proxy.until_ended(loser));
    CHECK(loser.read_error == ECONNRESET);

    // The winner carries the stream both ways, and nothing reaches the loser.
    const std::string up = random_bytes(50000, 5), down = random_bytes(60000, 6);
    client.out += up;
    winner.out += down;
    REQUIRE(proxy.exchange(client, winner, up.size(), down.size()));
    CHECK(winner.in == up);
    CHECK(client.in == down);
    CHECK(loser.in.empty());

    client.shut_write();
    winner.shut_write();
    REQUIRE(proxy.run_until([&] { return proxy.events.has("closed"); }));
    CHECK(proxy.events.close_info->clean);
    CHECK(proxy.events.close_info->bytes_up == up.size());
}

TEST_CASE("connection: a racer that is refused leaves the race to the other one", "[connection]") {
    PlainInbound inbound;
    Server closed(false);
    Server live;
    ScriptedOutbound outbound;
    outbound.candidates = {{closed.address, "A!"}, {live.address, "B!"}};
    outbound.racing = 2;
    Proxy proxy(listener(inbound, outbound));

    Peer client = proxy.connect();
    Peer upstream = proxy.accept(live);
    // Both connects are in progress when open() returns (a non-blocking connect on loopback answers
    // EINPROGRESS even when it is refused): the refusal comes as an event while the other slot waits.
    REQUIRE(proxy.run_until([&] { return proxy.events.has("attempt_failed"); }));
    proxy.run_for(10);
    CHECK_FALSE(proxy.events.has("failed"));
    upstream.send("B!");
    REQUIRE(proxy.run_until([&] { return proxy.events.has("established"); }));
    CHECK(proxy.events.lines ==
          std::vector<std::string>{"accepted", "dialing", "attempt_started #0 " + addr(closed),
                                   "attempt_started #1 " + addr(live),
                                   "attempt_failed " + addr(closed) + " upstream: dial tcp " + addr(closed) +
                                       ": connect: connection refused",
                                   "attempt_started #2 (nothing opened)",
                                   "established " + addr(live) + " (flow.target " + addr(live) + ")"});
    client.send("hello");
    REQUIRE(proxy.exchange(client, upstream, 5, 0));
    CHECK(upstream.in == "hello");
}

// ---------------------------------------------------------------------------------------------- half-close

TEST_CASE("connection: half-close is forwarded, the other direction goes on, then both close cleanly",
          "[connection]") {
    const bool client_first = GENERATE(true, false);
    PlainInbound inbound;
    Server server;
    ScriptedOutbound outbound;
    outbound.candidates = {{server.address}};
    ListenerConfig config = listener(inbound, outbound);
    config.halfclose_timeout_ms = 1000;
    config.idle_timeout_ms = 1000;
    Proxy proxy(config);
    Relayed r = establish(proxy, server);
    Peer& first = client_first ? r.client : r.upstream;
    Peer& second = client_first ? r.upstream : r.client;

    // The first side says its last words and shuts down its write side.
    first.send("request");
    first.shut_write();
    REQUIRE(proxy.run_until([&] {
        second.pump();
        return second.ended();
    }));
    CHECK(second.in == "request");
    CHECK(second.eof);  // a FIN, not a reset
    CHECK(second.read_error == 0);

    // The other direction still works, more than once.
    for (int round = 0; round < 3; ++round) {
        const std::string reply = "reply " + std::to_string(round);
        second.send(reply);
        REQUIRE(proxy.run_until([&] {
            first.pump();
            return first.in.size() >= reply.size() || first.ended();
        }));
        CHECK(first.in == reply);
        first.in.clear();
        proxy.run_for(5);
    }
    CHECK_FALSE(proxy.events.has("closed"));
    CHECK_FALSE(proxy.events.has("failed"));

    second.shut_write();
    REQUIRE(proxy.run_until([&] { return proxy.events.has("closed"); }));
    REQUIRE(proxy.until_ended(first));
    CHECK(first.eof);
    CHECK(first.read_error == 0);
    CHECK(first.in.empty());
    const std::string at_upstream = "ping" + std::string(client_first ? "request" : "reply 0reply 1reply 2");
    const std::string at_client = "pong" + std::string(client_first ? "reply 0reply 1reply 2" : "request");
    std::vector<std::string> expected = established_lines(server);
    expected.push_back("closed");
    CHECK(proxy.events.lines == expected);
    REQUIRE(proxy.events.close_info);
    CHECK(proxy.events.close_info->clean);
    CHECK(proxy.events.close_info->client_first == client_first);
    CHECK_FALSE(proxy.events.close_info->upstream_error);
    CHECK(proxy.events.close_info->bytes_up == at_upstream.size());
    CHECK(proxy.events.close_info->bytes_down == at_client.size());
}

TEST_CASE("connection: the half-close deadline closes a connection whose open direction stays silent",
          "[connection]") {
    PlainInbound inbound;
    Server server;
    ScriptedOutbound outbound;
    outbound.candidates = {{server.address}};
    ListenerConfig config = listener(inbound, outbound);
    config.halfclose_timeout_ms = 80;
    config.idle_timeout_ms = 5000;
    Proxy proxy(config);
    Relayed r = establish(proxy, server);

    r.client.shut_write();
    REQUIRE(proxy.run_until([&] {
        r.upstream.pump();
        return r.upstream.ended();
    }));
    REQUIRE(r.upstream.eof);
    // Traffic in the direction still open keeps the connection: it is half-closed, not idle.
    uint64_t last_traffic = 0;
    for (int tick = 0; tick < 6; ++tick) {
        r.upstream.send("t");
        last_traffic = ferry::monotonic_ms();
        proxy.run_for(25);
    }
    REQUIRE(proxy.run_until([&] {
        r.client.pump();
        return r.client.in.size() == 6;
    }));
    CHECK_FALSE(proxy.events.has("failed"));

    // Then silence.
    REQUIRE(proxy.run_until([&] { return proxy.events.has("closed"); }));
    std::vector<std::string> expected = established_lines(server);
    expected.push_back("failed relaying: connection broken: half-closed and idle for 80 ms");
    expected.push_back("closed");
    CHECK(proxy.events.lines == expected);
    CHECK(proxy.events.when("failed") - last_traffic >= 80);
    CHECK_FALSE(proxy.events.close_info->clean);
    CHECK(proxy.events.close_info->client_first);
    // Both sides are reset.
    REQUIRE(proxy.until_ended(r.client));
    CHECK(r.client.in == "tttttt");
    CHECK(r.client.read_error == ECONNRESET);
    r.upstream.send("late");
    CHECK(r.upstream.write_error == EPIPE);
}

// ------------------------------------------------------------------------------------------------- resets

TEST_CASE("connection: the upstream resetting mid-stream resets the client", "[connection]") {
    PlainInbound inbound;
    Server server;
    ScriptedOutbound outbound;
    outbound.candidates = {{server.address}};
    Proxy proxy(listener(inbound, outbound));
    Relayed r = establish(proxy, server);

    // Mid-stream: bytes delivered both ways, then the upstream resets.
    r.client.send("abc");
    r.upstream.send("xyz");
    REQUIRE(proxy.exchange(r.client, r.upstream, 3, 3));
    r.upstream.reset();
    REQUIRE(proxy.until_ended(r.client));
    CHECK(r.client.in == "xyz");
    CHECK_FALSE(r.client.eof);
    CHECK(r.client.read_error == ECONNRESET);

    REQUIRE(proxy.events.has("closed"));
    std::vector<std::string> expected = established_lines(server);
    expected.push_back("failed relaying: connection broken: read tcp " + addr(server) + ": connection reset by peer");
    expected.push_back("closed");
    CHECK(proxy.events.lines == expected);
    CHECK_FALSE(proxy.events.close_info->clean);
    CHECK(proxy.events.close_info->upstream_error);
    CHECK(proxy.events.close_info->bytes_up == 7);
    CHECK(proxy.events.close_info->bytes_down == 7);
    CHECK(outbound.calls.back() == "relay_closed " + addr(server) + " up 7 down 7 upstream error");
}

TEST_CASE("connection: the client resetting mid-stream resets the upstream", "[connection]") {
    const bool observer_wants_local = GENERATE(true, false);
    PlainInbound inbound;
    Server server;
    ScriptedOutbound outbound;
    outbound.candidates = {{server.address}};
    Proxy proxy(listener(inbound, outbound));
    proxy.events.wants_local = observer_wants_local;
    Relayed r = establish(proxy, server);
    const SocketAddress client_address = ferry::local_address(r.client.fd.get());
    const SocketAddress proxy_address = ferry::peer_address(r.client.fd.get());

    r.client.send("abc");
    REQUIRE(proxy.exchange(r.client, r.upstream, 3, 0));
    r.client.reset();
    REQUIRE(proxy.until_ended(r.upstream));
    CHECK(r.upstream.in == "abc");
    CHECK_FALSE(r.upstream.eof);
    CHECK(r.upstream.read_error == ECONNRESET);

    REQUIRE(proxy.events.has("closed"));
    std::vector<std::string> expected = established_lines(server);
    expected.push_back("failed relaying: connection broken: read tcp " + proxy_address.to_string() + "->" +
                       client_address.to_string() + ": connection reset by peer");
    expected.push_back("closed");
    CHECK(proxy.events.lines == expected);
    CHECK_FALSE(proxy.events.close_info->clean);
    CHECK_FALSE(proxy.events.close_info->upstream_error);
    CHECK(outbound.calls.back() == "relay_closed " + addr(server) + " up 7 down 4");
}

// ---------------------------------------------------------------------------------------------------- idle

TEST_CASE("connection: the idle deadline, re-armed by traffic either way, closes a silent connection",
          "[connection]") {
    PlainInbound inbound;
    Server server;
    ScriptedOutbound outbound;
    outbound.candidates = {{server.address}};
    ListenerConfig config = listener(inbound, outbound);
    config.idle_timeout_ms = 80;
    Proxy proxy(config);
    Relayed r = establish(proxy, server);

    uint64_t last_traffic = 0;
    for (int tick = 0; tick < 6; ++tick) {
        Peer& from = tick % 2 ? r.upstream : r.client;
        from.send("t");
        last_traffic = ferry::monotonic_ms();
        proxy.run_for(25);
    }
    CHECK_FALSE(proxy.events.has("failed"));
    REQUIRE(proxy.run_until([&] { return proxy.events.has("closed"); }));
    std::vector<std::string> expected = established_lines(server);
    expected.push_back("failed relaying: connection broken: idle for 80 ms");
    expected.push_back("closed");
    CHECK(proxy.events.lines == expected);
    CHECK(proxy.events.when("failed") - last_traffic >= 80);
    CHECK_FALSE(proxy.events.close_info->clean);
    CHECK(proxy.events.close_info->bytes_up == 4 + 3);
    CHECK(proxy.events.close_info->bytes_down == 4 + 3);
    // Both sides are reset, after what was relayed.
    REQUIRE(proxy.until_ended(r.client));
    REQUIRE(proxy.until_ended(r.upstream));
    CHECK(r.client.in == "ttt");
    CHECK(r.upstream.in == "ttt");
    CHECK(r.client.read_error == ECONNRESET);
    CHECK(r.upstream.read_error == ECONNRESET);
}

// ---------------------------------------------------------------------------------------------- overload

namespace {

// The engine logs its overload lines (limit reached, refusals) at warn: kept out of the test output.
struct QuietWarnings {
    QuietWarnings() { ferry::log::set_min_level(ferry::log::Level::Error); }
    ~QuietWarnings() { ferry::log::set_min_level(ferry::log::Level::Info); }
};

// A listener of HelloInbound connections to `server` (as many candidates as asked, for as many connections)
// whose worker counts them in `admission`, made with `limits`. The admission is made before the proxy: its
// worker releases into it at the end.
struct Overloaded {
    Overloaded(const ferry::OverloadConfig& limits, size_t connections, uint64_t header_timeout_ms = 5000)
        : admission(limits, 1024), proxy(config(header_timeout_ms)) {
        outbound.candidates.assign(connections, Candidate{server.address});
        proxy.set_admission(&admission);
    }
    ListenerConfig config(uint64_t header_timeout_ms) {
        ListenerConfig c = listener(inbound, outbound);
        c.header_timeout_ms = header_timeout_ms;
        return c;
    }

    QuietWarnings quiet;
    HelloInbound inbound;
    Server server;
    ScriptedOutbound outbound;
    ferry::Admission admission;
    Proxy proxy;
};

}  // namespace

TEST_CASE("overload: past the connection limit the oldest connection still in its handshake gives way",
          "[connection][overload]") {
    ferry::OverloadConfig oc;
    oc.max_connections = 2;
    Overloaded o(oc, 3);
    Proxy& proxy = o.proxy;
    ferry::Admission& admission = o.admission;

    // Two stalled handshakes fill the limit.
    Peer stalled1 = proxy.connect();
    stalled1.send("HEL");
    REQUIRE(proxy.run_until([&] { return proxy.events.count("accepted") == 1; }));
    Peer stalled2 = proxy.connect();
    REQUIRE(proxy.run_until([&] { return proxy.events.count("accepted") == 2; }));
    CHECK(admission.live() == 2);

    // A good client: the oldest stalled one is closed for it, the other stays, and the good one is relayed.
    Peer good = proxy.connect();
    good.send("HELLO\nping");
    REQUIRE(proxy.run_until([&] { return proxy.events.has("established"); }));
    REQUIRE(proxy.until_ended(stalled1));
    CHECK(stalled1.read_error == ECONNRESET);
    CHECK(proxy.events.has("failed handshake: failed to read test header: closed to make room: 3 connections, the "
                           "limit is 2, and this was the oldest still in its handshake ("));
    CHECK(admission.counters.evicted == 1);
    Peer upstream = proxy.accept(o.server);
    upstream.send("pong");
    REQUIRE(proxy.exchange(good, upstream, 4, 4));
    CHECK(upstream.in == "ping");
    CHECK(admission.live() == 2);  // stalled2 and good

    // Every connection past its handshake and at the limit: nothing to evict; the newcomer is still served
    // (the listener rests a moment), and the counts come back down as connections end.
    stalled2.send("HELLO\n");
    REQUIRE(proxy.run_until([&] { return proxy.events.count("established") == 2; }));
    Peer third = proxy.connect();
    third.send("HELLO\n");
    REQUIRE(proxy.run_until([&] { return proxy.events.count("established") == 3; }));
    CHECK(admission.counters.evicted == 1);
    CHECK(admission.counters.paused == 1);
    CHECK(admission.live() == 3);
    // A connection that ends gives its place back.
    ferry::set_reset_on_close(good.fd.get());
    good.fd.reset();
    REQUIRE(proxy.run_until([&] { return admission.live() == 2; }));
}

TEST_CASE("overload: per-source limits refuse at accept, and a handshake done frees its place",
          "[connection][overload]") {
    ferry::OverloadConfig oc;
    oc.max_handshakes_per_source = 1;
    oc.max_connections_per_source = 2;
    Overloaded o(oc, 2);
    Proxy& proxy = o.proxy;
    ferry::Admission& admission = o.admission;

    Peer a = proxy.connect();
    REQUIRE(proxy.run_until([&] { return proxy.events.count("accepted") == 1; }));
    Peer b = proxy.connect();  // a second handshake from 127.0.0.1: refused, never seen by the observer
    REQUIRE(proxy.until_ended(b));
    CHECK(b.read_error == ECONNRESET);
    CHECK(admission.counters.refused_handshakes == 1);
    CHECK(proxy.events.count("accepted") == 1);

    a.send("HELLO\n");  // a's handshake done: another may start its own
    REQUIRE(proxy.run_until([&] { return proxy.events.has("established"); }));
    Peer c = proxy.connect();
    c.send("HELLO\n");
    REQUIRE(proxy.run_until([&] { return proxy.events.count("established") == 2; }));
    Peer d = proxy.connect();  // a third connection of the source: refused
    REQUIRE(proxy.until_ended(d));
    CHECK(admission.counters.refused_connections == 1);
    CHECK(admission.live() == 2);
}

TEST_CASE("overload: under pressure a new connection gets the short handshake deadline", "[connection][overload]") {
    ferry::OverloadConfig oc;
    oc.max_connections = 4;
    oc.pressure_handshake_timeout_ms = 40;
    Overloaded o(oc, 1);
    Proxy& proxy = o.proxy;

    std::vector<Peer> held;
    for (int i = 0; i < 3; ++i) {  // 3 of 4: under pressure (75%) once the third is in
        held.push_back(proxy.connect());
        REQUIRE(proxy.run_until([&] { return proxy.events.count("accepted") == held.size(); }));
    }
    REQUIRE(proxy.run_until([&] { return proxy.events.has("failed"); }, 1000));
    CHECK(proxy.events.has("failed handshake: failed to read test header: no complete test header within 40 ms"));
    CHECK(proxy.events.count("failed") == 1);  // the first two came before the pressure: 5 s
}
