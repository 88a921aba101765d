// The status service's listeners' sections (backends/status_page.h with engine/metrics_types.h): every mode's page,
// JSON and OpenMetrics families, exact where the format is ours to pin.
#include "backends/status_page.h"

#include <catch2/catch.hpp>

#include <string>

using namespace ferry::status;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using ferry::metrics::Failure;
using ferry::metrics::ListenerSnapshot;
using ferry::metrics::Protocol;
using ferry::metrics::UdpDrop;

namespace {

ListenerSnapshot tcp_listener(std::string name) {
    ListenerSnapshot t;
    t.name = std::move(name);
    t.address = "127.0.0.1:7001";
    t.accepted = 7;
    t.active = 1;
    t.established = 3;
    t.closed = 2;
    t.failed[static_cast<size_t>(Failure::HeaderTimeout)] = 1;
    t.failed[static_cast<size_t>(Failure::ConnectRefused)] = 2;
    t.bytes_up = 3000;
    t.bytes_down = 1536;
    t.handshake.buckets[0] = 4;
    t.handshake.buckets[3] = 1;  // (5, 10] ms
    t.handshake.sum_ms = 9;
    t.connect.buckets[1] = 2;   // (1, 2] ms
    t.connect.buckets[13] = 1;  // above 10 s
    t.connect.sum_ms = 10004;
    t.pauses_resources = 1;
    t.pauses_limit = 4;
    return t;
}

ListenerSnapshot udp_listener() {
    ListenerSnapshot u;
    u.name = "dns";
    u.address = "[::]:53";
    u.protocol = Protocol::Udp;
    u.flows_opened = 2;
    u.flows_closed = 1;
    u.flows_active = 1;
    u.datagrams_up = 5;
    u.datagrams_down = 4;
    u.dropped[static_cast<size_t>(UdpDrop::NoTarget)] = 3;
    return u;
}

// A mode without proxies (mmproxy, tproxy, srcproxy) showing `listeners`.
Snapshot mode_snapshot(std::vector<ListenerSnapshot> listeners) {
    Snapshot s;
    s.version = "0.1.0";
    s.uptime_s = 61;
    s.generated_unix_ms = 1717243200123;
    s.mode = "srcproxy";
    s.proxies = false;
    s.listeners_shown = true;
    s.listeners = std::move(listeners);
    return s;
}

}  // namespace

