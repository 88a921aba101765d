#include "outbound/backend_outbound.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proto/http_connect.h"
#include "support/log.h"
#include "core/socket_util.h"
#include "proto/socks5.h"

#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif

namespace ferry::backends {
namespace {

// Client bytes sent along with a handshake at most: what fits a SYN on most paths is about 1400, the rest goes
// right after it. Bounded so the message stays small; the remainder is relayed as usual.
constexpr size_t kMaxPayload = 16384;

// Handshake phases. Send phases write a message (resuming at Attempt::sent after a short write), await phases
// peek the socket and parse.
enum Phase : uint8_t {
    kSocksSendGreeting = 0,
    kSocksAwaitMethod,
    kSocksSendAuth,
    kSocksAwaitAuth,
    kSocksSendRequest,
    kSocksAwaitReply,
    kSocksAwaitPipelined,  // method choice and CONNECT reply back to back (pipelined variant)
    kHttpSendRequest,
    kHttpAwaitResponse,
};

HandshakeStep incomplete() { return {}; }
HandshakeStep done() {
    HandshakeStep s;
    s.status = HandshakeStep::Status::Done;
    return s;
}
HandshakeStep failed(std::string error, int code, Fault fault = Fault::Upstream, bool final = false) {
    HandshakeStep s;
    s.status = HandshakeStep::Status::Failed;
    s.error = std::move(error);
    s.error_code = code;
    s.fault = fault;
    s.final = final;
    return s;
}

// A SOCKS5 failure reply: whose fault, and whether another proxy could do better. The proxy answered, so it
// works; "connection refused" is the destination's definite answer (every proxy would get it), the
// unreachable ones may depend on where the proxy is.
HandshakeStep socks_refusal(std::string error, uint8_t code, int err) {
    switch (code) {
        case socks5::kConnectionRefused: return failed(std::move(error), err, Fault::Destination, true);
        case socks5::kNetworkUnreachable:
        case socks5::kHostUnreachable:
        case socks5::kTtlExpired: return failed(std::move(error), err, Fault::Destination);
        default: return failed(std::move(error), err, Fault::Upstream);
    }
}

// The same for an HTTP CONNECT refusal: 502/503/504 say the proxy could not reach the destination.
HandshakeStep http_refusal(std::string error, int status, int err) {
    if (status == 502 || status == 503 || status == 504) return failed(std::move(error), err, Fault::Destination);
    return failed(std::move(error), err, Fault::Upstream);
}

std::string prefix(const ServerConfig& server) {
    return std::string(protocol_name(server.protocol)) + " proxy " + server.tag + " (" +
           server.address.to_string() + ")";
}

// errno equivalents of a SOCKS5 reply code, so a downstream SOCKS5 client gets the same code back.
int errno_for_socks_code(uint8_t code) {
    switch (code) {
        case socks5::kConnectionNotAllowed: return EACCES;
        case socks5::kNetworkUnreachable: return ENETUNREACH;
        case socks5::kHostUnreachable: return EHOSTUNREACH;
        case socks5::kConnectionRefused: return ECONNREFUSED;
        case socks5::kTtlExpired: return ETIMEDOUT;
        default: return EIO;
    }
}

int errno_for_http_status(int status) {
    switch (status) {
        case 403:
        case 407: return EACCES;
        case 504: return ETIMEDOUT;
        default: return EIO;
    }
}

enum class SendStatus { Done, Blocked, Error };

// Writes msg[sent..]. With a deferred TFO connect the first write sends the SYN; EINPROGRESS then means it
// went without data (no cookie yet) and the write is repeated once the connection is up.
SendStatus send_rest(SocketReadiness& io, std::span<const std::byte> msg, uint32_t& sent, int& err) {
    while (sent < msg.size()) {
        if (!io.writable) return SendStatus::Blocked;
        ssize_t n = ::send(io.fd, msg.data() + sent, msg.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<uint32_t>(n);
            continue;
        }
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && (errno == EAGAIN || errno == EINPROGRESS || errno == EALREADY)) {
            io.writable = false;
            return SendStatus::Blocked;
        }
        err = n == -1 ? errno : EPIPE;
        return SendStatus::Error;
    }
    return SendStatus::Done;
}

enum class PeekStatus { Data, Blocked, Eof, Error };

PeekStatus peek(SocketReadiness& io, std::span<std::byte> buf, size_t& got, int& err) {
    if (!io.readable) return PeekStatus::Blocked;
    for (;;) {
        ssize_t n = ::recv(io.fd, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) {
            got = static_cast<size_t>(n);
            return PeekStatus::Data;
        }
        if (n == 0) return PeekStatus::Eof;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            io.readable = false;
            return PeekStatus::Blocked;
        }
        err = errno;
        return PeekStatus::Error;
    }
}


