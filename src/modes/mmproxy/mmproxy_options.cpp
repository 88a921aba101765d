#include "modes/mmproxy/mmproxy_options.h"

#include "modes/stats_flag.h"

#include <cstdint>
#include <string>

namespace ferry::mmproxy {

namespace {

// SO_MARK takes a 32-bit value; 2.1 silently truncated larger ones.
constexpr int64_t kMaxMark = 0xFFFFFFFF;
// Linux routing table ids are 32-bit; 0 is "unspecified", 253-255 are default, main and local.
constexpr int64_t kMaxRoutingTable = 0xFFFFFFFF;
constexpr int64_t kDefaultTable = 253;
constexpr int64_t kLocalTable = 255;
// Loops and SO_REUSEPORT sockets: the other modes' cap. A billion threads took 652 MB before failing.
constexpr int64_t kMaxThreads = 1024;
constexpr int64_t kMaxListeners = 1024;
// Go's time.Duration holds at most this many seconds; more overflowed (seconds x 1000) into a deadline in the
// past, closing every UDP flow at once.
constexpr int64_t kMaxCloseAfterSeconds = INT64_MAX / 1000000000;

// Defines every flag on fs, writing into *o. The usage texts of the 2.1 flags are byte-for-byte 2.1's.
void define_flags(goflag::FlagSet* fs, Options* o) {
    fs->string_var(&o->listen_address, "l", o->listen_address, "Address the proxy listens on");
    fs->string_var(&o->target_v4, "4", o->target_v4, "Address to which IPv4 traffic will be forwarded to");
    fs->string_var(&o->target_v6, "6", o->target_v6, "Address to which IPv6 traffic will be forwarded to");
    fs->string_var(&o->protocol_name, "p", o->protocol_name, "Protocol that will be proxied: tcp, udp");
    fs->int_var(&o->mark, "mark", o->mark, "The mark that will be set on outbound packets");
    fs->int_var(&o->verbose, "v", o->verbose,
                "0 - no logging of individual connections\n"
                "1 - log errors occurring in individual connections\n"
                "2 - log all state changes of individual connections");
    fs->string_var(&o->allowed_subnets_path, "allowed-subnets", o->allowed_subnets_path,
                   "Path to a file that contains allowed subnets of the proxy servers");
    fs->int_var(&o->listeners, "listeners", o->listeners,
                "Number of listener sockets that will be opened for the listen address (Linux 3.9+)");
    fs->int_var(&o->close_after_seconds, "close-after", o->close_after_seconds,
                "Number of seconds after which UDP socket will be cleaned up");
    fs->bool_var(&o->dynamic_destination, "dynamic-destination", o->dynamic_destination,
                 "Traffic will be forwarded to the destination specified in the PROXY protocol header");
    fs->bool_var(&o->listen_transparent, "listen-transparent", o->listen_transparent,
                 "Set IP_TRANSPARENT on the listen ports");

    fs->int_var(&o->threads, "threads", o->threads,
                "Number of event-loop threads; 0 means one per CPU the process may run on");
    fs->duration_var(&o->header_timeout, "header-timeout", o->header_timeout,
                     "How long a new connection may take to send a complete PROXY header");
    fs->duration_var(&o->connect_timeout, "connect-timeout", o->connect_timeout,
                     "How long to wait for the upstream connection to be established");
    fs->duration_var(&o->idle_timeout, "idle-timeout", o->idle_timeout,
                     "Close a relayed connection after this long without traffic in either direction; 0 disables");
    fs->duration_var(&o->halfclose_timeout, "halfclose-timeout", o->halfclose_timeout,
                     "Close a half-closed connection (one direction finished) after this long without traffic; "
                     "0 disables");
    fs->string_var(&o->relay, "relay", o->relay,
                   "How relayed bytes move: splice, adaptive (copy small messages, splice bulk) or copy");
    fs->bool_var(&o->routing, "routing", o->routing,
                 "Add the policy routing that spoofed replies need (table -routing-table) at start and remove "
                 "it at exit");
    fs->int_var(&o->routing_table, "routing-table", o->routing_table,
                "Routing table number used by -routing for the local routes of spoofed replies");
    fs->string_var(&o->allowed_destinations, "allowed-destinations", o->allowed_destinations,
                   "With -dynamic-destination, where clients may be sent: PREFIX[:PORT[-PORT]],... "
                   "(e.g. 127.0.0.1:443,[::1]:8000-8999); empty allows any");
    define_overload_flags(*fs, &o->overload);
    define_stats_flag(*fs, &o->stats_bind);
    define_takeover_flags(*fs, &o->takeover);
    fs->string_var(&o->log_format, "log-format", o->log_format,
                   "Log lines: zap (go-mmproxy 2.1's JSON keys, on stderr) or slog (go-mmproxy 2.3's slog JSON "
                   "keys, on stdout)");
    fs->string_var(&o->user, "user", o->user,
                   "Once listening, switch to this user (NAME, NAME:GROUP, UID or UID:GID), keeping only the "
                   "capabilities spoofing needs");
}

ValidationError invalid(std::string message, std::vector<LogField> fields = {}) {
    return ValidationError{std::move(message), std::move(fields)};
}

std::optional<ValidationError> check_listen(Options* o) {
    std::string why;
    std::optional<SocketAddress> a = parse_host_port(o->listen_address, &why);
    if (!a) {
        return invalid("-l " + goflag::quote(o->listen_address) +
                           " is not a valid listen address (ip:port, [ipv6]:port or :port): " + why,
                       {{"listenAdr", o->listen_address}});
    }
    o->listen = *a;
    return std::nullopt;
}

// Checks a -4 / -6 target: a literal of the flag's family with a non-empty host and a port of 1..65535.
std::optional<ValidationError> check_target(const std::string& text, bool want_v6, SocketAddress* out) {
    const char* flag = want_v6 ? "-6 " : "-4 ";
    const char* key = want_v6 ? "targetAddr6" : "targetAddr4";
    std::optional<SocketAddress> a = parse_host_port(text);
    bool host_given = !text.empty() && text[0] != ':';
    if (!a || !host_given || a->is_v6() != want_v6) {
        return invalid(flag + goflag::quote(text) +
                           (want_v6 ? " is not an IPv6 [address]:port" : " is not an IPv4 address:port"),
                       {{key, text}});
    }
    if (a->port() == 0)
        return invalid(flag + goflag::quote(text) + ": the port has to be between 1 and 65535", {{key, text}});
    *out = *a;
    return std::nullopt;
}

ParseOutcome flag_outcome(const goflag::FlagSet& fs, const goflag::ParseResult& r) {
    ParseOutcome out;
    out.kind = r.status == goflag::ParseStatus::Help ? OutcomeKind::Help : OutcomeKind::FlagError;
    out.exit_code = r.status == goflag::ParseStatus::Help ? 0 : 2;
    out.stderr_text = fs.stderr_text(r);
    return out;
}

}  // namespace

ParseOutcome parse_flags(std::vector<std::string> args, std::string_view argv0) {
    ParseOutcome out;
    goflag::FlagSet fs{std::string(argv0)};
    define_flags(&fs, &out.options);
    goflag::ParseResult r = fs.parse(args);
    if (r.status != goflag::ParseStatus::Ok) {
        ParseOutcome failed = flag_outcome(fs, r);
        return failed;
    }
    return out;  // positional arguments are ignored, as 2.1 ignores them
}

std::optional<ValidationError> validate(Options* o) {
    // go-mmproxy 2.1's checks, in its order and words.
    if (o->protocol_name == "tcp") {
        o->protocol = Protocol::Tcp;
    } else if (o->protocol_name == "udp") {
        o->protocol = Protocol::Udp;
    } else if (o->protocol_name == "all") {
        o->protocol = Protocol::All;
    } else {
        return invalid("--protocol has to be one of udp, tcp, all", {{"protocol", o->protocol_name}});
    }
    if (o->mark < 0) return invalid("--mark has to be >= 0", {{"mark", o->mark}});
    if (o->mark > kMaxMark) return invalid("--mark has to be <= 4294967295", {{"mark", o->mark}});
    if (o->verbose < 0) return invalid("-v has to be >= 0", {{"verbose", o->verbose}});
    if (o->listeners < 1) return invalid("--listeners has to be >= 1");
    if (o->close_after_seconds < 0)
        return invalid("--close-after has to be >= 0", {{"close-after", o->close_after_seconds}});

    // ferry's own checks: 2.1 accepted anything here and failed later, or never.
    if (o->listeners > kMaxListeners)
        return invalid("--listeners has to be <= " + std::to_string(kMaxListeners), {{"listeners", o->listeners}});
    if (o->close_after_seconds > kMaxCloseAfterSeconds) {
        return invalid("--close-after has to be <= " + std::to_string(kMaxCloseAfterSeconds),
                       {{"close-after", o->close_after_seconds}});
    }
    if (auto e = check_listen(o)) return e;
    if (auto e = check_target(o->target_v4, false, &o->target4)) return e;
    if (auto e = check_target(o->target_v6, true, &o->target6)) return e;
    if (o->threads < 0) return invalid("-threads has to be >= 0", {{"threads", o->threads}});
    if (o->threads > kMaxThreads)
        return invalid("-threads has to be <= " + std::to_string(kMaxThreads), {{"threads", o->threads}});
    if (o->header_timeout.count() <= 0) {
        return invalid("-header-timeout has to be > 0",
                       {{"header-timeout", goflag::format_duration(o->header_timeout)}});
    }
    if (o->connect_timeout.count() <= 0) {
        return invalid("-connect-timeout has to be > 0",
                       {{"connect-timeout", goflag::format_duration(o->connect_timeout)}});
    }
    if (o->idle_timeout.count() < 0) {
        return invalid("-idle-timeout has to be >= 0",
                       {{"idle-timeout", goflag::format_duration(o->idle_timeout)}});
    }
    if (o->relay == "adaptive") {
        o->relay_mode = RelayMode::Adaptive;
    } else if (o->relay == "splice") {
        o->relay_mode = RelayMode::Splice;
    } else if (o->relay == "copy") {
        o->relay_mode = RelayMode::Copy;
    } else {
        return invalid("-relay has to be one of splice, adaptive, copy", {{"relay", o->relay}});
    }
    if (o->halfclose_timeout.count() < 0) {
        return invalid("-halfclose-timeout has to be >= 0",
                       {{"halfclose-timeout", goflag::format_duration(o->halfclose_timeout)}});
    }
    if (o->routing_table < 1 || o->routing_table > kMaxRoutingTable ||
        (o->routing_table >= kDefaultTable && o->routing_table <= kLocalTable)) {
        return invalid("-routing-table has to be in 1..4294967295 and not 253, 254 or 255",
                       {{"routing-table", o->routing_table}});
    }
    o->destination_rules.clear();
    for (std::string_view rest = o->allowed_destinations; !rest.empty();) {
        const size_t comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        std::string why;
        auto rule = parse_destination_rule(item, &why);
        if (!rule) {
            return invalid("-allowed-destinations: " + goflag::quote(item) + " is not a destination: " + why,
                           {{"allowedDestinations", o->allowed_destinations}});
        }
        o->destination_rules.push_back(*rule);
    }
    if (auto e = overload_config(o->overload, &o->overload_config)) return invalid(*e);
    if (auto e = parse_stats_address(o->stats_bind, &o->stats_address))
        return invalid("-stats-bind " + goflag::quote(o->stats_bind) + ": " + *e, {{"statsBind", o->stats_bind}});
    if (o->stats_address && *o->stats_address == o->listen)
        return invalid("-stats-bind " + o->stats_address->to_string() + " is also the -l address",
                       {{"statsBind", o->stats_bind}});
    if (auto e = takeover_config(o->takeover, &o->takeover_config)) return invalid(*e);
    if (!o->destination_rules.empty() && !o->dynamic_destination)
        return invalid("-allowed-destinations needs -dynamic-destination");
    if (o->log_format != "zap" && o->log_format != "slog")
        return invalid("-log-format has to be one of zap, slog", {{"logFormat", o->log_format}});
    o->user_spec.reset();
    if (!o->user.empty()) {
        std::string why;
        o->user_spec = privileges::parse_user_spec(o->user, &why);
        if (!o->user_spec) return invalid("-user " + goflag::quote(o->user) + ": " + why, {{"user", o->user}});
    }
    return std::nullopt;
}

ParseOutcome parse_args(std::vector<std::string> args, std::string_view argv0) {
    ParseOutcome out = parse_flags(std::move(args), argv0);
    if (!out.ok()) return out;
    if (std::optional<ValidationError> e = validate(&out.options)) {
        ParseOutcome failed;
        failed.kind = OutcomeKind::Invalid;
        failed.exit_code = 1;
        failed.stderr_text = std::move(e->message);
        failed.fields = std::move(e->fields);
        return failed;
    }
    return out;
}

std::string usage_text(std::string_view argv0) {
    Options scratch;
    goflag::FlagSet fs{std::string(argv0)};
    define_flags(&fs, &scratch);
    return fs.usage();
}

}  // namespace ferry::mmproxy
