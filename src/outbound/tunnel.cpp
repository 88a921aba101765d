#include "outbound/tunnel.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "core/socket_util.h"
#include "proto/http_connect.h"
#include "proto/proxy_protocol.h"
#include "proto/socks5.h"
#include "proto/srcproxy_header.h"

namespace ferry::tunnel {
namespace {

using backends::Protocol;
using backends::ServerConfig;
using backends::protocol_name;

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
HandshakeStep done() { return HandshakeStep::done(); }
HandshakeStep failed(std::string error, int code, Fault fault = Fault::Upstream, bool final = false) {
    return HandshakeStep::failed(std::move(error), code, fault, final);
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

// The client bytes to send along: on the first build of the message as many as are queued (up to kMaxPayload),
// on a rebuild after a short write exactly as many as the first time (they are still queued: nothing consumed
// them). Appends them to msg; false when the client socket failed.
bool append_payload(int client_fd, Attempt& a, std::span<std::byte> scratch, std::vector<std::byte>& msg) {
    if (client_fd < 0) return true;
    const bool first = a.sent == 0 && a.payload_len == 0;
    size_t want = first ? std::min(kMaxPayload, scratch.size()) : a.payload_len;
    if (want == 0) return true;
    const IoResult r = io::peek(client_fd, scratch.first(want));
    if (r.io == Io::Error || r.io == Io::Eof) return r.io == Io::Eof && first;
    const size_t n = r.bytes;  // 0 when nothing is queued (WouldBlock)
    if (!first && n < want) return false;
    if (first) a.payload_len = static_cast<uint32_t>(n);
    msg.insert(msg.end(), scratch.begin(), scratch.begin() + a.payload_len);
    return true;
}

socks5::Address socks_destination(const Endpoint& to) {
    if (!to.host.empty()) return socks5::Address(to.host, to.address.port());
    return socks5::Address(to.address.unmapped());
}

std::string http_authority(const Endpoint& to) {
    if (!to.host.empty()) return http_connect::authority(to.host, to.address.port());
    return http_connect::authority(to.address.unmapped());
}

// Peeks the reply at the socket's head into scratch and hands it to `parse`, which returns how many bytes
// to consume on Done. Incomplete replies wait for the next readable edge (new bytes always bring one).
// Once client bytes went out (payload_out), a proxy that breaks off may have forwarded them: no failover.
template <typename Parse>
HandshakeStep await_reply(const ServerConfig& server, const Attempt& a, SocketReadiness& io,
                          std::span<std::byte> scratch, size_t max_len, Parse&& parse, bool& complete) {
    complete = false;
    const IoResult r = io::peek(io, scratch.first(std::min(max_len, scratch.size())));
    switch (r.io) {
        case Io::WouldBlock: return incomplete();
        case Io::Eof:
            return failed(prefix(server) + " closed the connection during the handshake", ECONNRESET,
                          Fault::Upstream, a.payload_out);
        case Io::Error:
            return failed(prefix(server) + ": read: " + errno_text(r.error), r.error, Fault::Upstream,
                          a.payload_out && r.error != ECONNREFUSED);
        case Io::Progress: break;
    }
    const size_t got = r.bytes;
    HandshakeStep step = parse(std::span<const std::byte>(scratch.data(), got));
    if (step.status == HandshakeStep::Status::Done) {
        complete = true;
        return step;
    }
    if (step.status == HandshakeStep::Status::Incomplete) io.readable = false;  // the rest comes as a new edge
    return step;
}

}  // namespace

Endpoint Endpoint::of(const Flow& flow) { return Endpoint{flow.destination, flow.destination_host}; }

std::string Endpoint::text() const {
    if (host.empty()) return address.to_string();
    return host + ":" + std::to_string(address.port());
}

HandshakeStep proxy_handshake(const ServerConfig& server, const Endpoint& to, Attempt& a, SocketReadiness& io,
                              int client_fd, std::span<std::byte> scratch) {
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
                        if (!socks5::encode_connect(socks_destination(to), msg))
                            return failed(prefix(server) + ": cannot encode destination " + to.text(),
                                          EINVAL);
                        if (!append_payload(client_fd, a, scratch, msg))
                            return failed("read from the client failed", ECONNRESET, Fault::Local);
                    }
                } else if (a.phase == kSocksSendAuth) {
                    if (!socks5::encode_userpass(server.socks_username, server.socks_password, msg))
                        return failed(prefix(server) + ": username or password longer than 255 bytes", EINVAL);
                } else if (a.phase == kSocksSendRequest) {
                    if (!socks5::encode_connect(socks_destination(to), msg))
                        return failed(prefix(server) + ": cannot encode destination " + to.text(),
                                      EINVAL);
                } else {
                    const bool auth = !server.http_username.empty() || !server.http_password.empty();
                    if (!http_connect::encode_request(http_authority(to), auth ? &server.http_username : nullptr,
                                                      auth ? &server.http_password : nullptr, msg))
                        return failed(prefix(server) + ": cannot encode destination " + to.text(),
                                      EINVAL);
                    if (server.http_allow_connect_payload && !append_payload(client_fd, a, scratch, msg))
                        return failed("read from the client failed", ECONNRESET, Fault::Local);
                }
                const IoResult sent = io::send_rest(io, msg, a.sent);
                // The client's bytes are the end of the message: out once the write got past the rest.
                if (a.payload_len > 0 && a.sent > msg.size() - a.payload_len) a.payload_out = true;
                if (sent.io == Io::WouldBlock) return incomplete();
                if (sent.io == Io::Error)
                    return failed(prefix(server) + ": write: " + errno_text(sent.error), sent.error, Fault::Upstream,
                                  a.payload_out && sent.error != ECONNREFUSED);
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

HandshakeStep srcproxy_request(const Sha256Digest& auth, const SocketAddress& to, const SocketAddress& client,
                               Attempt& a, SocketReadiness& io) {
    std::vector<std::byte> request;
    request.reserve(srcproxy::kMaxHeaderLength);
    if (!srcproxy::encode(auth, to, client, request))
        return failed("cannot encode a relay request for " + client.to_string() + " -> " + to.to_string(), EINVAL,
                      Fault::Local);
    const IoResult r = io::send_rest(io, request, a.sent);
    if (r.io == Io::WouldBlock) return incomplete();
    if (r.io == Io::Error)
        return failed("write tcp " + local_address(io.fd).to_string() + "->" + peer_address(io.fd).to_string() + ": " +
                          errno_text(r.error),
                      r.error, Fault::Upstream, true);
    return done();
}

HandshakeStep proxy_header(SendProxy version, const Flow& flow, const SocketAddress& client, const SocketAddress& to,
                           Attempt& a, SocketReadiness& io) {
    std::vector<std::byte> header;
    if (version == SendProxy::V1) {
        proxy::encode_v1(client, to, header);
    } else {
        proxy::Header h;
        h.command = client.empty() || to.empty() ? proxy::Command::Local : proxy::Command::Proxy;
        h.source = client;
        h.destination = to;
        h.transport = proxy::Transport::Stream;
        h.tlvs = flow.tlvs;
        if (!proxy::encode_v2(h, header))
            return failed("PROXY v2 header: the TLVs that came in do not fit one header", EMSGSIZE, Fault::Local);
    }
    const IoResult r = io::send_rest(io, header, a.sent);
    if (r.io == Io::WouldBlock) return incomplete();
    if (r.io == Io::Error)
        return failed("write tcp " + local_address(io.fd).to_string() + "->" + peer_address(io.fd).to_string() +
                          ": PROXY header: " + errno_text(r.error),
                      r.error, Fault::Upstream);
    return done();
}

}  // namespace ferry::tunnel
