// `ferry run FILE`: ferry's own configuration (modes/run/run_config.h) turned into listeners, each its own
// combination of an inbound, a Route (outbound/route.h) and a relay, with the ranked [server]s probed by one
// prober and shown on one status page. SIGHUP reads the file again: listeners take their new combination for
// new connections (those already relaying keep theirs), servers keep their statistics, and a file with an
// error changes nothing.
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "backends/policy.h"
#include "backends/prober.h"
#include "backends/server_names.h"
#include "backends/status_server.h"
#include "core/socket_util.h"
#include "engine/service.h"
#include "inbound/proxy_header_inbound.h"
#include "inbound/redirect_inbound.h"
#include "inbound/socks5_inbound.h"
#include "inbound/srcproxy_inbound.h"
#include "inbound/transparent_inbound.h"
#include "modes/modes.h"
#include "modes/privilege_needs.h"
#include "modes/run/run_config.h"
#include "modes/run/run_log.h"
#include "outbound/dialer.h"
#include "support/file_util.h"
#include "support/log.h"
#include "support/subnets.h"

namespace ferry {
namespace {

constexpr int kUsageExit = 2;

std::string usage(const std::string& argv0) {
    return "Usage: " + argv0 +
           " [--check] FILE\n\n"
           "Runs the listeners, servers and ACLs of an INI file (see conf/ferry-run.ini); SIGHUP reads it again.\n\n"
           "  --check    read and check FILE (and the files it names), print a summary and exit\n"
           "  -h, --help this text\n";
}

// What one listener's combination points into: owned by its ListenerConfig, so it lives as long as a
// connection of it does.
struct ListenerParts {
    subnets::SubnetList allowed;
    subnets::SubnetList socks_clients;
    std::unique_ptr<Socks5Inbound> socks;
    srcproxy::Acl acl;
    std::unique_ptr<Inbound> inbound;
    rcu::Cell<policy::Published> policy;  // the listener's `policy` file, as loaded when it was built
    std::unique_ptr<Dialer> outbound;
};

// What every listener shares for the life of the process.
struct Shared {
    backends::TableCell table;
    DirectStats direct;
    run::ConnectionLog log;
};

std::string at(const std::string& file, int line, const std::string& message) {
    return file + ":" + std::to_string(line) + ": " + message;
}

log::Level level_of(const std::string& name) {
    if (name == "debug") return log::Level::Debug;
    if (name == "warn") return log::Level::Warn;
    if (name == "error") return log::Level::Error;
    return log::Level::Info;
}

// Builds one listener; returns the error ("FILE:LINE: ...") of a file it names or a privilege it lacks.
std::string build_listener(const std::string& file, const run::RunConfig& config, const run::ListenerSection& l,
                           Shared& shared, std::shared_ptr<ListenerConfig>& out) {
    auto parts = std::make_shared<ListenerParts>();
    auto listener = std::make_shared<ListenerConfig>();
    listener->name = l.name;
    listener->listen = l.listen;
    if (!l.allowed_subnets.empty()) {
        auto loaded = subnets::load_file(l.allowed_subnets);
        if (!loaded.ok()) return at(file, l.line_of("allowed-subnets"), "key \"allowed-subnets\": " + loaded.error);
        parts->allowed = std::move(*loaded.list);
        listener->allowed = &parts->allowed;
    }
    const bool transparent = l.inbound == run::InboundKind::Tproxy || l.source == run::SourceKind::Client;
    if (transparent) {
        if (int e = try_transparent()) {
            const char* key = l.source == run::SourceKind::Client ? "source" : "inbound";
            return at(file, l.line_of(key), std::string("key \"") + key + "\": " +
                                                 option_error("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1)", e));
        }
    }
    parts->socks_clients = subnets::SubnetList(l.socks_clients);
    switch (l.inbound) {
        case run::InboundKind::ProxyProtocol:
            parts->inbound = std::make_unique<ProxyHeaderInbound>(proxy::ParseOptions{});
            break;
        case run::InboundKind::Redirect:
            parts->socks = std::make_unique<Socks5Inbound>(parts->socks_clients);
            parts->inbound = std::make_unique<RedirectInbound>(parts->socks.get());
            break;
        case run::InboundKind::Tproxy:
            parts->inbound = std::make_unique<TransparentInbound>(l.listen);
            listener->listen_options.transparent = true;
            break;
        case run::InboundKind::Srcproxy: {
            std::vector<srcproxy::AclEntry> entries;
            for (const std::string& name : l.acl)
                for (const run::AclSection& a : config.acls)
                    if (a.name == name) entries.push_back(a.entry);
            auto built = srcproxy::Acl::build(std::move(entries));
            if (!built.ok()) return at(file, l.line_of("acl"), "key \"acl\": " + built.error);
            parts->acl = std::move(*built.acl);
            parts->inbound = std::make_unique<SrcproxyHeaderInbound>(parts->acl);
            break;
        }
        case run::InboundKind::Socks5:
            parts->inbound = std::make_unique<Socks5Inbound>(parts->socks_clients);
            break;
        case run::InboundKind::Plain:
            parts->inbound = std::make_unique<PlainInbound>();
            break;
    }

    Route route;
    if (!l.target_original) {
        route.target4 = l.target4;
        route.target6 = l.target6;
    }
    route.allowed_destinations = l.allowed_destinations;
    switch (l.via) {
        case run::ViaKind::Direct: route.hop = Route::Hop::Direct; break;
        case run::ViaKind::Proxies: route.hop = Route::Hop::Proxies; break;
        case run::ViaKind::Srcproxy: route.hop = Route::Hop::Srcproxy; break;
    }
    route.table = &shared.table;
    route.allow_direct = l.allow_direct;
    route.race = l.race;
    route.max_wait_ms = config.globals.max_wait_ms;
    route.direct_stats = &shared.direct;
    route.srcproxy_server = l.srcproxy_server;
    route.srcproxy_auth = srcproxy::auth_digest(l.srcproxy_auth);
    route.source = l.source == run::SourceKind::Client ? Route::Source::Client : Route::Source::Own;
    route.bind_ip = l.bind;
    route.send_proxy = l.send_proxy;
    route.mark = l.mark;
    route.device = l.interface;
    route.tfo = l.tfo;
    if (!l.policy.empty()) {
        policy::PolicyResult loaded = policy::load_policy(l.policy);
        if (!loaded.ok()) return at(file, l.line_of("policy"), "key \"policy\": " + loaded.error);
        parts->policy.publish(std::make_unique<policy::Published>(policy::Published{std::move(loaded.policy)}));
        route.policy = &parts->policy;
    }
    parts->outbound = std::make_unique<Dialer>(std::move(route));

    listener->inbound = parts->inbound.get();
    listener->outbound = parts->outbound.get();
    listener->header_timeout_ms = l.header_timeout_ms;
    listener->connect_timeout_ms = l.connect_timeout_ms;
    listener->idle_timeout_ms = l.idle_timeout_ms;
    listener->halfclose_timeout_ms = l.halfclose_timeout_ms;
    listener->relay_mode = l.relay;
    if (l.remote_dns) listener->sniff = SniffConfig{};
    listener->observer = &shared.log;
    listener->parts = std::move(parts);
    out = std::move(listener);
    return {};
}

// Every listener of `config`, or the first error.
std::string build_all(const std::string& file, const run::RunConfig& config, Shared& shared,
                      std::vector<std::shared_ptr<const ListenerConfig>>& out) {
    out.clear();
    for (const auto& l : config.listeners) {
        std::shared_ptr<ListenerConfig> built;
        if (std::string error = build_listener(file, config, l, shared, built); !error.empty()) return error;
        out.push_back(std::move(built));
    }
    return {};
}

void log_combinations(const run::RunConfig& config) {
    for (const auto& l : config.listeners) {
        std::string listen;
        for (const auto& a : l.listen) listen += (listen.empty() ? "" : ",") + a.to_string();
        std::string target = "original";
        if (!l.target_original) {
            target.clear();
            for (const auto& t : {l.target4, l.target6})
                if (t) target += (target.empty() ? "" : ",") + t->to_string();
        }
        std::string via(run::via_name(l.via));
        if (l.via == run::ViaKind::Srcproxy) via += ":" + l.srcproxy_server.to_string();
        FERRY_LOG(Info, "listener")
            .str("listener", l.name)
            .str("listen", listen)
            .str("inbound", std::string(run::inbound_name(l.inbound)))
            .str("target", target)
            .str("via", via)
            .str("source", l.source == run::SourceKind::Client ? "client" : "own")
            .str("sendProxy", l.send_proxy == SendProxy::V1   ? "v1"
                              : l.send_proxy == SendProxy::V2 ? "v2"
                                                              : "none");
    }
}

}  // namespace

int run_run(const std::vector<std::string>& args, const std::string& argv0) {
    bool check = false;
    std::string file;
    for (const std::string& a : args) {
        if (a == "-h" || a == "--help" || a == "-help") {
            write_text(1, usage(argv0));
            return 0;
        }
        if (a == "--check" || a == "-check") {
            check = true;
        } else if (!a.empty() && a[0] == '-') {
            write_text(2, argv0 + ": unknown option " + a + "\n\n" + usage(argv0));
            return kUsageExit;
        } else if (file.empty()) {
            file = a;
        } else {
            write_text(2, argv0 + ": one configuration file only\n\n" + usage(argv0));
            return kUsageExit;
        }
    }
    if (file.empty()) {
        write_text(2, usage(argv0));
        return kUsageExit;
    }
    auto loaded = run::load_run_config(file);
    if (!loaded.ok()) {
        write_text(2, argv0 + ": " + loaded.error + "\n");
        return 1;
    }
    run::RunConfig config = std::move(*loaded.config);
    log::set_min_level(level_of(config.globals.log_level));
    if (auto error = backends::resolve_server_names(config.servers, file, backends::kStartResolveTimeoutMs)) {
        write_text(2, argv0 + ": " + *error + "\n");
        return 1;
    }

    Shared shared;
    std::vector<std::shared_ptr<const ListenerConfig>> listeners;
    if (std::string error = build_all(file, config, shared, listeners); !error.empty()) {
        write_text(2, argv0 + ": " + error + "\n");
        return 1;
    }
    // `user`: looked up now, so a typo fails before anything is bound (and --check finds it too).
    std::optional<privileges::DropTarget> drop_to;
    if (config.globals.user) {
        std::string why;
        auto identity = privileges::resolve_user(*config.globals.user, &why);
        if (!identity) {
            write_text(2, argv0 + ": " + at(file, config.globals.user_line, "key \"user\": " + why) + "\n");
            return 1;
        }
        drop_to = privileges::DropTarget{std::move(*identity), run_requirements(config)};
    }
    if (check) {
        write_text(1, "configuration OK: " + std::to_string(config.listeners.size()) + " listener" +
                          (config.listeners.size() == 1 ? "" : "s") + ", " + std::to_string(config.servers.size()) +
                          " server" + (config.servers.size() == 1 ? "" : "s") + "\n");
        return 0;
    }

    // SIGHUP must be blocked before the prober thread exists, or its default action would end the process.
    block_shutdown_signals(true);
    backends::Prober::Config pc;
    pc.probe_seconds = config.globals.probe_seconds;
    pc.test_dns = config.globals.test_dns;
    pc.max_wait_ms = config.globals.max_wait_ms;
    backends::Prober prober(pc, shared.table);
    prober.set_servers(config.servers);
    for (const auto& s : config.servers)
        FERRY_LOG(Info, "upstream proxy")
            .str("server", s.tag)
            .str("protocol", std::string(backends::protocol_name(s.protocol)))
            .str("address", s.address.to_string());
    log_combinations(config);
    metrics::Registry metrics;
    backends::StatusServer status(shared.table, shared.direct, &metrics, "run");

    ServiceConfig service_config;
    service_config.listeners = listeners;
    service_config.threads = config.globals.threads;
    service_config.overload = config.globals.overload;
    service_config.takeover = config.globals.takeover;
    // With servers, the successor keeps ranking them where we left off.
    backends::hand_over_statistics(prober, service_config.takeover);
    if (config.globals.status) {
        service_config.extra_listeners.push_back({*config.globals.status, &status, "status"});
        service_config.metrics = &metrics;
    }
    service_config.watched_loops.push_back({"ferry-prober", &prober.loop()});
    service_config.drop_to = std::move(drop_to);
    Service service(std::move(service_config));
    const std::optional<SocketAddress> status_address = config.globals.status;
    const OverloadConfig overload = config.globals.overload;
    const TakeoverConfig takeover = config.globals.takeover;
    const std::optional<privileges::UserSpec> user = config.globals.user;
    auto reload = [&] {
        auto next = run::load_run_config(file);
        if (!next.ok()) {
            FERRY_LOG(Error, "reload failed, keeping the running configuration").str("error", next.error);
            return;
        }
        if (auto error = backends::resolve_server_names(next.config->servers, file,
                                                        backends::kReloadResolveTimeoutMs)) {
            FERRY_LOG(Error, "reload failed, keeping the running configuration").str("error", *error);
            return;
        }
        std::vector<std::shared_ptr<const ListenerConfig>> built;
        if (std::string error = build_all(file, *next.config, shared, built); !error.empty()) {
            FERRY_LOG(Error, "reload failed, keeping the running configuration").str("error", error);
            return;
        }
        if (next.config->globals.status != status_address) {
            FERRY_LOG(Warn, "the status address changes only with a restart").str("file", file);
        }
        const TakeoverConfig& t = next.config->globals.takeover;
        if (t.path != takeover.path || t.drain_timeout_ms != takeover.drain_timeout_ms) {
            FERRY_LOG(Warn, "the takeover socket and drain timeout change only with a restart").str("file", file);
        }
        const OverloadConfig& o = next.config->globals.overload;
        if (o.max_connections != overload.max_connections ||
            o.max_connections_per_source != overload.max_connections_per_source ||
            o.max_handshakes_per_source != overload.max_handshakes_per_source) {
            FERRY_LOG(Warn, "the connection limits change only with a restart").str("file", file);
        }
        if (next.config->globals.user != user) {
            FERRY_LOG(Warn, "the user changes only with a restart").str("file", file);
        }
        log::set_min_level(level_of(next.config->globals.log_level));
        prober.set_servers(next.config->servers);
        for (const std::string& error : service.update(std::move(built)))
            FERRY_LOG(Error, "listener not updated").str("error", error);
        log_combinations(*next.config);
        FERRY_LOG(Info, "reloaded")
            .str("file", file)
            .num("listeners", static_cast<int64_t>(next.config->listeners.size()))
            .num("servers", static_cast<int64_t>(next.config->servers.size()));
    };
    service.set_on_reload(reload);

    // The prober's thread starts once the privileges are dropped (on_ready): a thread started before would keep
    // them.
    int rc = service.run([&] { prober.start(); });
    prober.stop();
    return rc;
}

}  // namespace ferry
