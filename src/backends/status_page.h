// The status service of the ranked upstream proxies (moproxy's pages) as pure functions: a Snapshot of the server table
// goes in, the bytes of a page come out (HTML for browsers, aligned text for curl, JSON, OpenMetrics, the version), and
// a small HTTP/1.x request parser plus a router decide which page a request gets. No sockets, no threads, no globals:
// the caller reads the request bytes, builds the snapshot, and writes serialize(route(...)) back.  Every string taken
// from the snapshot (tags, protocols, addresses, the version) is treated as untrusted: it is escaped for the output
// format, and bytes that are not valid UTF-8 become U+FFFD in every output.
#pragma once

#include "engine/metrics_types.h"
#include "proto/codec.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ferry::status {

// ---------------------------------------------------------------------------------------------------------------
// Snapshot: what the pages show, copied out of the live server table by the caller.

struct ServerStatus {
    std::string tag;                  // e.g. "server-1"
    std::string protocol;             // "SOCKSv5" or "HTTP"
    std::string address;              // "127.0.0.1:2001"
    std::string host;                 // "proxy.example.net:1080" when the list named it so; "" for an IP
    bool up = false;
    std::optional<int64_t> delay_ms;  // last probe delay, none if never probed / failed
    std::optional<int64_t> score;     // smoothed score, none when down or not yet probed
    uint64_t conn_alive = 0, conn_total = 0, conn_error = 0;
    unsigned errors_last16 = 0, errors_last64 = 0;  // error closes among the last 16 / 64 closes
    uint64_t tx_bytes = 0, rx_bytes = 0;            // to the server / from it
    double tx_bps = 0, rx_bps = 0;  // recent throughput, bits per second; NaN, inf and negatives show as 0
    std::vector<std::optional<int64_t>> delay_history;  // oldest first, at most 60 probes, nullopt = failed probe
};

struct Snapshot {
    std::string version;  // ferry's version
    uint64_t uptime_s = 0;
    int64_t generated_unix_ms = 0;
    std::vector<ServerStatus> servers;            // in rank order (best first); rank = index + 1
    uint64_t direct_alive = 0, direct_total = 0;  // connections that went direct (--allow-direct)

    // Every mode: the per-listener metrics (engine/metrics.h). `proxies` false (mmproxy, tproxy, srcproxy,
    // `ferry run` without servers) leaves out the servers' table, the direct counts and the ferry_moproxy_*
    // families; `listeners_shown` false (a snapshot without metrics) leaves out the listeners' sections, so the
    // pages are exactly moproxy's.
    std::string mode = "moproxy";  // the page's title: "ferry <mode>"
    bool proxies = true;
    bool listeners_shown = false;
    std::vector<metrics::ListenerSnapshot> listeners;  // in the order they were bound
};

// The chart draws at most this many probes (the newest); JSON carries the whole history.
inline constexpr size_t kHistoryLength = 60;

// ---------------------------------------------------------------------------------------------------------------
// Renderers. Each returns a complete response body.

// A self-contained HTML5 page (inline CSS, inline SVG, no script) that refreshes itself every 10 s. Hooks for
// browser tests: <p id="summary" data-up data-total>, <table id="servers"> with one
// <tr data-rank data-tag data-state="up|down"> per server, cells <td class="rank|tag|protocol|address|state|
// delay|score|alive|total|errors|errors16|errors64|tx|rx|tx-rate|rx-rate|history">, numeric cells also carrying
// the raw number in data-value (delay and score cells only when known), <p id="direct" data-alive data-total>.
// Without proxies the summary is <p id="summary" data-listeners data-uptime> and neither servers nor direct
// appear. With listeners_shown: <table id="listeners"> with one <tr data-listener data-address> per TCP
// listener, cells <td class="listener|address|accepted|active|established|closed|failed|bytes-up|bytes-down|
// handshake|connect|pauses"> (numbers in data-value; handshake and connect: the mean in ms, data-count the
// number of samples), the failed cell listing <span class="reason" data-reason data-value> for each reason seen;
// <table id="udp-listeners"> likewise (cells flows-opened|flows-active|datagrams-up|datagrams-down|dropped) when
// a listener has UDP.
std::string render_html(const Snapshot& s);

// Plain text for curl: a column header line, one row per server in rank order with the HTML page's columns
// (no chart) padded to align, then one summary line ("N of M servers up, uptime ..., direct ..."). Values hold
// no spaces ("12ms", "1.50KiB", "12.5Mbit/s", "-" when unknown) so the rows also split on whitespace.
// Without proxies the server table and its summary are replaced by "ferry <mode>, uptime ...". With
// listeners_shown, one line per listener follows: "tcp ADDRESS[ (NAME)]: accepted N, active N, established N,
// closed N, failed N[ (reason N, ...)], up BYTES, down BYTES" or "udp ADDRESS[ (NAME)]: flows N, active N,
// datagrams up N, down N, dropped N[ (reason N, ...)]".
std::string render_text(const Snapshot& s);

