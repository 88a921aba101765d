// tproxy mode = TPROXY inbound (IP_TRANSPARENT listener: the accepted socket's local address is the original
// destination) x direct outbound from the original source (IP_TRANSPARENT, SO_MARK) x splice relay, behind
// liproxy's command line (uproxy's sample proxy: -bindAddr, -insertionLabel) and its slog lines on stdout.
// With interceptors the directions they want are copied through them.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "support/file_util.h"
#include "inbound/transparent_inbound.h"
#include "outbound/dialer.h"
#include "relay/interceptor.h"
#include "support/log.h"
#include "modes/modes.h"
#include "modes/privilege_needs.h"
#include "engine/service.h"
#include "core/socket_util.h"
#include "modes/stats_service.h"
#include "modes/tproxy/tproxy_options.h"

namespace ferry {
namespace {

// liproxy's per-flow events, in its words (clientsideAddr: the client, serversideAddr: the original
// destination).
class FlowLog final : public ConnectionObserver {
public:
    explicit FlowLog(const InterceptorSet& set) : set_(set) {}
    void listening(const ListenerInfo&) const override {}  // liproxy's own "bound" lines instead
    void dialing(const ConnectionView& c) const override {
        if (!log::enabled(log::Level::Info)) return;
        line(log::Level::Info, "incoming clientside flow", c.flow);
        line(log::Level::Info, "initiating serverside flow", c.flow);
    }
    void established(const ConnectionView& c, const Attempt&) const override {
        if (!log::enabled(log::Level::Debug)) return;
        log::Line l(log::Level::Debug, "flow established", "ferry/mode_tproxy.cpp");
        l.str("clientsideAddr", c.flow.peer.to_string()).str("serversideAddr", c.flow.destination.to_string());
        l.str("clientToServer", set_.wants(Direction::Up) ? "intercepted" : "spliced");
        l.str("serverToClient", set_.wants(Direction::Down) ? "intercepted" : "spliced");
    }
    void closed(const ConnectionView& c, const Attempt&, const CloseInfo& info) const override {
        if (info.clean && log::enabled(log::Level::Info))
            line(log::Level::Info, info.client_first ? "client closed flow" : "server closed flow", c.flow);
    }
    void failed(const ConnectionView& c, Stage, std::string_view message, std::string_view error) const override {
        if (!log::enabled(log::Level::Warn)) return;
        log::Line l(log::Level::Warn, "proxy error", "ferry/mode_tproxy.cpp");
        l.str("clientsideAddr", c.flow.peer.to_string());
        if (!c.flow.destination.empty()) l.str("serversideAddr", c.flow.destination.to_string());
        l.str("errorMsg", std::string(message) + ": " + std::string(error));
    }

private:
    const InterceptorSet& set_;
    static void line(log::Level level, const char* msg, const Flow& f) {
        log::Line l(level, msg, "ferry/mode_tproxy.cpp");
        l.str("clientsideAddr", f.peer.to_string()).str("serversideAddr", f.destination.to_string());
    }
};

}  // namespace

int run_tproxy(const std::vector<std::string>& args, const std::string& argv0) {
    auto parsed = tproxy::parse(args, argv0);
    if (!parsed.ok()) {
        write_text(2, parsed.stderr_text);
        return parsed.exit_code;
    }
    const tproxy::Options& o = parsed.options;
    log::set_format(log::Format::Slog);
    log::set_fd(1);  // liproxy logs to stdout
    log::set_min_level(o.min_level);
    InterceptorSet interceptors;
    for (const auto& spec : o.interceptor_specs) {
        std::unique_ptr<Interceptor> made;
        std::string error;
        if (spec.name == "label") made = make_label_interceptor(spec.arg);
        else if (spec.name == "hexdump") made = make_hexdump_interceptor();
        else if (spec.name == "plugin") made = load_plugin_interceptor(spec.arg, &error);
        else if (spec.name == "pcap") made = make_pcap_interceptor(spec.arg, &error);
        if (!made) {
            FERRY_LOG(Error, "cannot set up interceptor").str("interceptor", spec.name).str("error", error);
            return 1;
        }
        FERRY_LOG(Info, "interceptor")
            .str("name", made->name())
            .str("directions", spec.up && spec.down ? "both" : spec.up ? "client->server" : "server->client");
        interceptors.entries.push_back(InterceptorSet::Entry{std::move(made), spec.up, spec.down});
    }
    // IP_TRANSPARENT needs CAP_NET_ADMIN (or CAP_NET_RAW): one clear line instead of a failure per flow.
    if (int e = try_transparent()) {
        FERRY_LOG(Error, "cannot intercept").str("error", option_error("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1)", e));
        return 1;
    }
    // -user: looked up now, so a typo fails before anything is bound; dropped to once bound.
    std::optional<privileges::DropTarget> drop_to;
    if (o.user_spec) {
        std::string why;
        auto identity = privileges::resolve_user(*o.user_spec, &why);
        if (!identity) {
            FERRY_LOG(Error, "cannot use -user").str("user", o.user).str("error", why);
            return 1;
        }
        drop_to = privileges::DropTarget{std::move(*identity), tproxy_requirements(o)};
    }
    FERRY_LOG(Info, "starting");

    TransparentInbound inbound(o.listen);
    Route route;  // to the original destination from the original source (the kernel's TCP_SYNCNT:
                  // -connect-timeout bounds the connect)
    route.source = Route::Source::Client;
    route.mark = static_cast<uint32_t>(o.mark);
    Dialer outbound(route);
    FlowLog flow_log(interceptors);

    auto listener = std::make_shared<ListenerConfig>();
    listener->listen = o.listen;
    listener->listen_options.transparent = true;
    listener->inbound = &inbound;
    listener->outbound = &outbound;
    listener->connect_timeout_ms = goflag::ceil_ms(o.connect_timeout);
    listener->idle_timeout_ms = goflag::ceil_ms(o.idle_timeout);
    listener->halfclose_timeout_ms = goflag::ceil_ms(o.halfclose_timeout);
    listener->observer = &flow_log;
    if (!interceptors.entries.empty()) listener->interceptors = &interceptors;
    // -p udp|all: TPROXY'd datagrams on the same addresses, each (client, original destination) a flow from the
    // client's own address (udp/udp_relay.h); interceptors and -idle-timeout are TCP's.
    UdpServiceConfig udp;
    udp.tproxy = true;
    udp.mark = static_cast<uint32_t>(o.mark);
    udp.close_after_ms = goflag::ceil_ms(o.udp_idle_timeout);
    const size_t loops = o.threads > 0 ? static_cast<size_t>(o.threads) : available_cpus();
    udp.max_flows = std::max<size_t>(1, (static_cast<size_t>(o.udp_max_flows) + loops - 1) / loops);
    udp.verbose = o.min_level == log::Level::Debug ? 2 : 0;
    listener->tcp = o.tcp;
    if (o.udp) listener->udp = &udp;
    ServiceConfig config;
    config.listeners.push_back(std::move(listener));
    config.threads = static_cast<size_t>(o.threads);
    config.overload = o.overload_config;
    StatsService stats("tproxy");
    stats.attach(config, o.stats_address);
    config.takeover = o.takeover_config;
    config.drop_to = std::move(drop_to);
    return run_service(std::move(config), [&] {
        for (const auto& a : o.listen) FERRY_LOG(Info, "bound").str("address", a.to_string());
        FERRY_LOG(Info, "accepting incoming flows");
    });
}

}  // namespace ferry