// The client bytes to send along: on the first build of the message as many as are queued (up to kMaxPayload),
// on a rebuild after a short write exactly as many as the first time (they are still queued: nothing consumed
// them). Appends them to msg; false when the client socket failed.
bool append_payload(int client_fd, Attempt& a, std::span<std::byte> scratch, std::vector<std::byte>& msg) {
    if (client_fd < 0) return true;
    const bool first = a.sent == 0 && a.payload_len == 0;
    size_t want = first ? std::min(kMaxPayload, scratch.size()) : a.payload_len;
    if (want == 0) return true;
    ssize_t n;
    do {
        n = ::recv(client_fd, scratch.data(), want, MSG_PEEK | MSG_DONTWAIT);
    } while (n == -1 && errno == EINTR);
    if (n == -1 && errno == EAGAIN) n = 0;
    if (n < 0) return false;
    if (!first && static_cast<size_t>(n) < want) return false;
    if (first) a.payload_len = static_cast<uint32_t>(n);
    msg.insert(msg.end(), scratch.begin(), scratch.begin() + a.payload_len);
    return true;
}

socks5::Address socks_destination(const Flow& flow) {
    if (!flow.destination_host.empty()) return socks5::Address(flow.destination_host, flow.destination.port());
    return socks5::Address(flow.destination.unmapped());
}

std::string http_authority(const Flow& flow) {
    if (!flow.destination_host.empty()) return http_connect::authority(flow.destination_host, flow.destination.port());
    return http_connect::authority(flow.destination.unmapped());
}

// Peeks the reply at the socket's head into scratch and hands it to `parse`, which returns how many bytes
// to consume on Done. Incomplete replies wait for the next readable edge (new bytes always bring one).
// Once client bytes went out (payload_out), a proxy that breaks off may have forwarded them: no failover.
template <typename Parse>
HandshakeStep await_reply(const ServerConfig& server, const Attempt& a, SocketReadiness& io,
                          std::span<std::byte> scratch, size_t max_len, Parse&& parse, bool& complete) {
    complete = false;
    size_t got = 0;
    int err = 0;
    switch (peek(io, scratch.first(std::min(max_len, scratch.size())), got, err)) {
        case PeekStatus::Blocked: return incomplete();
        case PeekStatus::Eof:
            return failed(prefix(server) + " closed the connection during the handshake", ECONNRESET,
                          Fault::Upstream, a.payload_out);
        case PeekStatus::Error:
            return failed(prefix(server) + ": read: " + errno_text(err), err, Fault::Upstream,
                          a.payload_out && err != ECONNREFUSED);
        case PeekStatus::Data: break;
    }
    HandshakeStep step = parse(std::span<const std::byte>(scratch.data(), got));
    if (step.status == HandshakeStep::Status::Done) {
        complete = true;
        return step;
    }
    if (step.status == HandshakeStep::Status::Incomplete) io.readable = false;  // the rest comes as a new edge
    return step;
}

}  // namespace

BackendOutbound::BackendOutbound(Config config)
    : config_(config), direct_([&] {
          DirectOutbound::Config d;
          d.spoof_source = false;
          d.syn_retries = 0;
          d.keepalive_seconds = config.keepalive_seconds;
          return d;
      }()) {}