// {"version","uptime_s","generated_unix_ms","servers":[{"rank","tag","protocol","address","up","delay_ms"|null,
// "score"|null,"conn_alive","conn_total","conn_error","errors_last16","errors_last64","tx_bytes","rx_bytes",
// "tx_bps","rx_bps","delay_history":[ms|null,...]}],"direct":{"alive","total"}} and a newline, built with cJSON.
// Integers are written exactly, in plain decimal, whatever their size (never 1e+12, never 12.0). A reader that
// parses JSON numbers into doubles (JavaScript, cJSON itself) rounds counters above 2^53 (8 PiB): fine in
// practice. The *_bps fields are doubles printed by cJSON (%.15g, %.17g if needed to read back exactly): 1e12
// prints as 1000000000000, 1e15 and above with an exponent.
// Without proxies "servers" and "direct" are left out. With listeners_shown, "listeners": [{"name","address",
// "protocol":"tcp","accepted","active","established","closed","failed":{"<reason>":n, every reason},"bytes_up",
// "bytes_down","handshake_ms":{"buckets":[{"le":ms|"+Inf","count":cumulative}],"sum","count"},"connect_ms",
// "pauses":{"resources","limit"}} or {"name","address","protocol":"udp","flows_opened","flows_closed",
// "flows_active","datagrams_up","datagrams_down","dropped":{"<reason>":n, every reason}}].
// Throws std::bad_alloc when cJSON cannot allocate.
std::string render_json(const Snapshot& s);

// OpenMetrics 1.0 text exposition: for every family a # HELP and # TYPE line (also when there are no servers),
// then its samples, one per server in rank order, labelled {tag,protocol,address} with label values escaped
// (\\, \", \n); "# EOF" last. Families: ferry_moproxy_server_up, _server_delay_seconds (samples only for servers
// with a delay), _server_score (only with a score), _server_connections_alive, counters
// _server_connections_total, _server_connection_errors_total, _server_bytes_tx_total, _server_bytes_rx_total,
// then ferry_moproxy_direct_connections_alive, ferry_moproxy_direct_connections_total,
// ferry_moproxy_uptime_seconds. Two servers with the same three labels would make duplicate series: tags are
// expected to be unique. Without proxies none of these families appear but ferry_uptime_seconds does. With
// listeners_shown, the listeners' families follow, labelled {[listener=NAME,]address} (TCP families only for TCP
// listeners, UDP ones for UDP): counters ferry_connections_accepted_total, ferry_connections_established_total,
// ferry_connections_closed_total, ferry_connections_failed_total{...,reason} (every reason, zeros included),
// ferry_bytes_up_total, ferry_bytes_down_total, ferry_listener_pauses_total{...,reason="resources|limit"},
// gauge ferry_connections_active, histograms ferry_handshake_duration_seconds and
// ferry_connect_duration_seconds (buckets metrics::kLatencyBoundsMs), then ferry_udp_flows_opened_total,
// ferry_udp_flows_active, ferry_udp_datagrams_up_total, ferry_udp_datagrams_down_total,
// ferry_udp_datagrams_dropped_total{...,reason}.
std::string render_metrics(const Snapshot& s);

// "ferry <version>\n".
std::string render_version(const Snapshot& s);

// ---------------------------------------------------------------------------------------------------------------
// HTTP: the request head parser, the router and the response writer.

// The request line and headers together, blank line included, may not exceed this (larger is Invalid).
inline constexpr size_t kMaxRequestHead = 8192;

using Status = ParseStatus;

struct Request {
    Status status = Status::Incomplete;
    size_t consumed = 0;  // length of the head, blank line included, on Done; 0 otherwise
    std::string method;   // as sent (methods are case-sensitive)
    std::string path;     // the request target's path, not percent-decoded; "/" for "http://host"
    std::string query;    // after '?', without it; "" when absent
    bool wants_html = false;  // some Accept header contains text/html (any case): a browser; curl sends */*
    std::string error;        // set on Invalid only
};

// Parses an HTTP/1.0 or HTTP/1.1 request head (request line, headers, blank line) from the start of `data`.
// Stateless: after Incomplete, call it again on the grown buffer. Lines end in CRLF or a bare LF; empty lines
// before the request line are skipped. The target must be origin-form ("/path?query") or absolute-form
// ("http://host/path"). Invalid as soon as the bytes that prove it have arrived: a malformed request line or
// header line, a control character, obs-fold, an HTTP version other than 1.x, or no blank line within
// kMaxRequestHead bytes. Does not require Host, and ignores any body (the server closes after one response).
Request parse_request(std::span<const std::byte> data);

struct Response {
    int code = 200;
    std::string content_type;
    std::string body;
};

// Whether route() reads the snapshot for this request: false for answers that do not depend on it (400, 404,
// 405), so a caller can skip building one and pass Snapshot{}.
bool needs_snapshot(const Request& r);

// The answer to a parsed request. Anything but Done is 400 (with r.error in the body); a method other than GET
// and HEAD is 405; "/" is render_html or render_text by r.wants_html, "/plain" render_text whatever the Accept
// header (moproxy's page), "/status" render_json (application/json), "/metrics" render_metrics
// (application/openmetrics-text; version=1.0.0; charset=utf-8), "/version" render_version (text/plain); every
// other path 404. The query is ignored. HEAD gets the same Response as GET: pass head_only to serialize().
Response route(const Request& r, const Snapshot& s);

// The reason phrase of 200, 400, 404, 405 (what route() produces), 408, 431, 500 and 503; "Unknown" otherwise.
const char* reason_phrase(int code);

// "HTTP/1.1 <code> <reason>\r\nContent-Type: ...\r\nContent-Length: <body size>\r\nCache-Control: no-store\r\n
// Connection: close\r\n\r\n" then the body unless head_only (Content-Length still counts it). A 405 also gets
// "Allow: GET, HEAD" (RFC 9110 requires it) after Content-Type.
std::string serialize(const Response& r, bool head_only);

}  // namespace ferry::status
