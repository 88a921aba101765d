// moproxy mode = REDIRECT (or SOCKS5) inbound x the best of several SOCKS5/HTTP proxies x splice relay, behind
// moproxy 0.5.1's command line and server list, with a prober thread ranking the proxies and a status page.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <cstdio>

#include "outbound/dialer.h"
#include "inbound/redirect_inbound.h"
#include "modes/moproxy/moproxy_log.h"
#include "support/file_util.h"
#include "support/log.h"
#include "modes/modes.h"
#include "modes/privilege_needs.h"
#include "modes/moproxy/moproxy_options.h"
#include "modes/moproxy/moproxy_policy.h"
#include "backends/prober.h"
#include "backends/server_list.h"
#include "backends/server_names.h"
#include "engine/service.h"
#include "core/socket_util.h"
#include "backends/status_server.h"
#include "support/subnets.h"
#include "support/version.h"

namespace ferry {
namespace {

// How long a SOCKS5 client has for its greeting and request (the reference has no bound at all).
constexpr uint64_t kSocksHandshakeTimeoutMs = 10000;

// The command-line servers, then the list file's, its host names resolved within resolve_timeout_ms. Returns
// the error text on failure.
std::string collect_servers(const moproxy::Options& options, std::vector<backends::ServerConfig>& out,
                            unsigned resolve_timeout_ms) {
    out = moproxy::command_line_servers(options);
    if (!options.list_path.empty()) {
        auto loaded = backends::load_server_list(options.list_path);
        if (!loaded.ok()) return loaded.error;
        if (auto error = backends::resolve_server_names(*loaded.servers, options.list_path, resolve_timeout_ms))
            return *error;
        for (auto& s : *loaded.servers) out.push_back(std::move(s));
    }
    if (auto many = backends::check_server_count(out)) return *many;
    if (auto dup = backends::find_duplicate_tag(out, options.list_path)) return *dup;
    if (out.empty() && !options.allow_direct)
        return "no upstream proxy: give -s/--socks5, -t/--http or -l/--list (or --allow-direct)";
    return {};
}

// Whether an IPv6 loopback socket can be bound here (routers often run without IPv6).
bool ipv6_loopback_usable() {
    Fd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return false;
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

std::vector<SocketAddress> listen_addresses(const moproxy::Options& options) {
    std::vector<SocketAddress> out;
    std::vector<SocketAddress> hosts = options.hosts;
    // The default pair without IPv6 on the host: loopback IPv4 alone, rather than failing to start.
    if (hosts == moproxy::default_hosts() && !ipv6_loopback_usable())
        hosts.erase(std::remove_if(hosts.begin(), hosts.end(), [](const SocketAddress& a) { return a.is_v6(); }),
                    hosts.end());
    for (const auto& host : hosts)
        for (uint16_t port : options.ports) {
            SocketAddress a = host;
            a.set_port(port);
            out.push_back(a);
        }
    return out;
}

// `check` for --stats-bind /PATH: bind there (a stale file is replaced) and remove the file again; a running ferry
// serving the path passes, as a TCP address it holds with SO_REUSEPORT does. "" or the error.
std::string check_unix_listener(const std::string& path) {
    std::string error;
    if (Fd fd = listen_unix(path, SOCK_STREAM, false, 1, &error)) {
        ::unlink(path.c_str());
        return {};
    }
    struct stat st;
    const bool live = errno == EADDRINUSE && ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
    return live ? std::string() : error;
}

}  // namespace

int run_moproxy(const std::vector<std::string>& args, const std::string& argv0) {
    auto parsed = moproxy::parse(args);
    if (!parsed.ok()) {
        write_text(2, moproxy::usage_error_text(parsed.error, argv0));
        return moproxy::kUsageErrorExit;
    }
    moproxy::Options options = *parsed.options;
    if (options.help) {
        write_text(1, moproxy::usage(argv0));
        return 0;
    }
    if (options.version) {
        write_text(1, std::string("ferry ") + FERRY_VERSION + " (moproxy mode)\n");
        return 0;
    }
    if (auto invalid = moproxy::validate(options)) {
        write_text(2, moproxy::usage_error_text(*invalid, argv0));
        return moproxy::kUsageErrorExit;
    }
    log::set_min_level(moproxy::min_log_level(options.log_level));

    std::vector<backends::ServerConfig> servers;
    if (std::string error = collect_servers(options, servers, backends::kStartResolveTimeoutMs); !error.empty()) {
        FERRY_LOG(Fatal, "bad configuration").str("error", error);
        return 1;
    }
    std::string policy_error;
    std::shared_ptr<const policy::Policy> rules = moproxy::load_policy(options, &policy_error);
    if (!policy_error.empty()) {
        FERRY_LOG(Fatal, "bad configuration").str("error", policy_error);
        return 1;
    }
    if (options.policy_get) {
        write_text(1, moproxy::policy_get_text(rules.get(), options, servers));
        return 0;
    }
    const auto addresses = listen_addresses(options);
    // --user: looked up now, so a typo fails before anything is bound (and `check` finds it too).
    std::optional<privileges::DropTarget> drop_to;
    if (options.user_spec) {
        std::string why;
        auto identity = privileges::resolve_user(*options.user_spec, &why);
        if (!identity) {
            FERRY_LOG(Fatal, "bad configuration").str("error", "--user " + options.user + ": " + why);
            return 1;
        }
        drop_to = privileges::DropTarget{std::move(*identity), moproxy_requirements(options.mark)};
    }

    if (options.check) {
        ListenOptions check_options;
        check_options.congestion = options.congestion_local;
        if (!options.check_no_bind) {
            for (const auto& a : addresses) {
                std::string error;
                if (!listen_tcp(a, check_options, &error)) {
                    FERRY_LOG(Fatal, "failed to bind listener").str("listenAdr", a.to_string()).str("error", error);
                    return 1;
                }
            }
            if (options.stats_bind) {
                std::string error;
                if (!listen_tcp(*options.stats_bind, ListenOptions{}, &error)) {
                    FERRY_LOG(Fatal, "failed to bind listener")
                        .str("listenAdr", options.stats_bind->to_string())
                        .str("error", error);
                    return 1;
                }
            }
            if (!options.stats_path.empty()) {
                if (std::string error = check_unix_listener(options.stats_path); !error.empty()) {
                    FERRY_LOG(Fatal, "failed to bind listener")
                        .str("listenAdr", options.stats_path)
                        .str("error", error);
                    return 1;
                }
            }
        }
        write_text(1, "configuration OK: " + std::to_string(servers.size()) + " upstream prox" +
                        (servers.size() == 1 ? "y" : "ies") + ", " + std::to_string(addresses.size()) +
                        " listening address" + (addresses.size() == 1 ? "" : "es") + "\n");
        return 0;
    }

    // SIGHUP must be blocked before the prober thread exists, or its default action would end the process.
    block_shutdown_signals(true);

    backends::TableCell table;
    backends::Prober::Config pc;
    pc.probe_seconds = options.probe_seconds;
    pc.test_dns = options.test_dns;
    pc.max_wait_ms = options.max_wait_ms;
    pc.tfo = options.tfo;
    pc.mark = options.mark;
    pc.device = options.interface;
    pc.graphite = options.graphite;
    if (options.graphite && options.probe_seconds == 0) {
        FERRY_LOG(Warn, "--graphite sends after each probe round: with --probe 0 nothing is sent (as moproxy)");
    }
    backends::Prober prober(pc, table);
    prober.set_servers(servers);
    for (const auto& s : servers)
        FERRY_LOG(Info, "upstream proxy")
            .str("server", s.tag)
            .str("protocol", std::string(backends::protocol_name(s.protocol)))
            .str("address", s.address.to_string());

    subnets::SubnetList socks_clients(options.socks_clients);
    Socks5Inbound socks(socks_clients);
    RedirectInbound inbound(&socks);
    rcu::Cell<policy::Published> policy_cell;
    auto publish_policy = [&](std::shared_ptr<const policy::Policy> next) {
        if (next) {
            FERRY_LOG(Info, "policy loaded")
                .str("file", next->file())
                .num("rules", static_cast<int64_t>(next->rule_count()));
        }
        policy_cell.publish(std::make_unique<policy::Published>(policy::Published{std::move(next)}));
    };
    publish_policy(rules);
    DirectStats direct;
    Route route;  // through the ranked proxies, then (--allow-direct) straight to the destination
    route.hop = Route::Hop::Proxies;
    route.table = &table;
    route.allow_direct = options.allow_direct;
    route.race = options.n_parallel;
    route.tfo = options.tfo;
    route.max_wait_ms = options.max_wait_ms;
    route.direct_stats = &direct;
    route.mark = options.mark;
    route.device = options.interface;
    if (!options.policy_path.empty()) route.policy = &policy_cell;
    Dialer outbound(route);
    metrics::Registry metrics;
    backends::StatusServer status(table, direct, &metrics);
    moproxy::ConnectionLog connection_log;

    auto listener = std::make_shared<ListenerConfig>();
    listener->listen = addresses;
    listener->listen_options.congestion = options.congestion_local;
    listener->inbound = &inbound;
    listener->outbound = &outbound;
    listener->header_timeout_ms = kSocksHandshakeTimeoutMs;
    listener->connect_timeout_ms = options.max_wait_ms;
    listener->idle_timeout_ms = options.idle_timeout_ms;
    listener->halfclose_timeout_ms = options.halfclose_timeout_ms;
    listener->observer = &connection_log;
    if (options.remote_dns) listener->sniff = SniffConfig{};

    ServiceConfig config;
    config.listeners.push_back(listener);
    config.threads = options.threads;
    config.overload = options.overload;
    config.takeover = options.takeover;
    backends::hand_over_statistics(prober, config.takeover);
    if (options.stats_bind || !options.stats_path.empty()) {
        config.extra_listeners.push_back({options.stats_bind.value_or(SocketAddress{}), &status, "status",
                                          options.stats_path});
        config.metrics = &metrics;
    }
    config.drop_to = std::move(drop_to);
    config.on_reload = [&] {
        std::vector<backends::ServerConfig> next;
        if (std::string error = collect_servers(options, next, backends::kReloadResolveTimeoutMs); !error.empty()) {
            FERRY_LOG(Error, "reload failed, keeping the current server list").str("error", error);
            return;
        }
        // As moproxy: the server list and the policy are taken together or not at all.
        std::shared_ptr<const policy::Policy> next_rules = moproxy::load_policy(options, &policy_error);
        if (!policy_error.empty()) {
            FERRY_LOG(Error, "reload failed, keeping the current server list and policy").str("error", policy_error);
            return;
        }
        FERRY_LOG(Info, "reloaded server list").num("servers", static_cast<int64_t>(next.size()));
        prober.set_servers(std::move(next));
        if (next_rules) publish_policy(std::move(next_rules));
    };

    config.watched_loops.push_back({"ferry-prober", &prober.loop()});
    // The prober's thread starts once the privileges are dropped (run_service's on_ready): a thread started
    // before would keep them.
    int rc = run_service(std::move(config), [&] { prober.start(); });
    prober.stop();
    return rc;
}

}  // namespace ferry
