// libFuzzer target for the status page's HTTP request parser (src/backends/status_page.*: parse_request(), which
// status_server.cpp calls on the bytes read from a client), then route() and serialize() on what it parsed, with a
// snapshot whose strings come from the request. Input: the client's bytes.
// Invariants:
//   - Invalid iff an error is set; consumed is 0 unless Done; Done consumes at least 1 byte, at most the input and
//     at most kMaxRequestHead, ending with the blank line's LF;
//   - the verdict never changes as bytes arrive, also across the 8192-byte limit (fuzz_util.h): prefixes of a Done
//     head are Incomplete, an error is an error for good;
//   - parsing the same bytes twice gives the same result;
//   - Done: the method is a non-empty token; the path starts with '/' and, like the query, holds only visible
//     ASCII, no '?' (path) and no '#'; the request line rebuilt from method, path and query ("M /p?q HTTP/1.1")
//     parses to the same three, and wants_html follows an Accept: text/html header;
//   - route(): 400 for anything but Done, else 200, 404 or 405 as the method and path say; needs_snapshot() only
//     for what a page is rendered for; the JSON page is valid JSON whatever the snapshot's strings hold;
//     serialize() writes the status line, a Content-Length equal to the body's size, and the body unless HEAD.
#include "backends/status_page.h"

#include "fuzz_util.h"

#include <cjson/cJSON.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ferry::status;
using ferry::fuzz::require;

bool same(const Request& a, const Request& b) {
    return a.status == b.status && a.consumed == b.consumed && a.method == b.method && a.path == b.path &&
           a.query == b.query && a.wants_html == b.wants_html && a.error == b.error;
}

bool is_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool visible(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u < 0x7F;
    });
}

void check_done(const Request& r) {
    require(!r.method.empty() && std::all_of(r.method.begin(), r.method.end(), is_tchar));
    require(r.path.starts_with('/') && visible(r.path) && r.path.find_first_of("?#") == std::string::npos);
    require(visible(r.query) && r.query.find('#') == std::string::npos);
    for (bool html : {false, true}) {
        std::string rebuilt = r.method + " " + r.path + (r.query.empty() ? "" : "?" + r.query) + " HTTP/1.1\r\n";
        rebuilt += html ? "Accept: text/html\r\n\r\n" : "Host: fuzz\r\n\r\n";
        const Request back = parse_request(ferry::fuzz::to_bytes(rebuilt));
        require(back.status == Status::Done && back.consumed == rebuilt.size() && back.method == r.method &&
                back.path == r.path && back.query == r.query && back.wants_html == html);
    }
}

void check_route(const Request& r) {
    const bool get_or_head = r.method == "GET" || r.method == "HEAD";
    const bool page = r.path == "/" || r.path == "/plain" || r.path == "/status" || r.path == "/metrics" ||
                      r.path == "/version";
    const bool done = r.status == Status::Done;
    require(needs_snapshot(r) == (done && get_or_head && page));

    Snapshot s;
    s.version = r.query;
    s.uptime_s = r.consumed;
    if (done) {
        ServerStatus server;
        server.tag = r.query;
        server.protocol = r.method;
        server.address = r.path;
        server.up = r.wants_html;
        server.delay_ms = static_cast<int64_t>(r.consumed);
        server.delay_history = {1, std::nullopt, static_cast<int64_t>(r.query.size())};
        s.servers.push_back(server);
    }
    const Response resp = route(r, needs_snapshot(r) ? s : Snapshot{});
    const int expected = !done ? 400 : !get_or_head ? 405 : page ? 200 : 404;
    require(resp.code == expected && !resp.content_type.empty());
    if (done && get_or_head && r.path == "/status") {
        cJSON* json = cJSON_ParseWithLength(resp.body.data(), resp.body.size());
        require(json != nullptr);
        cJSON_Delete(json);
    }
    for (bool head_only : {false, true}) {
        const std::string out = serialize(resp, head_only);
        const std::string status_line =
            "HTTP/1.1 " + std::to_string(resp.code) + " " + reason_phrase(resp.code) + "\r\n";
        require(out.starts_with(status_line));
        require(out.find("\r\nContent-Length: " + std::to_string(resp.body.size()) + "\r\n") != std::string::npos);
        const size_t end = out.find("\r\n\r\n");
        require(end != std::string::npos && out.substr(end + 4) == (head_only ? std::string() : resp.body));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data, size);
    const std::span<const std::byte> bytes(input);

    const Request r = parse_request(bytes);
    require(same(r, parse_request(bytes)));
    require((r.status == Status::Invalid) == !r.error.empty());
    ferry::fuzz::check_incremental(
        bytes, [](std::span<const std::byte> d) {
            const Request p = parse_request(d);
            return ferry::fuzz::Verdict{p.status, p.consumed};
        },
        {r.consumed - 1, r.consumed, kMaxRequestHead - 1, kMaxRequestHead, kMaxRequestHead + 1});
    if (r.status == Status::Done) {
        require(r.consumed > 0 && r.consumed <= bytes.size() && r.consumed <= kMaxRequestHead);
        require(bytes[r.consumed - 1] == std::byte{'\n'});
        check_done(r);
    } else {
        require(r.consumed == 0);
    }
    check_route(r);
    return 0;
}
