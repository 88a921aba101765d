#include "modes/moproxy/moproxy_options.h"

#include <algorithm>
#include <utility>

#include "modes/takeover_flags.h"
#include "support/net_names.h"

namespace ferry::moproxy {

using backends::Protocol;
using backends::ServerConfig;
using backends::parse_seconds_as_ms;

namespace {

// More event-loop threads than this is a typo, not a machine.
constexpr uint64_t kMaxThreads = 1024;
// --idle-timeout and --halfclose-timeout: a year is no deadline at all already.
constexpr uint64_t kMaxTimeoutSeconds = 366 * 24 * 3600;
// sun_path's 108 bytes, less the NUL.
constexpr size_t kMaxUnixPath = 107;
// More connections than any fd limit allows is a typo.
constexpr uint64_t kMaxConnections = uint64_t{1} << 32;

enum class Opt {
    Host,
    Port,
    Socks5,
    Http,
    List,
    Probe,
    TestDns,
    MaxWait,
    StatsBind,
    Graphite,
    AllowDirect,
    RemoteDns,
    NParallel,
    LogLevel,
    NoTfo,
    CongestionLocal,
    Mark,
    Interface,
    SocksClients,
    Threads,
    IdleTimeout,
    HalfcloseTimeout,
    MaxConnections,
    MaxConnectionsPerSource,
    MaxHandshakesPerSource,
    TakeoverSocket,
    DrainTimeout,
    User,
    Policy,
    ListenPort,
    DstIp,
    DstDomain,
    NoBind,
    Help,
    Version,
};

enum class Kind {
    Flag,   // no value
    Value,  // one value, the option given at most once
    List,   // comma-separated values, and the following arguments up to the next option; accumulates
};

struct OptionDef {
    Opt opt;
    char short_name;  // 0: none
    std::string_view long_name;
    Kind kind;
    std::string_view value_name;  // for usage()
    std::string_view help;
    std::string_view default_text;  // "" : no default shown
};

// moproxy 0.5.1's options with its value names, then ferry's; usage() prints them in this order.
constexpr OptionDef kOptions[] = {
    {Opt::Host, 'b', "host", Kind::List, "<IP-ADDRESS>...",
     "Addresses to listen on; only loopback by default (moproxy: ::), on a router give the LAN address",
     "127.0.0.1,::1"},
    {Opt::Port, 'p', "port", Kind::List, "<PORT>...",
     "Ports to listen on, for redirected connections and the downstream SOCKS5 service (required)", ""},
    {Opt::Socks5, 's', "socks5", Kind::List, "<SOCKS5-SERVERS>...",
     "SOCKSv5 proxies as [IP:]PORT, a bare port meaning 127.0.0.1", ""},
    {Opt::Http, 't', "http", Kind::List, "<HTTP-SERVERS>...",
     "HTTP CONNECT proxies as [IP:]PORT, a bare port meaning 127.0.0.1", ""},
    {Opt::List, 'l', "list", Kind::Value, "<SERVER-LIST>", "INI file of proxy servers, reloaded on SIGHUP", ""},
    {Opt::Probe, 'i', "probe", Kind::Value, "<SECONDS>", "Seconds between delay probes; 0 turns probing off", "30"},
    {Opt::TestDns, 0, "test-dns", Kind::Value, "<IP-ADDR:PORT>",
     "DNS server with TCP support that the probes query through each proxy", "8.8.8.8:53"},
    {Opt::MaxWait, 0, "max-wait", Kind::Value, "<SECONDS>",
     "Bound on connect + proxy handshake, for probes and connections; decimals allowed", "4"},
    {Opt::StatsBind, 0, "stats-bind", Kind::Value, "<IP-ADDR:PORT>",
     "Serve the status page, JSON and metrics there; a bare port means 127.0.0.1, a path starting with / a Unix "
     "socket", ""},
    {Opt::StatsBind, 0, "web-bind", Kind::Value, "<IP-ADDR:PORT>", "Same as --stats-bind", ""},
    {Opt::Graphite, 0, "graphite", Kind::Value, "<IP-ADDR:PORT>",
     "Send the servers' metrics to this Graphite (carbon) server after each probe round, plaintext over TCP", ""},
    {Opt::AllowDirect, 0, "allow-direct", Kind::Flag, "", "Connect directly when every proxy failed", ""},
    {Opt::RemoteDns, 0, "remote-dns", Kind::Flag, "",
     "Ask the proxies for the name in a TLS ClientHello (SNI) or, on port 80, an HTTP Host header", ""},
    {Opt::NParallel, 0, "n-parallel", Kind::Value, "<N>", "Proxies tried in parallel for each connection", "1"},
    {Opt::LogLevel, 0, "log-level", Kind::Value, "<LEVEL>", "off, error, warn, info, debug or trace", "info"},
    {Opt::NoTfo, 0, "no-tfo", Kind::Flag, "", "Do not use TCP Fast Open towards the proxies", ""},
    {Opt::CongestionLocal, 0, "congestion-local", Kind::Value, "<ALG>",
     "TCP congestion control of the client-side sockets (e.g. bbr; the system's default otherwise)", ""},
    {Opt::Mark, 0, "mark", Kind::Value, "<N>",
     "SO_MARK on the sockets to the proxies, the probes' and the direct ones, for fwmark rules; 0: none", "0"},
    {Opt::Interface, 0, "interface", Kind::Value, "<NAME>",
     "SO_BINDTODEVICE: the sockets to the proxies, the probes' and the direct ones leave through this interface",
     ""},
    {Opt::SocksClients, 0, "socks-clients", Kind::List, "<CIDR>...",
     "Who may use the downstream SOCKS5 service (connections that were not redirected)", "127.0.0.0/8,::1/128"},
    {Opt::Threads, 0, "threads", Kind::Value, "<N>", "Event-loop threads; 0 means one per usable CPU", "0"},
    {Opt::IdleTimeout, 0, "idle-timeout", Kind::Value, "<SECONDS>",
     "Close a connection after this long without traffic; 0: never", "7200"},
    {Opt::HalfcloseTimeout, 0, "halfclose-timeout", Kind::Value, "<SECONDS>",
     "Close a connection this long after one side stopped sending, without traffic; 0: never", "60"},
    {Opt::MaxConnections, 0, "max-connections", Kind::Value, "<N>",
     "Connections at once (the oldest in their handshake give way); 0: what the open-file limit allows", "0"},
    {Opt::MaxConnectionsPerSource, 0, "max-connections-per-source", Kind::Value, "<N>",
     "Connections at once from one client address (IPv6: one /64); 0: no limit", "0"},
    {Opt::MaxHandshakesPerSource, 0, "max-handshakes-per-source", Kind::Value, "<N>",
     "Connections from one client address still in their SOCKS5 handshake; 0: no limit", "0"},
    {Opt::TakeoverSocket, 0, "takeover-socket", Kind::Value, "<PATH>",
     "Unix socket (@name: abstract) where a running ferry hands its sockets and server statistics to a new one "
     "started with the same path: restarts without a refused connection", ""},
    {Opt::DrainTimeout, 0, "drain-timeout", Kind::Value, "<SECONDS>",
     "After a successor took over, how long connections may take to finish before they are closed", "30"},
    {Opt::User, 0, "user", Kind::Value, "<USER>",
     "Once listening, switch to this user (NAME, NAME:GROUP, UID or UID:GID) without any capability", ""},
    {Opt::Policy, 0, "policy", Kind::Value, "<POLICY>",
     "Rule file of the proxy selection policy (moproxy's syntax), reloaded on SIGHUP with the server list", ""},
    {Opt::NoBind, 0, "no-bind", Kind::Flag, "", "With check: do not try to bind the listeners", ""},
    {Opt::ListenPort, 0, "listen-port", Kind::Value, "<LISTEN_PORT>", "With policy get: the listen port", ""},
    {Opt::DstIp, 0, "dst-ip", Kind::Value, "<DST_IP>", "With policy get: the destination IP address", ""},
    {Opt::DstDomain, 0, "dst-domain", Kind::Value, "<DST_DOMAIN>", "With policy get: the destination domain", ""},
    {Opt::Help, 'h', "help", Kind::Flag, "", "Print this help", ""},
    {Opt::Version, 'V', "version", Kind::Flag, "", "Print the version", ""},
};

// moproxy 0.5.1 options that ferry does not implement: refused by name so the user knows it is not a typo.
constexpr std::string_view kUnsupported[] = {"score-script"};

// What to use instead of an unsupported option, after its refusal ("" when there is nothing to say).
std::string_view unsupported_hint(std::string_view name) {
    if (name == "score-script")
        return ": ferry does not run Lua score scripts; weight a server with `score base = N` in the server list";
    return "";
}

const OptionDef* find_long(std::string_view name) {
    for (const OptionDef& d : kOptions)
        if (d.long_name == name) return &d;
    return nullptr;
}

const OptionDef* find_short(char c) {
    for (const OptionDef& d : kOptions)
        if (d.short_name != 0 && d.short_name == c) return &d;
    return nullptr;
}

// "-x..." or "--x...": an option, not a value. A lone "-" is a value.
bool is_option_like(std::string_view arg) { return arg.size() > 1 && arg.front() == '-'; }

// The subcommand word ends a list of values: `moproxy -p 2080 -s 2001 check`.
constexpr std::string_view kCheck = "check";
// `policy get`: moproxy's other subcommand, two words.
constexpr std::string_view kPolicy = "policy";
constexpr std::string_view kGet = "get";

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

std::optional<uint64_t> parse_unsigned(std::string_view s, uint64_t max) {
    if (!all_digits(s)) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        v = v * 10 + static_cast<uint64_t>(c - '0');
        if (v > max) return std::nullopt;
    }
    return v;
}

std::optional<uint16_t> parse_port(std::string_view s) {
    auto v = parse_unsigned(s, 65535);
    if (!v) return std::nullopt;
    return static_cast<uint16_t>(*v);
}

SocketAddress loopback_v4(uint16_t port) {
    const uint8_t ip[4] = {127, 0, 0, 1};
    return SocketAddress::from_v4(ip, port);
}

// An IP literal, IPv6 with or without brackets, as an address with port 0.
std::optional<SocketAddress> parse_ip(std::string_view s) {
    if (s.empty()) return std::nullopt;
    std::string text(s);
    if (text.front() == '[') {
        text += ":0";
    } else if (text.find(':') != std::string::npos) {
        text = "[" + text + "]:0";
    } else {
        text += ":0";
    }
    return parse_host_port(text);
}

// "ip:port" or "[ipv6]:port" with the IP given (":port" is refused); the port may still be 0 here.
std::optional<SocketAddress> parse_ip_port(std::string_view s, std::string* why) {
    std::optional<SocketAddress> a = parse_host_port(s, why);
    if (a && s.front() == ':') {
        *why = "missing IP address";
        return std::nullopt;
    }
    return a;
}

std::optional<LogLevel> parse_log_level(std::string_view s) {
    std::string v(s);
    for (char& c : v)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (v == "off") return LogLevel::Off;
    if (v == "error") return LogLevel::Error;
    if (v == "warn") return LogLevel::Warn;
    if (v == "info") return LogLevel::Info;
    if (v == "debug") return LogLevel::Debug;
    if (v == "trace") return LogLevel::Trace;
    return std::nullopt;
}

std::optional<subnets::IpPrefix> parse_client_prefix(std::string_view s) {
    if (auto p = subnets::parse_cidr(s)) return p;
    if (s.find('/') != std::string_view::npos) return std::nullopt;
    // A bare IP is the one host: 192.0.2.7 is 192.0.2.7/32.
    auto ip = parse_ip(s);
    if (!ip) return std::nullopt;
    return subnets::parse_cidr(ip->ip_string() + (ip->is_v4() ? "/32" : "/128"));
}

// Stores one list item or value; the error (without the "invalid value" head) or nullopt.
std::optional<std::string> apply(Opt opt, std::string_view v, Options& o) {
    std::string why;
    switch (opt) {
        case Opt::Host:
            if (auto ip = parse_ip(v)) {
                o.hosts.push_back(*ip);
                return std::nullopt;
            }
            return "not an IP address";
        case Opt::Port:
            if (auto p = parse_port(v)) {
                o.ports.push_back(*p);
                return std::nullopt;
            }
            return "not a port number (0..65535)";
        case Opt::Socks5:
        case Opt::Http: {
            ServerSpec spec;
            if (all_digits(v)) {
                auto p = parse_port(v);
                if (!p) return "not a port number (0..65535)";
                spec.address = loopback_v4(*p);
                spec.tag = std::to_string(*p);
            } else if (auto a = parse_ip_port(v, &why)) {
                spec.address = *a;
                spec.tag = a->to_string();
            } else {
                return "not a server address, [IP:]PORT (" + why + ")";
            }
            (opt == Opt::Socks5 ? o.socks5 : o.http).push_back(std::move(spec));
            return std::nullopt;
        }
        case Opt::List:
            if (v.empty()) return "an empty path";
            o.list_path = std::string(v);
            return std::nullopt;
        case Opt::Probe:
            if (auto n = parse_unsigned(v, 0xFFFFFFFF)) {
                o.probe_seconds = static_cast<unsigned>(*n);
                return std::nullopt;
            }
            return "not a whole number of seconds";
        case Opt::TestDns:
            if (auto a = parse_ip_port(v, &why)) {
                o.test_dns = *a;
                return std::nullopt;
            }
            return "not an IP:PORT address (" + why + ")";
        case Opt::MaxWait:
            if (auto ms = parse_seconds_as_ms(v)) {
                o.max_wait_ms = *ms;
                return std::nullopt;
            }
            return "not a number of seconds (up to 3600)";
        case Opt::StatsBind:
            if (!v.empty() && v.front() == '/') {
                if (v.size() > kMaxUnixPath) return "a Unix socket path longer than 107 bytes";
                o.stats_path = std::string(v);
                return std::nullopt;
            }
            if (all_digits(v)) {
                auto p = parse_port(v);
                if (!p) return "not a port number (0..65535)";
                o.stats_bind = loopback_v4(*p);
                return std::nullopt;
            }
            if (auto a = parse_ip_port(v, &why)) {
                o.stats_bind = *a;
                return std::nullopt;
            }
            return "not an IP:PORT address or a port (" + why + ")";
        case Opt::Graphite:
            if (auto a = parse_ip_port(v, &why)) {
                o.graphite = *a;
                return std::nullopt;
            }
            return "not an IP:PORT address (" + why + ")";
        case Opt::CongestionLocal:
            // TCP_CONGESTION_NAME_MAX is 16 with the NUL; the kernel says whether it knows the name.
            if (v.empty() || v.size() > 15 || v.find_first_of(" \t/") != std::string_view::npos)
                return "not a congestion control algorithm's name (like bbr or cubic)";
            o.congestion_local = std::string(v);
            return std::nullopt;
        case Opt::Mark:
            if (auto n = parse_unsigned(v, 0xFFFFFFFF)) {
                o.mark = static_cast<uint32_t>(*n);
                return std::nullopt;
            }
            return "not a mark (0..4294967295)";
        case Opt::Interface:
            if (!is_interface_name(v)) return "not a network interface name (1 to 15 bytes, no '/', ':' or blank)";
            o.interface = std::string(v);
            return std::nullopt;
        case Opt::NParallel:
            if (auto n = parse_unsigned(v, 0xFFFFFFFF)) {
                o.n_parallel = static_cast<unsigned>(*n);
                return std::nullopt;
            }
            return "not a whole number";
        case Opt::LogLevel:
            if (auto l = parse_log_level(v)) {
                o.log_level = *l;
                return std::nullopt;
            }
            return "not one of off, error, warn, info, debug, trace";
        case Opt::SocksClients:
            if (auto p = parse_client_prefix(v)) {
                o.socks_clients.push_back(*p);
                return std::nullopt;
            }
            return "not a CIDR prefix (like 192.168.0.0/16) or an IP address";
        case Opt::Threads:
            if (auto n = parse_unsigned(v, 0xFFFFFFFF)) {
                o.threads = static_cast<size_t>(*n);
                return std::nullopt;
            }
            return "not a whole number";
        case Opt::IdleTimeout:
        case Opt::HalfcloseTimeout:
            if (auto n = parse_unsigned(v, kMaxTimeoutSeconds)) {
                (opt == Opt::IdleTimeout ? o.idle_timeout_ms : o.halfclose_timeout_ms) = *n * 1000;
                return std::nullopt;
            }
            return "not a whole number of seconds (up to " + std::to_string(kMaxTimeoutSeconds) + ")";
        case Opt::TakeoverSocket:
            if (auto e = check_takeover_path(std::string(v))) return *e;
            o.takeover.path = std::string(v);
            return std::nullopt;
        case Opt::DrainTimeout:
            if (auto n = parse_unsigned(v, kMaxDrainTimeoutMs / 1000)) {
                o.takeover.drain_timeout_ms = *n * 1000;
                return std::nullopt;
            }
            return "not a whole number of seconds (up to " + std::to_string(kMaxDrainTimeoutMs / 1000) + ")";
        case Opt::MaxConnections:
            if (auto n = parse_unsigned(v, kMaxConnections)) {
                o.overload.max_connections = *n;
                return std::nullopt;
            }
            return "not a whole number (up to " + std::to_string(kMaxConnections) + ")";
        case Opt::MaxConnectionsPerSource:
        case Opt::MaxHandshakesPerSource:
            if (auto n = parse_unsigned(v, 0xFFFFFFFF)) {
                (opt == Opt::MaxConnectionsPerSource ? o.overload.max_connections_per_source
                                                     : o.overload.max_handshakes_per_source) =
                    static_cast<uint32_t>(*n);
                return std::nullopt;
            }
            return "not a whole number (up to 4294967295)";
        case Opt::User: {
            auto spec = privileges::parse_user_spec(v, &why);
            if (!spec) return why;
            o.user = std::string(v);
            o.user_spec = std::move(*spec);
            return std::nullopt;
        }
        case Opt::Policy:
            if (v.empty()) return "an empty path";
            o.policy_path = std::string(v);
            return std::nullopt;
        case Opt::ListenPort:
            if (auto p = parse_port(v)) {
                o.get_listen_port = *p;
                return std::nullopt;
            }
            return "not a port number (0..65535)";
        case Opt::DstIp:
            if (v.find('[') == std::string_view::npos) {
                if (auto ip = parse_ip(v)) {
                    o.get_dst_ip = *ip;
                    return std::nullopt;
                }
            }
            return "not an IP address";
        case Opt::DstDomain:
            o.get_dst_domain = std::string(v);
            return std::nullopt;
        case Opt::AllowDirect:
        case Opt::RemoteDns:
        case Opt::NoTfo:
        case Opt::NoBind:
        case Opt::Help:
        case Opt::Version:
            break;
    }
    return "unexpected value";
}

void set_flag(Opt opt, Options& o) {
    switch (opt) {
        case Opt::AllowDirect: o.allow_direct = true; break;
        case Opt::RemoteDns: o.remote_dns = true; break;
        case Opt::NoTfo: o.tfo = false; break;
        case Opt::NoBind: o.check_no_bind = true; break;
        case Opt::Help: o.help = true; break;
        case Opt::Version: o.version = true; break;
        default: break;
    }
}

ParseResult failure(std::string message) {
    ParseResult r;
    r.error = std::move(message);
    return r;
}

ParseResult success(Options o) {
    ParseResult r;
    r.options = std::move(o);
    return r;
}

// A server's address as validate() needs it: a real IP and a port of 1..65535. The reason, or "".
std::string endpoint_problem(const SocketAddress& a) {
    if (a.is_unspecified()) return "the wildcard address cannot be connected to";
    if (a.port() == 0) return "the port has to be between 1 and 65535";
    return "";
}

}  // namespace

