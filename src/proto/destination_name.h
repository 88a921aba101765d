// The destination's name in a client's first bytes, for moproxy's --remote-dns: the server_name of a TLS
// ClientHello (RFC 8446 section 4.1.2, RFC 6066 section 3) or the Host header of a plain HTTP/1.x request
// (RFC 9112). Pure functions over bytes: the caller peeks what the client sent and asks again as more arrives.
// Nothing is consumed: the bytes are relayed unchanged after the name is known.
#pragma once

#include "proto/codec.h"

#include <cstddef>
#include <span>
#include <string>

namespace ferry::destination_name {

using Status = ParseStatus;

// A ClientHello larger than this (it may span several TLS records; post-quantum key shares make it 1.5-2 KiB,
// padding extensions up to 4 KiB or so) is not waited for: Invalid.
inline constexpr size_t kMaxClientHello = 16384;
// The most of an HTTP request head read for its Host header.
inline constexpr size_t kMaxHttpHead = 8192;

struct Name {
    Status status = Status::Incomplete;
    // On Done: the host name, lower case, without a trailing dot and (HTTP) without the port. Empty when the
    // message is complete but names nothing: a ClientHello without server_name (or with an IP literal, which
    // RFC 6066 forbids), a request without Host or with an IP literal.
    std::string host;
    // On Done: where the message ends (the last record of the ClientHello, the request head's blank line).
    size_t consumed = 0;
    size_t needed = 0;   // on Incomplete: the least total input that could change the answer (0: unknown)
    std::string reason;  // on Invalid: why
};

// Whether `text` is a DNS host name ferry will ask a proxy for: 1-253 bytes of LDH labels (letters, digits,
// hyphens, and underscores as some services use), labels of 1-63 bytes, not starting or ending with a hyphen,
// and not all digits and dots (an IPv4 literal is not a name).
bool is_host_name(std::string_view text);

// The server_name of the TLS ClientHello at the start of `data`, reassembled from consecutive handshake records.
// Invalid when the bytes are not a TLS handshake record starting a ClientHello, when a length field does not fit,
// when the hello is larger than kMaxClientHello, or when server_name holds a name that is not a host name.
Name parse_client_hello(std::span<const std::byte> data);

// The Host header of the HTTP/1.x request head at the start of `data` (request line, headers, blank line).
// Invalid when the first line is not "METHOD target HTTP/1.x", a header line is malformed, Host is given twice,
// or no blank line comes within kMaxHttpHead bytes.
Name parse_http_host(std::span<const std::byte> data);

}  // namespace ferry::destination_name
