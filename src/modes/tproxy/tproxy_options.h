// The command line of the tproxy mode: liproxy's two flags (uproxy's sample proxy: -bindAddr, -insertionLabel)
// with their defaults, plus ferry's own, parsed with Go's flag rules (support/goflag.h). Pure: no I/O; the caller
// prints what the outcome says and exits with its code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "modes/overload_flags.h"
#include "modes/takeover_flags.h"
#include "support/goflag.h"
#include "support/log.h"
#include "core/net_address.h"
#include "modes/stats_flag.h"
#include "support/privileges.h"

namespace ferry::tproxy {

// One -interceptors item: NAME[=ARG][@up|@down] (both directions unless a direction is given).
struct InterceptorSpec {
    std::string name;  // "label", "hexdump", "pcap", "plugin"
    std::string arg;   // label text, pcap file, plugin "PATH[:ARG]"
    bool up = true;    // client -> server
    bool down = true;  // server -> client
    bool operator==(const InterceptorSpec&) const = default;
};

// -udp-max-flows' default: a TPROXY UDP flow holds two fds (its upstream socket and its reply socket), so 8,000
// flows stay well inside the 20,000-fd limit next to the TCP connections.
inline constexpr int64_t kDefaultUdpMaxFlows = 8000;

struct Options {
    // liproxy's flags.
    std::string bind_address = "127.0.0.1:9091";  // -bindAddr; ferry: a comma-separated list, IPv6 too
    std::string insertion_label;                  // -insertionLabel: the label interceptor, both directions

    // ferry's.
    std::string interceptors;                                     // -interceptors
    int64_t mark = 0;                                             // -mark: SO_MARK on the outgoing flows
    int64_t threads = 0;                                          // -threads (0: one per usable CPU)
    goflag::Duration connect_timeout = std::chrono::seconds(10);  // -connect-timeout
    goflag::Duration idle_timeout{0};                             // -idle-timeout (0: none)
    goflag::Duration halfclose_timeout{0};                        // -halfclose-timeout (0: none)
    std::string log_level = "info";                               // -log-level
    OverloadFlags overload;  // -max-connections, -max-connections-per-source, -max-handshakes-per-source
    std::string stats_bind;  // -stats-bind IP:PORT or PORT: the status service ("": none)
    TakeoverFlags takeover;  // -takeover-socket, -drain-timeout
    std::string user;        // -user NAME[:GROUP] ("" = stay who we are)
    std::string protocol_name = "tcp";                             // -p tcp|udp|all
    goflag::Duration udp_idle_timeout = std::chrono::seconds(60);  // -udp-idle-timeout (0: never)
    int64_t udp_max_flows = kDefaultUdpMaxFlows;                   // -udp-max-flows, over all loops

    // Filled in by validate().
    std::vector<SocketAddress> listen;
    std::vector<InterceptorSpec> interceptor_specs;  // -insertionLabel's first, then -interceptors' in order
    log::Level min_level = log::Level::Info;
    OverloadConfig overload_config;
    std::optional<StatsAddress> stats_address;   // from stats_bind
    TakeoverConfig takeover_config;  // from takeover
    std::optional<privileges::UserSpec> user_spec;  // from user
    bool tcp = true, udp = false;                    // from protocol_name
};

enum class OutcomeKind {
    Run,        // go on with `options`
    Help,       // -h: stderr_text to stderr, exit 0
    FlagError,  // stderr_text (Go's message + usage) to stderr, exit 2
    Invalid,    // stderr_text (one line) to stderr, exit 1
};

struct ParseOutcome {
    OutcomeKind kind = OutcomeKind::Run;
    Options options;
    int exit_code = 0;
    std::string stderr_text;
    bool ok() const { return kind == OutcomeKind::Run; }
};

// Parses argv[1..] with argv0 in Go's "Usage of <argv0>:" heading, then validates:
//   -bindAddr: each item "ip:port" / "[ipv6]:port" with a literal IP and a port 1..65535 (liproxy's message:
//              "Invalid bind address (X).  Expect <ip>:<port>");
//   -mark 0..4294967295, -threads 0..1024, durations >= 0, -log-level debug|info|warn|error;
//   -p tcp|udp|all ("-p must be tcp, udp or all"), -udp-max-flows 1..1000000;
//   -interceptors: comma-separated NAME[=ARG][@up|@down]; label needs its text, pcap a file, plugin a path;
//   hexdump takes no argument.
ParseOutcome parse(const std::vector<std::string>& args, const std::string& argv0);

// Just the -interceptors list; on error returns false with *why set.
bool parse_interceptors(std::string_view text, std::vector<InterceptorSpec>& out, std::string* why);

}  // namespace ferry::tproxy