bool BackendOutbound::dial(const ServerConfig& server, Flow& flow, Attempt& a, OpenResult& r, bool tfo,
                           int keepalive_seconds) {
    flow.target = server.address;
    a.target = server.address;
    auto dial_error = [&](const std::string& what, int code) {
        r.error = "dial tcp " + server.address.to_string() + ": " + what;
        r.error_code = code;
        a.fd.reset();
        return false;
    };
    a.fd.reset(::socket(server.address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!a.fd) {
        r.exhausted = true;  // out of fds: our side, and the next server would fail the same way
        return dial_error("socket: " + errno_text(errno), errno);
    }
    const int fd = a.fd.get();
    set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    set_int_option(fd, SOL_SOCKET, SO_OOBINLINE, 1);  // urgent data stays in the stream, see SplicePump
    if (keepalive_seconds > 0) {
        set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
        set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, keepalive_seconds);
        set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, keepalive_seconds);
    }
    // TCP Fast Open: connect() returns at once and the first write sends SYN + data when the kernel has a
    // cookie for the server (net.ipv4.tcp_fastopen client bit, on by default); without one the kernel falls
    // back to a plain handshake by itself. Kernels without the option just connect normally.
    if (tfo) set_int_option(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1);
    if (::connect(fd, server.address.sa(), server.address.length) == 0) {
        a.connected = true;
        return true;
    }
    if (errno != EINPROGRESS) return dial_error("connect: " + errno_text(errno), errno);
    return true;
}