std::vector<SocketAddress> default_hosts() {
    const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return {loopback_v4(0), SocketAddress::from_v6(v6_loopback, 0)};
}

SocketAddress default_test_dns() {
    const uint8_t google_dns[4] = {8, 8, 8, 8};
    return SocketAddress::from_v4(google_dns, 53);
}

std::vector<subnets::IpPrefix> default_socks_clients() {
    return {*subnets::parse_cidr("127.0.0.0/8"), *subnets::parse_cidr("::1/128")};
}

ParseResult parse(std::span<const std::string> args) {
    Options o;
    std::vector<Opt> given;  // Value options seen, to refuse a second one
    // The first -b and the first --socks-clients replace the default instead of adding to it.
    bool hosts_given = false, clients_given = false;
    size_t i = 0;
    while (i < args.size()) {
        const std::string& arg = args[i++];
        if (arg == "--") {
            if (i < args.size()) return failure("unexpected argument " + quoted(args[i]));
            break;
        }
        if (!is_option_like(arg)) {
            if (arg == kCheck && !o.check) {
                o.check = true;
                continue;
            }
            if (arg == kPolicy && !o.policy_get) {
                if (i >= args.size() || args[i] != kGet)
                    return failure("the policy subcommand needs get: policy get [--listen-port <LISTEN_PORT>] "
                                   "[--dst-ip <DST_IP>] [--dst-domain <DST_DOMAIN>]");
                ++i;
                o.policy_get = true;
                continue;
            }
            return failure("unexpected argument " + quoted(arg));
        }

        const OptionDef* def = nullptr;
        std::string spelled;
        std::optional<std::string_view> inline_value;
        std::string_view a = arg;
        if (a.substr(0, 2) == "--") {
            std::string_view body = a.substr(2);
            size_t eq = body.find('=');
            std::string_view name = body.substr(0, eq);
            if (eq != std::string_view::npos) inline_value = body.substr(eq + 1);
            spelled = "--" + std::string(name);
            def = find_long(name);
            if (!def) {
                if (std::find(std::begin(kUnsupported), std::end(kUnsupported), name) != std::end(kUnsupported))
                    return failure(spelled + " is a moproxy option that ferry does not support" +
                                   std::string(unsupported_hint(name)));
                return failure("unknown option " + quoted(spelled));
            }
        } else {
            spelled = std::string(a.substr(0, 2));
            def = find_short(a[1]);
            if (!def) return failure("unknown option " + quoted(spelled));
            std::string_view rest = a.substr(2);
            if (!rest.empty()) {
                if (rest.front() == '=') rest.remove_prefix(1);
                inline_value = rest;
            }
        }

        if (def->kind == Kind::Flag) {
            if (inline_value) return failure("option " + spelled + " takes no value");
            set_flag(def->opt, o);
            if (def->opt == Opt::Help || def->opt == Opt::Version) return success(std::move(o));
            continue;
        }

        std::vector<std::string_view> values;
        auto is_list_value = [&](const std::string& next) {
            return !is_option_like(next) && (def->kind != Kind::List || (next != kCheck && next != kPolicy));
        };
        if (inline_value) {
            values.push_back(*inline_value);
        } else if (i < args.size() && is_list_value(args[i])) {
            values.push_back(args[i++]);
        } else {
            return failure("option " + spelled + " needs a value");
        }
        if (def->kind == Kind::List) {
            while (i < args.size() && is_list_value(args[i])) values.push_back(args[i++]);
        } else {
            if (std::find(given.begin(), given.end(), def->opt) != given.end())
                return failure("option " + spelled + " is given more than once");
            given.push_back(def->opt);
        }

        if (def->opt == Opt::Host && !std::exchange(hosts_given, true)) o.hosts.clear();
        if (def->opt == Opt::SocksClients && !std::exchange(clients_given, true)) o.socks_clients.clear();
        for (std::string_view value : values) {
            std::vector<std::string_view> items;
            if (def->kind == Kind::List) {
                size_t start = 0;
                for (;;) {
                    size_t comma = value.find(',', start);
                    items.push_back(trim(value.substr(start, comma - start)));
                    if (comma == std::string_view::npos) break;
                    start = comma + 1;
                }
            } else {
                items.push_back(value);
            }
            for (std::string_view item : items) {
                if (def->kind == Kind::List && item.empty())
                    return failure("invalid value " + quoted(value) + " for " + spelled + ": an empty list item");
                if (auto why = apply(def->opt, item, o))
                    return failure("invalid value " + quoted(item) + " for " + spelled + ": " + *why);
            }
        }
    }
    return success(std::move(o));
}