TEST_CASE("listeners' metrics exact, label values escaped", "[status]") {
    const std::string L = R"(listener="we\"b\\\n",address="127.0.0.1:7001")";
    const std::string text = render_metrics(mode_snapshot({tcp_listener("we\"b\\\n")}));
    CHECK(text ==
          "# HELP ferry_uptime_seconds Seconds since ferry started.\n"
          "# TYPE ferry_uptime_seconds gauge\n"
          "# UNIT ferry_uptime_seconds seconds\n"
          "ferry_uptime_seconds 61\n"
          "# HELP ferry_connections_accepted Connections accepted, refused ones included.\n"
          "# TYPE ferry_connections_accepted counter\n"
          "ferry_connections_accepted_total{" + L + "} 7\n"
          "# HELP ferry_connections_active Connections open now.\n"
          "# TYPE ferry_connections_active gauge\n"
          "ferry_connections_active{" + L + "} 1\n"
          "# HELP ferry_connections_established Connections whose relay started.\n"
          "# TYPE ferry_connections_established counter\n"
          "ferry_connections_established_total{" + L + "} 3\n"
          "# HELP ferry_connections_closed Relayed connections that ended (cleanly or not).\n"
          "# TYPE ferry_connections_closed counter\n"
          "ferry_connections_closed_total{" + L + "} 2\n"
          "# HELP ferry_connections_failed Connections that failed, by reason.\n"
          "# TYPE ferry_connections_failed counter\n"
          "ferry_connections_failed_total{" + L + ",reason=\"header_invalid\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"header_incomplete\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"header_timeout\"} 1\n"
          "ferry_connections_failed_total{" + L + ",reason=\"subnet_refused\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"overload_refused\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"request_refused\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"evicted\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"connect_refused\"} 2\n"
          "ferry_connections_failed_total{" + L + ",reason=\"connect_timeout\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"upstream_unreachable\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"upstream_failed\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"client_gone\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"reset\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"relay_error\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"idle_timeout\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"interceptor_failed\"} 0\n"
          "ferry_connections_failed_total{" + L + ",reason=\"other\"} 0\n"
          "# HELP ferry_bytes_up Bytes relayed from clients to upstreams (counted as they move, at most once a "
          "second).\n"
          "# TYPE ferry_bytes_up counter\n"
          "ferry_bytes_up_total{" + L + "} 3000\n"
          "# HELP ferry_bytes_down Bytes relayed from upstreams to clients (counted as they move, at most once a "
          "second).\n"
          "# TYPE ferry_bytes_down counter\n"
          "ferry_bytes_down_total{" + L + "} 1536\n"
          "# HELP ferry_handshake_duration_seconds From accept to the end of the inbound handshake.\n"
          "# TYPE ferry_handshake_duration_seconds histogram\n"
          "# UNIT ferry_handshake_duration_seconds seconds\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"0.001\"} 4\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"0.002\"} 4\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"0.005\"} 4\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"0.01\"} 5\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"0.025\"} 5\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"0.05\"} 5\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"0.1\"} 5\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"0.25\"} 5\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"0.5\"} 5\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"1\"} 5\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"2.5\"} 5\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"5\"} 5\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"10\"} 5\n"
          "ferry_handshake_duration_seconds_bucket{" + L + ",le=\"+Inf\"} 5\n"
          "ferry_handshake_duration_seconds_sum{" + L + "} 0.009\n"
          "ferry_handshake_duration_seconds_count{" + L + "} 5\n"
          "# HELP ferry_connect_duration_seconds From the winning attempt's start to the established upstream.\n"
          "# TYPE ferry_connect_duration_seconds histogram\n"
          "# UNIT ferry_connect_duration_seconds seconds\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"0.001\"} 0\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"0.002\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"0.005\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"0.01\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"0.025\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"0.05\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"0.1\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"0.25\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"0.5\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"1\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"2.5\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"5\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"10\"} 2\n"
          "ferry_connect_duration_seconds_bucket{" + L + ",le=\"+Inf\"} 3\n"
          "ferry_connect_duration_seconds_sum{" + L + "} 10.004\n"
          "ferry_connect_duration_seconds_count{" + L + "} 3\n"
          "# HELP ferry_listener_pauses Times accepting paused: out of fds or memory (resources), at the "
          "connection limit (limit).\n"
          "# TYPE ferry_listener_pauses counter\n"
          "ferry_listener_pauses_total{" + L + ",reason=\"resources\"} 1\n"
          "ferry_listener_pauses_total{" + L + ",reason=\"limit\"} 4\n"
          "# EOF\n");
}

TEST_CASE("listeners' UDP families exact; TCP families without TCP listeners are headers only", "[status]") {
    const std::string text = render_metrics(mode_snapshot({udp_listener()}));
    const std::string L = R"(listener="dns",address="[::]:53")";
    CHECK_THAT(text, Contains("# TYPE ferry_connections_accepted counter\n"
                              "# HELP ferry_connections_active Connections open now.\n"));
    CHECK(text.find("ferry_connections_accepted_total{") == std::string::npos);
    CHECK_THAT(text, EndsWith(
          "# HELP ferry_udp_flows_opened UDP flows opened.\n"
          "# TYPE ferry_udp_flows_opened counter\n"
          "ferry_udp_flows_opened_total{" + L + "} 2\n"
          "# HELP ferry_udp_flows_active UDP flows open now.\n"
          "# TYPE ferry_udp_flows_active gauge\n"
          "ferry_udp_flows_active{" + L + "} 1\n"
          "# HELP ferry_udp_datagrams_up Datagrams relayed to the targets.\n"
          "# TYPE ferry_udp_datagrams_up counter\n"
          "ferry_udp_datagrams_up_total{" + L + "} 5\n"
          "# HELP ferry_udp_datagrams_down Reply datagrams relayed back.\n"
          "# TYPE ferry_udp_datagrams_down counter\n"
          "ferry_udp_datagrams_down_total{" + L + "} 4\n"
          "# HELP ferry_udp_datagrams_dropped Datagrams dropped, by reason.\n"
          "# TYPE ferry_udp_datagrams_dropped counter\n"
          "ferry_udp_datagrams_dropped_total{" + L + ",reason=\"subnet_refused\"} 0\n"
          "ferry_udp_datagrams_dropped_total{" + L + ",reason=\"header_invalid\"} 0\n"
          "ferry_udp_datagrams_dropped_total{" + L + ",reason=\"no_target\"} 3\n"
          "ferry_udp_datagrams_dropped_total{" + L + ",reason=\"flow_failed\"} 0\n"
          "ferry_udp_datagrams_dropped_total{" + L + ",reason=\"send_failed\"} 0\n"
          "ferry_udp_datagrams_dropped_total{" + L + ",reason=\"reply_failed\"} 0\n"
          "# EOF\n"));
    // No UDP listener, no UDP families.
    CHECK(render_metrics(mode_snapshot({tcp_listener("")})).find("ferry_udp_") == std::string::npos);
}

