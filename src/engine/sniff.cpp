#include "engine/sniff.h"

#include "proto/destination_name.h"

namespace ferry {
namespace {

constexpr std::byte kTlsHandshake{0x16};
constexpr uint16_t kHttpsPort = 443;
constexpr uint16_t kHttpPort = 80;

SniffStep proceed(std::string host, const char* why) {
    SniffStep s;
    s.action = SniffStep::Action::Proceed;
    s.host = std::move(host);
    s.why = s.host.empty() ? why : "";
    return s;
}

SniffStep wait() {
    SniffStep s;
    s.action = SniffStep::Action::Wait;
    return s;
}

}  // namespace

size_t sniff_peek_limit() {
    // A ClientHello of kMaxClientHello bytes spread over records of one byte each would need five header
    // bytes per byte: the parser says Invalid long before; this bound only keeps the peek small.
    return destination_name::kMaxClientHello + 1024;
}

SniffStep sniff_step(uint16_t port, std::span<const std::byte> data, bool can_wait) {
    const bool speaks_first = port == kHttpsPort || port == kHttpPort;
    if (data.empty()) {
        if (!speaks_first) return proceed({}, "not a port where the client speaks first");
        if (can_wait) return wait();
        return proceed({}, "no bytes from the client in time");
    }
    destination_name::Name name;
    if (data.front() == kTlsHandshake)
        name = destination_name::parse_client_hello(data);
    else if (port == kHttpPort)
        name = destination_name::parse_http_host(data);
    else
        return proceed({}, port == kHttpsPort ? "not a TLS ClientHello" : "not a TLS handshake");
    switch (name.status) {
        case destination_name::Status::Done:
            return proceed(std::move(name.host), "the message names no host");
        case destination_name::Status::Invalid:
            return proceed({}, data.front() == kTlsHandshake ? "not a valid ClientHello"
                                                             : "not a valid HTTP request");
        case destination_name::Status::Incomplete:
            break;
    }
    if (can_wait) return wait();
    return proceed({}, data.front() == kTlsHandshake ? "the ClientHello did not complete in time"
                                                     : "the HTTP request head did not complete in time");
}

}  // namespace ferry
