// srcproxy mode, both halves of haruue-net/srcproxy (c9ef7f4) behind its command line (`srcproxy client|server
// config.json`), configuration files, log lines and exit codes:
//   server = relay-request inbound (+ ACL) x direct outbound from the request's source (IP_FREEBIND) x splice
//   client = REDIRECT inbound x srcproxy outbound (the request, then the stream) x splice
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "inbound/redirect_inbound.h"
#include "inbound/srcproxy_inbound.h"
#include "support/file_util.h"
#include "core/resolve.h"
#include "support/log.h"
#include "modes/modes.h"
#include "modes/privilege_needs.h"
#include "engine/service.h"
#include "core/socket_util.h"
#include "modes/srcproxy/srcproxy_config.h"
#include "modes/stats_service.h"
#include "outbound/dialer.h"

namespace ferry {
namespace {

// What the reference exits with on wrong arguments (EINVAL).
constexpr int kUsageExit = 22;
// How long a client has to send its relay request (the reference waits forever): it sends it right after
// connecting, so this only bounds idle or hostile connections.
constexpr uint64_t kHeaderTimeoutMs = 10000;

int fatal(const std::string& text) {
    log::plain("[fatal] " + text);
    return 1;
}

// Go prints a nil address as "<nil>".
std::string addr_text(const SocketAddress& a) { return a.empty() ? "<nil>" : a.to_string(); }

bool info_enabled() { return log::enabled(log::Level::Info); }

// "[info] (<peer>) <src> <-> <dst>: established" and the rest, as the reference server prints them; no
// "listening" line of the engine's (the reference prints its own).
class ServerLog final : public ConnectionObserver {
public:
    void listening(const ListenerInfo&) const override {}
    void established(const ConnectionView& c, const Attempt&) const override {
        if (info_enabled()) log::plain("[info] (" + c.flow.peer.to_string() + ") " + pair(c.flow) + ": established");
    }
    void closed(const ConnectionView& c, const Attempt&, const CloseInfo& info) const override {
        if (info.clean && info_enabled()) log::plain("[info] (" + c.flow.peer.to_string() + ") " + pair(c.flow) + ": closed");
    }
    void failed(const ConnectionView& c, Stage, std::string_view, std::string_view error) const override {
        log::plain("[error] (" + c.flow.peer.to_string() + ") " + pair(c.flow) + ": " + std::string(error));
    }

private:
    static std::string pair(const Flow& f) { return addr_text(f.source) + " <-> " + addr_text(f.destination); }
};

// "[info] <client> <-> <destination>: established", as the reference client prints them.
class ClientLog final : public ConnectionObserver {
public:
    void listening(const ListenerInfo&) const override {}
    void established(const ConnectionView& c, const Attempt&) const override {
        if (info_enabled()) log::plain("[info] " + pair(c.flow) + ": established");
    }
    void closed(const ConnectionView& c, const Attempt&, const CloseInfo& info) const override {
        if (info.clean && info_enabled()) log::plain("[info] " + pair(c.flow) + ": closed");
    }
    void failed(const ConnectionView& c, Stage, std::string_view, std::string_view error) const override {
        log::plain("[error] " + pair(c.flow) + ": " + std::string(error));
    }

private:
    static std::string pair(const Flow& f) { return addr_text(f.peer) + " <-> " + addr_text(f.destination); }
};

// The address an endpoint names: its literal, the IPv4 wildcard for an empty host (listen_tcp makes it
// dual-stack where the host has IPv6, as Go does for ":9001"), or the first address a host name resolves to.
std::optional<SocketAddress> resolve(const srcproxy::Endpoint& e, bool listening, std::string* error) {
    if (e.address) return e.address;
    if (e.host.empty()) {
        const uint8_t any[4] = {0, 0, 0, 0};
        return SocketAddress::from_v4(any, e.port);
    }
    return resolve_first(e.host, e.port, AF_UNSPEC, listening, error);
}

void log_warnings(const std::vector<std::string>& warnings) {
    for (const auto& w : warnings) log::plain("[warn] " + w);
}

void setup_logging(srcproxy::LogLevel level) {
    log::set_format(log::Format::GoStd);
    log::set_min_level(level == srcproxy::LogLevel::Error ? log::Level::Error : log::Level::Info);
}

std::shared_ptr<ListenerConfig> base_listener(const SocketAddress& listen, goflag::Duration timeout) {
    auto listener = std::make_shared<ListenerConfig>();
    listener->listen.push_back(listen);
    listener->connect_timeout_ms = goflag::ceil_ms(timeout);
    listener->idle_timeout_ms = goflag::ceil_ms(timeout);
    return listener;
}

ServiceConfig service_of(std::shared_ptr<ListenerConfig> listener, const OverloadConfig& overload,
                         const TakeoverConfig& takeover, std::optional<privileges::DropTarget> drop_to) {
    ServiceConfig config;
    config.listeners.push_back(std::move(listener));
    config.overload = overload;
    config.takeover = takeover;
    config.drop_to = std::move(drop_to);
    return config;
}

// The `user` key looked up (before anything is bound, so a typo fails early); false after the fatal line.
bool resolve_user(const std::string& path, const std::optional<privileges::UserSpec>& spec, int line,
                  std::optional<privileges::Identity>& out) {
    if (!spec) return true;
    std::string why;
    out = privileges::resolve_user(*spec, &why);
    if (!out) fatal(path + ":" + std::to_string(line) + ": key \"user\": " + why);
    return out.has_value();
}

int run_server(const std::string& path) {
    auto loaded = srcproxy::load_server_config(path);
    if (!loaded.ok()) return fatal("failed to parse config file: " + loaded.error);
    const srcproxy::ServerConfig& cfg = *loaded.config;
    setup_logging(cfg.log_level);
    log_warnings(loaded.warnings);
    std::string error;
    auto listen = resolve(cfg.listen, true, &error);
    if (!listen) return fatal("failed to listen on " + cfg.listen.text + ": " + error);
    std::optional<privileges::Identity> user;
    if (!resolve_user(path, cfg.user, cfg.user_line, user)) return 1;

    SrcproxyHeaderInbound inbound(cfg.acl);
    Route route;  // to the request's destination from its source (the kernel's TCP_SYNCNT, as the
                  // reference's dialer: `timeout` bounds the connect)
    route.source = Route::Source::ClientFreebind;
    Dialer outbound(route);
    ServerLog clog;

    auto listener = base_listener(*listen, cfg.timeout);
    const uint64_t timeout_ms = goflag::ceil_ms(cfg.timeout);
    listener->header_timeout_ms = timeout_ms ? std::min(timeout_ms, kHeaderTimeoutMs) : kHeaderTimeoutMs;
    listener->inbound = &inbound;
    listener->outbound = &outbound;
    listener->observer = &clog;
    const bool transparent = try_transparent() == 0;
    if (!transparent) {
        log::plain("[warn] no CAP_NET_ADMIN: IPv4 connections from a client's source work only for sources in "
                   "the local routing table (ip route add local PREFIX dev lo); a policy route (ip rule ... "
                   "lookup TABLE) is enough for IPv6 only");
    }
    if (!cfg.acl.enabled() && info_enabled()) log::plain("[info] acl is off: every client may use any source address");
    std::optional<privileges::DropTarget> drop_to;
    if (user) drop_to = privileges::DropTarget{std::move(*user), srcproxy_server_requirements(transparent)};
    ServiceConfig config = service_of(std::move(listener), cfg.overload, cfg.takeover, std::move(drop_to));
    StatsService stats("srcproxy");
    stats.attach(config, cfg.stats_bind);
    return run_service(std::move(config), [&] {
        if (info_enabled()) log::plain("[info] listening on " + cfg.listen.text);
    });
}

int run_client(const std::string& path) {
    auto loaded = srcproxy::load_client_config(path);
    if (!loaded.ok()) return fatal("failed to parse config file: " + loaded.error);
    const srcproxy::ClientConfig& cfg = *loaded.config;
    setup_logging(cfg.log_level);
    log_warnings(loaded.warnings);

    std::string error;
    auto listen = resolve(cfg.listen, true, &error);
    if (!listen) return fatal("failed to listen on " + cfg.listen.text + ": " + error);
    auto server = resolve(cfg.server, false, &error);
    if (!server) return fatal("failed to resolve outbound.server " + cfg.server.text + ": " + error);
    std::optional<privileges::Identity> user;
    if (!resolve_user(path, cfg.user, cfg.user_line, user)) return 1;

    Route route;  // to the srcproxy server, the relay request first
    route.hop = Route::Hop::Srcproxy;
    route.srcproxy_server = *server;
    route.srcproxy_auth = cfg.auth_digest;
    if (cfg.fwmark) route.mark = *cfg.fwmark;
    if (cfg.local_addr) {
        route.bind_ip = cfg.local_addr->address;
        route.device = cfg.local_addr->device;
    }
    // What would fail on every connection fails the start instead, with one clear line.
    if (!route.device.empty() && ::if_nametoindex(route.device.c_str()) == 0)
        return fatal("failed to find interface: " + route.device + ": no such network interface");
    {
        Fd probe(::socket(server->family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!probe) return fatal("socket: " + errno_text(errno));
        if (cfg.fwmark) {
            if (int e = set_int_option(probe.get(), SOL_SOCKET, SO_MARK, static_cast<int>(*cfg.fwmark)))
                return fatal("outbound.fwmark: " + option_error("setsockopt(SOL_SOCKET, SO_MARK)", e));
        }
        if (route.bind_ip) {
            if (route.bind_ip->family() != server->family())
                return fatal("outbound.local_addr " + route.bind_ip->ip_string() + " and outbound.server " +
                             server->to_string() + " are not of the same address family");
            SocketAddress from = *route.bind_ip;
            from.set_port(0);
            if (::bind(probe.get(), from.sa(), from.length) == -1)
                return fatal("outbound.local_addr: bind " + from.ip_string() + ": " + errno_text(errno));
        }
    }

    RedirectInbound inbound(nullptr, true);
    Dialer outbound(route);
    ClientLog clog;
    auto listener = base_listener(*listen, cfg.timeout);
    listener->inbound = &inbound;
    listener->outbound = &outbound;
    listener->observer = &clog;
    std::optional<privileges::DropTarget> drop_to;
    if (user) drop_to = privileges::DropTarget{std::move(*user), srcproxy_client_requirements(cfg)};
    ServiceConfig config = service_of(std::move(listener), cfg.overload, cfg.takeover, std::move(drop_to));
    StatsService stats("srcproxy");
    stats.attach(config, cfg.stats_bind);
    return run_service(std::move(config), [&] {
        if (info_enabled()) log::plain("[info] listening on " + cfg.listen.text);
    });
}

}  // namespace

int run_srcproxy(const std::vector<std::string>& args, const std::string& argv0) {
    auto usage = [&] {
        write_text(2, "Usage: " + argv0 + " [client|server] config.json\n");
        return kUsageExit;
    };
    if (args.size() != 2) return usage();
    const std::string& mode = args[0];
    const std::string& path = args[1];
    if (mode != "client" && mode != "server") return usage();
    // The reference opens the file before it looks at the mode's name; a missing file is its own message.
    if (int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC); fd == -1)
        return fatal("failed to open config file: open " + path + ": " + errno_text(errno));
    else
        ::close(fd);
    log::set_format(log::Format::GoStd);
    return mode == "server" ? run_server(path) : run_client(path);
}

}  // namespace ferry