TEST_CASE("moproxy with listeners: its families unchanged, the listeners' after them", "[status]") {
    Snapshot plain;
    plain.version = "0.1.0";
    plain.uptime_s = 5;
    Snapshot with = plain;
    with.listeners_shown = true;
    with.listeners = {tcp_listener("")};
    const std::string before = render_metrics(plain);
    const std::string after = render_metrics(with);
    REQUIRE(before.ends_with("# EOF\n"));
    CHECK(after.starts_with(before.substr(0, before.size() - 6)));
    CHECK_THAT(after, Contains("\nferry_moproxy_uptime_seconds 5\n# HELP ferry_connections_accepted "));
    CHECK(after.find("ferry_uptime_seconds") == std::string::npos);
    CHECK_THAT(after, Contains("\nferry_connections_accepted_total{address=\"127.0.0.1:7001\"} 7\n"));

    // JSON: servers and direct as before, then the listeners.
    const std::string json_before = render_json(plain);
    const std::string json_after = render_json(with);
    CHECK(json_after.starts_with(json_before.substr(0, json_before.size() - 2) + ",\"listeners\":[{"));
    // HTML and text: the servers' parts first, as before.
    CHECK_THAT(render_html(with), Contains("<table id=\"servers\">"));
    CHECK(render_html(with).find("<table id=\"servers\">") < render_html(with).find("<table id=\"listeners\">"));
    CHECK(render_text(with).starts_with(render_text(plain)));
    CHECK_THAT(render_text(with), EndsWith("\ntcp 127.0.0.1:7001: accepted 7, active 1, established 3, closed 2, "
                                           "failed 3 (header_timeout 1, connect_refused 2), up 2.93KiB, down "
                                           "1.50KiB\n"));
}

TEST_CASE("listeners' JSON exact", "[status]") {
    const std::string json = render_json(mode_snapshot({tcp_listener("web"), udp_listener()}));
    auto buckets = [](const char* counts[14]) {
        const char* bounds[14] = {"1", "2", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000",
                                  "10000", "\"+Inf\""};
        std::string out;
        for (int i = 0; i < 14; ++i)
            out += std::string(i ? "," : "") + "{\"le\":" + bounds[i] + ",\"count\":" + counts[i] + "}";
        return out;
    };
    const char* handshake[14] = {"4", "4", "4", "5", "5", "5", "5", "5", "5", "5", "5", "5", "5", "5"};
    const char* connect[14] = {"0", "2", "2", "2", "2", "2", "2", "2", "2", "2", "2", "2", "2", "3"};
    CHECK(json ==
          "{\"version\":\"0.1.0\",\"uptime_s\":61,\"generated_unix_ms\":1717243200123,\"listeners\":["
          "{\"name\":\"web\",\"address\":\"127.0.0.1:7001\",\"protocol\":\"tcp\",\"accepted\":7,\"active\":1,"
          "\"established\":3,\"closed\":2,\"failed\":{\"header_invalid\":0,\"header_incomplete\":0,"
          "\"header_timeout\":1,\"subnet_refused\":0,\"overload_refused\":0,\"request_refused\":0,\"evicted\":0,"
          "\"connect_refused\":2,\"connect_timeout\":0,\"upstream_unreachable\":0,\"upstream_failed\":0,"
          "\"client_gone\":0,\"reset\":0,\"relay_error\":0,\"idle_timeout\":0,\"interceptor_failed\":0,"
          "\"other\":0},\"bytes_up\":3000,\"bytes_down\":1536,\"handshake_ms\":{\"buckets\":[" +
              buckets(handshake) + "],\"sum\":9,\"count\":5},\"connect_ms\":{\"buckets\":[" + buckets(connect) +
              "],\"sum\":10004,\"count\":3},\"pauses\":{\"resources\":1,\"limit\":4}},"
              "{\"name\":\"dns\",\"address\":\"[::]:53\",\"protocol\":\"udp\",\"flows_opened\":2,"
              "\"flows_closed\":1,\"flows_active\":1,\"datagrams_up\":5,\"datagrams_down\":4,\"dropped\":"
              "{\"subnet_refused\":0,\"header_invalid\":0,\"no_target\":3,\"flow_failed\":0,\"send_failed\":0,"
              "\"reply_failed\":0}}]}\n");
}

