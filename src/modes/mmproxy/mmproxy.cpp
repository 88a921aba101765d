// mmproxy mode = PROXY-header inbound x spoofed direct outbound x splice relay, behind go-mmproxy 2.1's
// command line, log lines and exit codes.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "support/file_util.h"
#include "support/log.h"
#include "support/net_names.h"
#include "modes/mmproxy/connmark_check.h"
#include "modes/mmproxy/mmproxy_options.h"
#include "modes/modes.h"
#include "modes/privilege_needs.h"
#include "support/routing.h"
#include "engine/service.h"
#include "core/resolve.h"
#include "core/socket_util.h"
#include "inbound/proxy_header_inbound.h"
#include "modes/stats_service.h"
#include "modes/slog_log.h"
#include "modes/zap_log.h"
#include "outbound/dialer.h"
#include "support/subnets.h"

namespace ferry {
namespace {

int fatal(const std::string& message, const std::vector<mmproxy::LogField>& fields = {}) {
    {
        log::Line line(log::Level::Fatal, message, "ferry/mode_mmproxy.cpp");
        for (const auto& f : fields) {
            if (auto* n = std::get_if<int64_t>(&f.value))
                line.num(f.key, *n);
            else
                line.str(f.key, std::get<std::string>(f.value));
        }
    }
    return 1;
}

// IP_TRANSPARENT needs CAP_NET_ADMIN. Asking once at start gives one clear line instead of a failure on every
// connection.
std::string check_transparent_permitted() {
    const int err = try_transparent();
    if (err == EPERM || err == EACCES) return option_error("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1)", err);
    return {};
}

// go-mmproxy 2.3 (kzemek) takes host names in -4 and -6 and resolves them once at start, -4 to an IPv4 address
// and -6 to an IPv6 one. A name is replaced here by the address it resolves to (an unresolvable one fails the
// start); anything else is left for validate() to judge. -l stays literal: a host name there is refused, as
// before 2.3 support.
std::optional<mmproxy::ValidationError> resolve_target_names(mmproxy::Options* o) {
    struct Target {
        std::string* text;
        int family;
        const char* flag;
        const char* key;
    };
    for (const Target& t : {Target{&o->target_v4, AF_INET, "-4", "targetAddr4"},
                            Target{&o->target_v6, AF_INET6, "-6", "targetAddr6"}}) {
        const std::string& text = *t.text;
        if (parse_host_port(text)) continue;
        const size_t colon = text.rfind(':');
        if (colon == std::string::npos || colon == 0) continue;
        const std::string host = text.substr(0, colon);
        const std::string port_text = text.substr(colon + 1);
        const bool name = is_host_name(host);  // literals, good or bad, are validate()'s
        const bool digits = !port_text.empty() && port_text.size() <= 5 &&
                            port_text.find_first_not_of("0123456789") == std::string::npos;
        if (!name || !digits || std::stoul(port_text) > 65535) continue;
        std::string why;
        auto address = resolve_first(host, static_cast<uint16_t>(std::stoul(port_text)), t.family, false, &why);
        if (!address) {
            return mmproxy::ValidationError{std::string(t.flag) + " " + goflag::quote(text) + ": " + why,
                                            {{t.key, text}}};
        }
        FERRY_LOG(Info, "resolved target").str("flag", t.flag).str("host", host).str("address", address->to_string());
        *t.text = address->to_string();
    }
    return std::nullopt;
}

// With -mark, the families whose replies come from off loopback: a -4 / -6 target that is not on loopback, or
// any with -dynamic-destination (a header may name any address). Those need the fwmark rule and CONNMARK.
mmproxy::Families remote_families(const mmproxy::Options& o) {
    if (o.mark == 0) return {};
    return {o.dynamic_destination || !o.target4.is_loopback(), o.dynamic_destination || !o.target6.is_loopback()};
}

// cloudflare/mmproxy's start-up check, as a warning: the CONNMARK rules that bring replies back (kzemek's
// examples/docker), with the exact commands when they are missing. The start goes on either way: the rules may
// come later, and neither go-mmproxy nor cloudflare/mmproxy refuses to start without them.
void check_connmark(const mmproxy::Options& o, mmproxy::Families wanted) {
    const auto mark = static_cast<uint32_t>(o.mark);
    const mmproxy::Families found = mmproxy::find_connmark_rules(mark, wanted);
    const bool v4_missing = wanted.v4 && !found.v4;
    const bool v6_missing = wanted.v6 && !found.v6;
    if (!v4_missing && !v6_missing) {
        FERRY_LOG(Info, "CONNMARK rules found").num("mark", o.mark);
        return;
    }
    auto joined = [](const std::vector<std::string>& commands) {
        std::string text;
        for (const auto& c : commands) text += (text.empty() ? "" : "; ") + c;
        return text;
    };
    std::string families = v4_missing && v6_missing ? "IPv4 and IPv6" : v4_missing ? "IPv4" : "IPv6";
    log::Line line(log::Level::Warn, "replies from targets off loopback will not come back: CONNMARK rules missing",
                   "ferry/mmproxy.cpp");
    line.num("mark", o.mark).str("families", families);
    if (v4_missing) line.str("iptables", joined(mmproxy::iptables_commands(false, mark)));
    if (v6_missing) line.str("ip6tables", joined(mmproxy::iptables_commands(true, mark)));
    line.str("nftables", joined(mmproxy::nftables_commands(mark)));
}

}  // namespace

int run_mmproxy(const std::vector<std::string>& args, const std::string& argv0) {
    auto parsed = mmproxy::parse_flags(args, argv0);
    if (parsed.kind == mmproxy::OutcomeKind::Help || parsed.kind == mmproxy::OutcomeKind::FlagError) {
        write_text(2, parsed.stderr_text);
        return parsed.exit_code;
    }
    mmproxy::Options options = parsed.options;
    if (options.log_format == "slog") {  // kzemek/go-mmproxy 2.3: slog's JSONHandler on stdout
        log::set_format(log::Format::SlogJson);
        log::set_fd(1);
    }
    log::set_min_level(options.verbose >= 1 ? log::Level::Debug : log::Level::Info);

    // go-mmproxy 2.1 loads the allow-list before it checks the other flags: its errors come first.
    subnets::SubnetList allowed;
    if (!options.allowed_subnets_path.empty()) {
        auto loaded = subnets::load_file(options.allowed_subnets_path);
        if (!loaded.ok())
            return fatal("failed to load allowed subnets file",
                         {{"path", options.allowed_subnets_path}, {"error", loaded.error}});
        allowed = std::move(*loaded.list);
        for (const auto& p : allowed.prefixes()) FERRY_LOG(Info, "allowed subnet").str("subnet", p.to_string());
    }
    if (auto invalid = resolve_target_names(&options)) return fatal(invalid->message, invalid->fields);
    if (auto invalid = mmproxy::validate(&options)) return fatal(invalid->message, invalid->fields);
    if (std::string why = check_transparent_permitted(); !why.empty())
        return fatal("cannot spoof client addresses", {{"error", why}});
    // -user: looked up now, so a typo fails before anything is bound or routed; dropped to once bound.
    std::optional<privileges::DropTarget> drop_to;
    if (options.user_spec) {
        std::string why;
        auto identity = privileges::resolve_user(*options.user_spec, &why);
        if (!identity) return fatal("cannot use -user", {{"user", options.user}, {"error", why}});
        drop_to = privileges::DropTarget{std::move(*identity), mmproxy_requirements(options)};
    }

    // From here on SIGINT/SIGTERM wait for run_service, so the routing added below is always removed.
    block_shutdown_signals();
    routing::PolicyRouting routes;
    if (options.routing) {
        std::string error;
        routing::Plan plan;
        plan.table = static_cast<uint32_t>(options.routing_table);
        const mmproxy::Families remote = remote_families(options);
        if (remote.v4 || remote.v6) plan.fwmark = static_cast<uint32_t>(options.mark);
        if (!routes.install(plan, &error)) return fatal("failed to setup routing rules", {{"error", error}});
        for (const auto& note : routes.notes()) FERRY_LOG(Info, "routing left as is").str("note", note);
        for (const auto& change : routes.added()) FERRY_LOG(Info, "added routing").str("rule", change.text);
    }
    if (const mmproxy::Families remote = remote_families(options); remote.v4 || remote.v6)
        check_connmark(options, remote);

    ProxyHeaderInbound inbound(proxy::ParseOptions{});
    Route route;  // to -4 / -6 (or the header's destination) from the header's source, as go-mmproxy's dialer
                  // does (TCP_SYNCNT 2)
    // -dynamic-destination (kzemek 2.3): the header's destination; -4 / -6 still serve LOCAL and UNKNOWN headers.
    route.target4 = options.target4;
    route.target6 = options.target6;
    route.learned_first = options.dynamic_destination;
    route.allowed_destinations = options.destination_rules;
    route.source = Route::Source::Client;
    route.mark = static_cast<uint32_t>(options.mark);
    route.syn_retries = 2;
    Dialer outbound(route);
    ZapLog zap_log({static_cast<int>(options.verbose), log::Level::Debug, false});
    SlogLog slog_log(static_cast<int>(options.verbose));

    // -p udp / -p all (the Azusa fork's extension: both on the same address).
    UdpServiceConfig udp;
    udp.targets.v4 = options.target4;
    udp.targets.v6 = options.target6;
    udp.targets.dynamic = options.dynamic_destination;
    udp.targets.allowed_destinations = options.destination_rules;
    udp.mark = static_cast<uint32_t>(options.mark);
    udp.close_after_ms = static_cast<uint64_t>(options.close_after_seconds) * 1000;
    udp.allowed = allowed.empty() ? nullptr : &allowed;
    udp.verbose = static_cast<int>(options.verbose);

    auto listener = std::make_shared<ListenerConfig>();
    listener->listen.push_back(options.listen);
    listener->listen_options.transparent = options.listen_transparent;
    listener->tcp = options.protocol != mmproxy::Protocol::Udp;
    if (options.protocol != mmproxy::Protocol::Tcp) listener->udp = &udp;
    listener->sockets_per_address = static_cast<size_t>(options.listeners);
    listener->inbound = &inbound;
    listener->outbound = &outbound;
    listener->allowed = allowed.empty() ? nullptr : &allowed;
    listener->header_timeout_ms = goflag::ceil_ms(options.header_timeout);
    listener->connect_timeout_ms = goflag::ceil_ms(options.connect_timeout);
    listener->idle_timeout_ms = goflag::ceil_ms(options.idle_timeout);
    listener->halfclose_timeout_ms = goflag::ceil_ms(options.halfclose_timeout);
    listener->relay_mode = options.relay_mode;
    listener->observer = options.log_format == "slog" ? static_cast<const ConnectionObserver*>(&slog_log) : &zap_log;

    ServiceConfig config;
    config.listeners.push_back(listener);
    config.threads = static_cast<size_t>(options.threads);
    config.overload = options.overload_config;
    StatsService stats("mmproxy");
    stats.attach(config, options.stats_address);
    config.takeover = options.takeover_config;
    // A successor takes over our policy routing (one add text per line) and removes it at its own exit.
    config.takeover.save_state = [&routes] {
        std::string state;
        for (const auto& change : routes.added()) state += change.text + "\n";
        return state;
    };
    config.takeover.restore_state = [&routes](std::string_view state) {
        std::vector<std::string> texts;
        for (size_t at = 0, end; at < state.size(); at = end + 1) {
            end = std::min(state.find('\n', at), state.size());
            texts.emplace_back(state.substr(at, end - at));
        }
        for (const auto& change : routes.adopt(texts))
            FERRY_LOG(Info, "routing taken over").str("rule", change.text);
    };
    config.drop_to = std::move(drop_to);

    Service service(std::move(config));
    int status = service.run();
    if (service.handed_over()) {
        for (const auto& change : routes.added())
            FERRY_LOG(Info, "routing left to the successor").str("rule", change.text);
        return status;
    }

    std::vector<routing::Change> removed;
    for (const auto& failure : routes.remove(&removed)) FERRY_LOG(Error, "failed to remove routing").str("error", failure);
    for (const auto& change : removed) FERRY_LOG(Info, "removed routing").str("rule", change.undo_text);
    return status;
}

}  // namespace ferry
