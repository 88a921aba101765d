#include "modes/tproxy/tproxy_options.h"

#include <algorithm>
#include <limits>

#include "modes/stats_flag.h"

namespace ferry::tproxy {
namespace {

ParseOutcome invalid(std::string message) {
    ParseOutcome o;
    o.kind = OutcomeKind::Invalid;
    o.exit_code = 1;
    o.stderr_text = std::move(message) + "\n";
    return o;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

bool parse_interceptors(std::string_view text, std::vector<InterceptorSpec>& out, std::string* why) {
    size_t start = 0;
    while (start <= text.size()) {
        size_t comma = text.find(',', start);
        std::string_view item = trim(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
        if (item.empty()) {
            if (text.find_first_not_of(" \t,") == std::string_view::npos) break;  // "" or only separators
            *why = "empty item in -interceptors \"" + std::string(text) + "\"";
            return false;
        }
        InterceptorSpec spec;
        // The direction suffix: the last '@' (a label or a path may contain one, but then it must end in a
        // direction too, or it is part of the argument).
        if (auto at = item.rfind('@'); at != std::string_view::npos) {
            std::string_view dir = item.substr(at + 1);
            if (dir == "up" || dir == "down") {
                spec.up = dir == "up";
                spec.down = dir == "down";
                item = item.substr(0, at);
            }
        }
        auto eq = item.find('=');
        spec.name = std::string(item.substr(0, eq));
        if (eq != std::string_view::npos) spec.arg = std::string(item.substr(eq + 1));
        const bool has_arg = eq != std::string_view::npos;
        if (spec.name == "hexdump") {
            if (has_arg) {
                *why = "interceptor hexdump takes no argument (got \"" + spec.arg + "\")";
                return false;
            }
        } else if (spec.name == "label" || spec.name == "pcap" || spec.name == "plugin") {
            if (spec.arg.empty()) {
                *why = "interceptor " + spec.name + " needs " +
                       (spec.name == "label" ? "its text: label=TEXT"
                        : spec.name == "pcap" ? "a file: pcap=FILE"
                                              : "a shared object: plugin=PATH[:ARG]");
                return false;
            }
        } else {
            *why = "unknown interceptor \"" + spec.name + "\" (label, hexdump, pcap, plugin)";
            return false;
        }
        out.push_back(std::move(spec));
    }
    return true;
}

ParseOutcome parse(const std::vector<std::string>& args, const std::string& argv0) {
    Options o;
    goflag::FlagSet flags(argv0);
    flags.string_var(&o.bind_address, "bindAddr", "127.0.0.1:9091",
                     "local bind address for proxy (ferry: a comma-separated list; IPv6 as [::1]:9091)");
    flags.string_var(&o.insertion_label, "insertionLabel", "", "insertion label to add to the proxy messages");
    flags.string_var(&o.interceptors, "interceptors", "",
                     "comma-separated `list` of interceptors, each NAME[=ARG][@up|@down]: label=TEXT, hexdump, "
                     "pcap=FILE, plugin=PATH[:ARG]");
    flags.int_var(&o.mark, "mark", 0, "SO_MARK on the outgoing flows, so rules can tell them apart (0: none)");
    flags.int_var(&o.threads, "threads", 0, "event loops (0: one per usable CPU)");
    flags.duration_var(&o.connect_timeout, "connect-timeout", std::chrono::seconds(10),
                       "bound on connecting the outgoing flow");
    flags.duration_var(&o.idle_timeout, "idle-timeout", goflag::Duration{0},
                       "close a flow after this long without traffic either way (0: never)");
    flags.duration_var(&o.halfclose_timeout, "halfclose-timeout", goflag::Duration{0},
                       "close a half-closed flow after this long without traffic (0: never)");
    flags.string_var(&o.log_level, "log-level", "info", "debug, info, warn or error");
    flags.string_var(&o.protocol_name, "p", "tcp", "protocol that will be proxied: tcp, udp or all");
    flags.duration_var(&o.udp_idle_timeout, "udp-idle-timeout", std::chrono::seconds(60),
                       "close a UDP flow after this long without a datagram either way (0: never)");
    flags.int_var(&o.udp_max_flows, "udp-max-flows", kDefaultUdpMaxFlows,
                  "UDP flows at once, shared evenly by the event loops; a new one evicts the least recently used");
    define_overload_flags(flags, &o.overload);
    define_stats_flag(flags, &o.stats_bind);
    define_takeover_flags(flags, &o.takeover);
    flags.string_var(&o.user, "user", "",
                     "once listening, switch to this user (NAME, NAME:GROUP, UID or UID:GID), keeping only the "
                     "capabilities transparent proxying needs");
    ParseOutcome out;
    auto r = flags.parse(args);
    if (r.status != goflag::ParseStatus::Ok) {
        out.kind = r.status == goflag::ParseStatus::Help ? OutcomeKind::Help : OutcomeKind::FlagError;
        out.exit_code = r.status == goflag::ParseStatus::Help ? 0 : 2;
        out.stderr_text = flags.stderr_text(r);
        return out;
    }
    std::string_view list = o.bind_address;
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        std::string item(trim(list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
        start = comma == std::string_view::npos ? list.size() + 1 : comma + 1;
        auto a = parse_host_port(item);
        if (!a || a->port() == 0)
            return invalid("Invalid bind address (" + item + ").  Expect <ip>:<port>");
        o.listen.push_back(a->unmapped());
    }
    o.tcp = o.protocol_name == "tcp" || o.protocol_name == "all";
    o.udp = o.protocol_name == "udp" || o.protocol_name == "all";
    if (!o.tcp && !o.udp) return invalid("-p must be tcp, udp or all (got \"" + o.protocol_name + "\")");
    if (o.udp_max_flows < 1 || o.udp_max_flows > 1000000)
        return invalid("-udp-max-flows must be between 1 and 1000000 (got " + std::to_string(o.udp_max_flows) + ")");
    if (o.mark < 0 || o.mark > static_cast<int64_t>(std::numeric_limits<uint32_t>::max()))
        return invalid("-mark must be between 0 and 4294967295 (got " + std::to_string(o.mark) + ")");
    if (o.threads < 0 || o.threads > 1024)
        return invalid("-threads must be between 0 and 1024 (got " + std::to_string(o.threads) + ")");
    for (auto [name, d] : {std::pair{"connect-timeout", o.connect_timeout}, {"idle-timeout", o.idle_timeout},
                           {"halfclose-timeout", o.halfclose_timeout},
                           {"udp-idle-timeout", o.udp_idle_timeout}})
        if (d.count() < 0) return invalid(std::string("-") + name + " must not be negative");
    if (auto e = overload_config(o.overload, &o.overload_config)) return invalid(*e);
    if (auto e = parse_stats_address(o.stats_bind, &o.stats_address))
        return invalid("-stats-bind \"" + o.stats_bind + "\": " + *e);
    if (o.stats_address && std::find(o.listen.begin(), o.listen.end(), *o.stats_address) != o.listen.end())
        return invalid("-stats-bind " + o.stats_address->to_string() + " is also a -bindAddr address");
    if (auto e = takeover_config(o.takeover, &o.takeover_config)) return invalid(*e);
    if (o.log_level == "debug") o.min_level = log::Level::Debug;
    else if (o.log_level == "info") o.min_level = log::Level::Info;
    else if (o.log_level == "warn") o.min_level = log::Level::Warn;
    else if (o.log_level == "error") o.min_level = log::Level::Error;
    else return invalid("-log-level must be debug, info, warn or error (got \"" + o.log_level + "\")");
    if (!o.insertion_label.empty()) o.interceptor_specs.push_back(InterceptorSpec{"label", o.insertion_label});
    std::string why;
    if (!parse_interceptors(o.interceptors, o.interceptor_specs, &why)) return invalid("-interceptors: " + why);
    if (!o.user.empty()) {
        o.user_spec = privileges::parse_user_spec(o.user, &why);
        if (!o.user_spec) return invalid("-user " + goflag::quote(o.user) + ": " + why);
    }
    out.options = std::move(o);
    return out;
}

}  // namespace ferry::tproxy