HandshakeStep BackendOutbound::proxy_handshake(const ServerConfig& server, Flow& flow, Attempt& a,
                                               SocketReadiness& io, int client_fd, std::span<std::byte> scratch) {
    static thread_local std::vector<std::byte> msg;
    const bool socks = server.protocol == Protocol::Socks5;
    const bool userpass = socks && !server.socks_username.empty();
    // The pipelined variant cannot negotiate authentication: with a username it is the RFC handshake.
    const bool pipelined = socks && server.socks_fake_handshaking && !userpass;
    if (!socks && a.phase < kHttpSendRequest) a.phase = kHttpSendRequest;

    for (;;) {
        msg.clear();
        bool complete = false;
        switch (a.phase) {
            case kSocksSendGreeting:
            case kSocksSendAuth:
            case kSocksSendRequest:
            case kHttpSendRequest: {
                if (a.phase == kSocksSendGreeting) {
                    socks5::encode_greeting(userpass, msg);
                    if (pipelined) {
                        if (!socks5::encode_connect(socks_destination(flow), msg))
                            return failed(prefix(server) + ": cannot encode destination " + flow.destination_text(),
                                          EINVAL);
                        if (!append_payload(client_fd, a, scratch, msg))
                            return failed("read from the client failed", ECONNRESET, Fault::Local);
                    }
                } else if (a.phase == kSocksSendAuth) {
                    if (!socks5::encode_userpass(server.socks_username, server.socks_password, msg))
                        return failed(prefix(server) + ": username or password longer than 255 bytes", EINVAL);
                } else if (a.phase == kSocksSendRequest) {
                    if (!socks5::encode_connect(socks_destination(flow), msg))
                        return failed(prefix(server) + ": cannot encode destination " + flow.destination_text(),
                                      EINVAL);
                } else {
                    const bool auth = !server.http_username.empty() || !server.http_password.empty();
                    if (!http_connect::encode_request(http_authority(flow), auth ? &server.http_username : nullptr,
                                                      auth ? &server.http_password : nullptr, msg))
                        return failed(prefix(server) + ": cannot encode destination " + flow.destination_text(),
                                      EINVAL);
                    if (server.http_allow_connect_payload && !append_payload(client_fd, a, scratch, msg))
                        return failed("read from the client failed", ECONNRESET, Fault::Local);
                }
                int err = 0;
                SendStatus sent = send_rest(io, msg, a.sent, err);
                // The client's bytes are the end of the message: out once the write got past the rest.
                if (a.payload_len > 0 && a.sent > msg.size() - a.payload_len) a.payload_out = true;
                switch (sent) {
                    case SendStatus::Blocked: return incomplete();
                    case SendStatus::Error:
                        return failed(prefix(server) + ": write: " + errno_text(err), err, Fault::Upstream,
                                      a.payload_out && err != ECONNREFUSED);
                    case SendStatus::Done: break;
                }
                a.sent = 0;
                if (a.phase == kSocksSendGreeting) a.phase = pipelined ? kSocksAwaitPipelined : kSocksAwaitMethod;
                else a.phase = static_cast<uint8_t>(a.phase + 1);
                break;
            }
            case kSocksAwaitMethod: {
                uint8_t method = 0;
                HandshakeStep step = await_reply(server, a, io, scratch, 2, [&](std::span<const std::byte> d) {
                    auto m = socks5::parse_method_reply(d);
                    if (m.status == socks5::Status::Incomplete) return incomplete();
                    if (m.status == socks5::Status::Invalid) return failed(prefix(server) + ": " + m.error, EPROTO);
                    method = m.method;
                    return done();
                }, complete);
                if (!complete) return step;
                if (!io::discard_exactly(io.fd, 2, scratch)) return failed(prefix(server) + ": read failed", EIO);
                if (method == socks5::kMethodNoAuth) {
                    a.phase = kSocksSendRequest;
                } else if (method == socks5::kMethodUserPass && userpass) {
                    a.phase = kSocksSendAuth;
                } else {
                    return failed(prefix(server) + ": chose authentication method " + std::to_string(method) +
                                      ", which was not offered",
                                  EPROTO);
                }
                break;
            }
            case kSocksAwaitAuth: {
                HandshakeStep step = await_reply(server, a, io, scratch, 2, [&](std::span<const std::byte> d) {
                    auto r = socks5::parse_auth_reply(d);
                    if (r.status == socks5::Status::Incomplete) return incomplete();
                    if (r.status == socks5::Status::Invalid) return failed(prefix(server) + ": " + r.error, EACCES);
                    return done();
                }, complete);
                if (!complete) return step;
                if (!io::discard_exactly(io.fd, 2, scratch)) return failed(prefix(server) + ": read failed", EIO);
                a.phase = kSocksSendRequest;
                break;
            }
            case kSocksAwaitReply:
            case kSocksAwaitPipelined: {
                const bool both = a.phase == kSocksAwaitPipelined;
                size_t length = 0;
                HandshakeStep step = await_reply(
                    server, a, io, scratch, socks5::kMaxReplyLength + (both ? 2 : 0), [&](std::span<const std::byte> d) {
                        size_t off = 0;
                        if (both) {
                            auto m = socks5::parse_method_reply(d);
                            if (m.status == socks5::Status::Incomplete) return incomplete();
                            if (m.status == socks5::Status::Invalid)
                                return failed(prefix(server) + ": " + m.error, EPROTO);
                            if (m.method != socks5::kMethodNoAuth)
                                return failed(prefix(server) + ": chose authentication method " +
                                                  std::to_string(m.method) + ", which was not offered",
                                              EPROTO);
                            off = m.consumed;
                        }
                        auto r = socks5::parse_reply(d.subspan(off));
                        if (r.status == socks5::Status::Incomplete) return incomplete();
                        if (r.status == socks5::Status::Invalid) {
                            if (r.code) return socks_refusal(prefix(server) + ": " + r.error, r.code,
                                                             errno_for_socks_code(r.code));
                            return failed(prefix(server) + ": " + r.error, EPROTO);
                        }
                        length = off + r.consumed;
                        return done();
                    },
                    complete);
                if (!complete) return step;
                if (!io::discard_exactly(io.fd, length, scratch)) return failed(prefix(server) + ": read failed", EIO);
                return done();
            }
            case kHttpAwaitResponse: {
                size_t length = 0;
                HandshakeStep step = await_reply(
                    server, a, io, scratch, http_connect::kMaxResponseHeaderLength + 1, [&](std::span<const std::byte> d) {
                        auto r = http_connect::parse_response(d);
                        if (r.status == http_connect::Status::Incomplete) return incomplete();
                        if (r.status == http_connect::Status::Invalid)
                            return failed(prefix(server) + ": " + r.error, EPROTO);
                        if (!r.is_success())
                            return http_refusal(prefix(server) + " replied " + std::to_string(r.status_code) +
                                                    (r.reason.empty() ? "" : " " + r.reason),
                                                r.status_code, errno_for_http_status(r.status_code));
                        length = r.consumed;
                        return done();
                    },
                    complete);
                if (!complete) return step;
                if (!io::discard_exactly(io.fd, length, scratch)) return failed(prefix(server) + ": read failed", EIO);
                return done();
            }
            default:
                return failed("bad handshake phase", EINVAL);
        }
    }
}