TEST_CASE("a mode's page without proxies: no servers, a listeners' table, names escaped", "[status]") {
    const std::string html = render_html(mode_snapshot({tcp_listener("<b>&"), udp_listener()}));
    CHECK_THAT(html, Contains("<title>ferry srcproxy</title>"));
    CHECK_THAT(html, Contains("<h1>ferry srcproxy</h1>\n<p id=\"summary\" data-listeners=\"2\" data-uptime=\"61\">"
                              "uptime 1m 1s</p>\n"));
    CHECK(html.find("id=\"servers\"") == std::string::npos);
    CHECK(html.find("id=\"direct\"") == std::string::npos);
    CHECK_THAT(html, Contains(
        "<tr data-listener=\"&lt;b&gt;&amp;\" data-address=\"127.0.0.1:7001\"><td class=\"listener\">&lt;b&gt;&amp;"
        "</td><td class=\"address\">127.0.0.1:7001</td><td class=\"accepted\" data-value=\"7\">7</td>"
        "<td class=\"active\" data-value=\"1\">1</td><td class=\"established\" data-value=\"3\">3</td>"
        "<td class=\"closed\" data-value=\"2\">2</td><td class=\"failed\" data-value=\"3\">3 <span class=\"reason\" "
        "data-reason=\"header_timeout\" data-value=\"1\">header_timeout 1</span> <span class=\"reason\" "
        "data-reason=\"connect_refused\" data-value=\"2\">connect_refused 2</span></td><td class=\"bytes-up\" "
        "data-value=\"3000\">2.93 KiB</td><td class=\"bytes-down\" data-value=\"1536\">1.50 KiB</td>"
        "<td class=\"handshake\" data-count=\"5\">1.8 ms</td><td class=\"connect\" data-count=\"3\">3334.7 ms</td>"
        "<td class=\"pauses\" data-value=\"5\">1 / 4</td></tr>\n"));
    CHECK_THAT(html, Contains(
        "<tr data-listener=\"dns\" data-address=\"[::]:53\"><td class=\"listener\">dns</td><td class=\"address\">"
        "[::]:53</td><td class=\"flows-opened\" data-value=\"2\">2</td><td class=\"flows-active\" data-value=\"1\">1"
        "</td><td class=\"datagrams-up\" data-value=\"5\">5</td><td class=\"datagrams-down\" data-value=\"4\">4</td>"
        "<td class=\"failed\" data-value=\"3\">3 <span class=\"reason\" data-reason=\"no_target\" data-value=\"3\">"
        "no_target 3</span></td></tr>\n"));
    // Only UDP listeners: no TCP table.
    const std::string udp_only = render_html(mode_snapshot({udp_listener()}));
    CHECK(udp_only.find("<table id=\"listeners\">") == std::string::npos);
    CHECK_THAT(udp_only, Contains("<table id=\"udp-listeners\">"));
    // No UDP listener: no UDP table. No samples at all: "-" for the means.
    const std::string tcp_only = render_html(mode_snapshot({ListenerSnapshot{}}));
    CHECK(tcp_only.find("udp-listeners") == std::string::npos);
    CHECK_THAT(tcp_only, Contains("<td class=\"handshake\" data-count=\"0\">- ms</td>"));
}

TEST_CASE("a mode's text page: a heading, then a line per listener", "[status]") {
    CHECK(render_text(mode_snapshot({tcp_listener(""), udp_listener()})) ==
          "ferry srcproxy, uptime 1m 1s\n"
          "tcp 127.0.0.1:7001: accepted 7, active 1, established 3, closed 2, failed 3 (header_timeout 1, "
          "connect_refused 2), up 2.93KiB, down 1.50KiB\n"
          "udp [::]:53 (dns): flows 2, active 1, datagrams up 5, down 4, dropped 3 (no_target 3)\n");
    Snapshot hidden = mode_snapshot({tcp_listener("")});
    hidden.listeners_shown = false;
    CHECK(render_text(hidden) == "ferry srcproxy, uptime 1m 1s\n");
    CHECK(render_metrics(hidden) ==
          "# HELP ferry_uptime_seconds Seconds since ferry started.\n"
          "# TYPE ferry_uptime_seconds gauge\n"
          "# UNIT ferry_uptime_seconds seconds\n"
          "ferry_uptime_seconds 61\n"
          "# EOF\n");
}