std::optional<std::string> validate(const Options& o) {
    if (o.ports.empty()) return "no port to listen on: give -p/--port";
    for (size_t i = 0; i < o.ports.size(); ++i) {
        if (o.ports[i] == 0) return "-p/--port 0: the port has to be between 1 and 65535";
        for (size_t j = 0; j < i; ++j)
            if (o.ports[j] == o.ports[i]) return "-p/--port " + std::to_string(o.ports[i]) + " is given twice";
    }
    for (size_t i = 0; i < o.hosts.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (o.hosts[j] == o.hosts[i]) return "-b/--host " + o.hosts[i].ip_string() + " is given twice";
    if (o.socks5.empty() && o.http.empty() && o.list_path.empty() && !o.allow_direct)
        return "no proxy server: give -s/--socks5, -t/--http or -l/--list (or --allow-direct to connect directly)";
    for (const auto& [specs, name] : {std::pair{&o.socks5, "-s/--socks5 "}, std::pair{&o.http, "-t/--http "}}) {
        for (const ServerSpec& s : *specs)
            if (std::string why = endpoint_problem(s.address); !why.empty())
                return name + s.address.to_string() + ": " + why;
    }
    if (auto dup = find_duplicate_tag(command_line_servers(o), "")) return *dup;
    if (std::string why = endpoint_problem(o.test_dns); !why.empty())
        return "--test-dns " + o.test_dns.to_string() + ": " + why;
    if (o.graphite)
        if (std::string why = endpoint_problem(*o.graphite); !why.empty())
            return "--graphite " + o.graphite->to_string() + ": " + why;
    if (o.max_wait_ms == 0) return "--max-wait has to be more than 0 seconds";
    if (o.n_parallel < 1) return "--n-parallel has to be at least 1";
    if (o.n_parallel > kMaxParallel)
        return "--n-parallel " + std::to_string(o.n_parallel) + " is more than " + std::to_string(kMaxParallel) +
               " (every connection would hold that many dial slots)";
    if (o.threads > kMaxThreads) return "--threads has to be at most " + std::to_string(kMaxThreads);
    if (o.check_no_bind && !o.check) return "--no-bind belongs to the check subcommand: check --no-bind ...";
    if (o.check && o.policy_get) return "check and policy get are two subcommands: give one";
    if (!o.policy_get && (o.get_listen_port || o.get_dst_ip || o.get_dst_domain))
        return "--listen-port, --dst-ip and --dst-domain belong to the policy get subcommand: policy get --dst-ip ...";
    return std::nullopt;
}

std::string usage(std::string_view argv0) {
    // The syntax column is as wide as the longest entry, so every option stays on one line.
    std::vector<std::pair<std::string, const OptionDef*>> rows;
    size_t width = 0;
    for (const OptionDef& d : kOptions) {
        std::string syntax = d.short_name ? std::string("-") + d.short_name + ", " : "    ";
        syntax += "--" + std::string(d.long_name);
        if (!d.value_name.empty()) syntax += " " + std::string(d.value_name);
        width = std::max(width, syntax.size());
        rows.emplace_back(std::move(syntax), &d);
    }
    std::string out = "Usage: " + std::string(argv0) + " [check [--no-bind]] --port <PORT>... [OPTIONS]\n\n"
                      "Relays redirected TCP connections (iptables -j REDIRECT) through SOCKSv5/HTTP proxies, the\n"
                      "fastest first. Lists take commas or several arguments: -s 2001,2002 or --socks5 2001 2002.\n\n"
                      "Subcommand:\n"
                      "  check [--no-bind]  Check the configuration (and that the listeners bind), then exit\n"
                      "  policy get [--listen-port <N>] [--dst-ip <IP>] [--dst-domain <NAME>]\n"
                      "                     Print the --policy action for such a connection, and the servers\n"
                      "                     it allows\n\n"
                      "Options:\n";
    for (const auto& [syntax, d] : rows) {
        out += "  " + syntax + std::string(width - syntax.size() + 2, ' ') + std::string(d->help);
        if (!d->default_text.empty()) out += " [default: " + std::string(d->default_text) + "]";
        out += "\n";
    }
    return out;
}

std::string usage_error_text(std::string_view message, std::string_view argv0) {
    return "error: " + std::string(message) + "\n\nFor more information, try '" + std::string(argv0) + " --help'.\n";
}

std::vector<ServerConfig> command_line_servers(const Options& o) {
    std::vector<ServerConfig> out;
    for (const auto& [specs, protocol] :
         {std::pair{&o.socks5, Protocol::Socks5}, std::pair{&o.http, Protocol::Http}}) {
        for (const ServerSpec& s : *specs) {
            ServerConfig c;
            c.tag = s.tag;
            c.protocol = protocol;
            c.address = s.address;
            out.push_back(std::move(c));
        }
    }
    return out;
}

log::Level min_log_level(LogLevel level) {
    switch (level) {
        case LogLevel::Off: return log::Level::Fatal;
        case LogLevel::Error: return log::Level::Error;
        case LogLevel::Warn: return log::Level::Warn;
        case LogLevel::Info: return log::Level::Info;
        case LogLevel::Debug:
        case LogLevel::Trace: return log::Level::Debug;
    }
    return log::Level::Info;
}

}  // namespace ferry::moproxy