bool BackendOutbound::open(Flow& flow, Attempt& a, DialState& state, OpenResult& r, uint64_t) const {
    if (!state.candidates) {
        const PublishedTable* current = config_.table ? config_.table->read() : nullptr;
        if (current && current->table) state.candidates = current->table;
        else state.candidates = std::make_shared<BackendTable>();
    }
    const auto& table = *static_cast<const BackendTable*>(state.candidates.get());
    const size_t index = state.next++;
    if (index < table.ranked.size()) {
        const auto& backend = table.ranked[index].backend;
        const ServerConfig& server = backend->config();
        a.via = backend;
        a.timeout_ms = server.max_wait_ms ? *server.max_wait_ms : config_.max_wait_ms;
        if (dial(server, flow, a, r, config_.tfo, config_.keepalive_seconds)) return true;
        if (r.exhausted) return false;  // our own shortage, not the server's fault
        backend->record_failure();
        return false;  // not exhausted: the next candidate (the engine reports the failure)
    }
    if (index == table.ranked.size() && config_.allow_direct) {
        a.timeout_ms = config_.max_wait_ms;
        if (!flow.destination_host.empty()) {
            r.error = "direct connection to " + flow.destination_text() + ": host names are only resolved by proxies";
            r.error_code = EHOSTUNREACH;
            r.exhausted = true;
            return false;
        }
        if (direct_.dial(flow, a, r)) return true;
        r.exhausted = true;
        return false;
    }
    r.exhausted = true;
    if (r.error.empty()) {
        // Keep the last attempt's reason (the engine has it); say why only when nothing was tried at all.
        if (table.ranked.empty() && !config_.allow_direct) {
            r.error = "no upstream proxy configured";
            r.error_code = ENETUNREACH;
        }
    }
    return false;
}

HandshakeStep BackendOutbound::handshake(Flow& flow, Attempt& a, SocketReadiness& io, int client_fd,
                                         std::span<std::byte> scratch) const {
    if (!a.via) return done();  // direct
    // Racing attempts never carry client bytes: only the winner's socket relays them.
    return proxy_handshake(a.via->config(), flow, a, io, parallel() > 1 ? -1 : client_fd, scratch);
}

void BackendOutbound::attempt_failed(const Flow&, const Attempt& a, std::string_view, std::optional<Fault> fault) const {
    if (a.via && fault == Fault::Upstream) a.via->record_failure();
}

void BackendOutbound::relay_started(const Flow&, const Attempt& a) const {
    if (a.via) {
        a.via->record_relay_start();
    } else {
        direct_alive_.fetch_add(1, std::memory_order_relaxed);
        direct_total_.fetch_add(1, std::memory_order_relaxed);
    }
}

void BackendOutbound::relay_bytes(const Attempt& a, uint64_t up, uint64_t down) const {
    if (a.via) a.via->record_bytes(up, down);
}

void BackendOutbound::relay_closed(const Flow&, const Attempt& a, uint64_t, uint64_t, bool error) const {
    if (a.via)
        a.via->record_close(error);
    else
        direct_alive_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace ferry::backends
