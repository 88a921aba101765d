#include "backends/status_page.h"

#include <catch2/catch.hpp>

#include <cjson/cJSON.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using namespace ferry::status;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;

namespace {

constexpr std::string_view kFffd = "\xEF\xBF\xBD";

ServerStatus server_up() {
    ServerStatus s;
    s.tag = "server-1";
    s.protocol = "SOCKSv5";
    s.address = "127.0.0.1:2001";
    s.up = true;
    s.delay_ms = 12;
    s.score = 1234;
    s.conn_alive = 3;
    s.conn_total = 1000;
    s.conn_error = 7;
    s.errors_last16 = 1;
    s.errors_last64 = 4;
    s.tx_bytes = 1536;
    s.rx_bytes = 1000000000000;
    s.tx_bps = 12500;
    s.rx_bps = 1e12;
    s.delay_history = {10, 12, std::nullopt, 40, 12};
    return s;
}

ServerStatus server_down() {
    ServerStatus s;
    s.tag = "server-2";
    s.protocol = "HTTP";
    s.address = "[::1]:3128";
    s.conn_total = 20;
    s.conn_error = 20;
    s.errors_last16 = 16;
    s.errors_last64 = 20;
    s.tx_bytes = 100;
    s.delay_history = {30, std::nullopt, std::nullopt};
    return s;
}

ServerStatus server_never_probed() {
    ServerStatus s;
    s.tag = "server-3";
    s.protocol = "HTTP";
    s.address = "10.0.0.1:8080";
    return s;
}

Snapshot base() {
    Snapshot s;
    s.version = "0.1.0";
    s.uptime_s = 93784;  // 1d 2h 3m 4s
    s.generated_unix_ms = 1717243200123;
    s.direct_alive = 2;
    s.direct_total = 5;
    return s;
}

Snapshot sample() {
    Snapshot s = base();
    s.servers = {server_up(), server_down(), server_never_probed()};
    return s;
}

Snapshot with(ServerStatus server) {
    Snapshot s = base();
    s.servers = {std::move(server)};
    return s;
}

size_t count(std::string_view haystack, std::string_view needle) {
    size_t n = 0;
    for (size_t i = haystack.find(needle); i != std::string_view::npos; i = haystack.find(needle, i + 1)) ++n;
    return n;
}

std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

std::vector<std::string> fields(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string f; in >> f;) out.push_back(f);
    return out;
}

// ---- HTML inspection ----

// Why `html` is not well nested, or "": every element closed in order (void elements aside), no '<' or '>'
// outside markup, attribute quotes balanced. Enough to catch an unescaped value or a broken template.
std::string html_structure_error(const std::string& html) {
    static const std::set<std::string> kVoid = {"meta", "br", "hr", "img", "input", "link"};
    std::vector<std::string> open;
    size_t i = 0;
    while (i < html.size()) {
        size_t lt = html.find('<', i);
        std::string text = html.substr(i, lt == std::string::npos ? std::string::npos : lt - i);
        if (text.find('>') != std::string::npos) return "stray '>' in text: " + text;
        if (lt == std::string::npos) break;
        size_t gt = html.find('>', lt);
        if (gt == std::string::npos) return "unterminated tag";
        std::string tag = html.substr(lt + 1, gt - lt - 1);
        i = gt + 1;
        if (tag.starts_with("!")) continue;
        if (tag.find('<') != std::string::npos) return "'<' inside a tag: " + tag;
        if (count(tag, "\"") % 2 != 0) return "unbalanced quotes: " + tag;
        bool closing = tag.starts_with("/");
        bool self_closing = tag.ends_with("/");
        size_t name_begin = closing ? 1 : 0;
        std::string name = tag.substr(name_begin, tag.find_first_of(" /", name_begin) - name_begin);
        if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string::npos)
            return "bad element name: " + tag;
        if (closing) {
            if (open.empty() || open.back() != name) return "mismatched </" + name + ">";
            open.pop_back();
        } else if (!self_closing && !kVoid.count(name)) {
            open.push_back(name);
        }
    }
    return open.empty() ? "" : "unclosed <" + open.back() + ">";
}

// The markup of the <tr> with data-rank="rank", "" when there is none.
std::string html_row(const std::string& html, size_t rank) {
    size_t begin = html.find("<tr data-rank=\"" + std::to_string(rank) + "\"");
    if (begin == std::string::npos) return "";
    return html.substr(begin, html.find("</tr>", begin) + 5 - begin);
}

// The opening tag and the content of the cell with class `cls` in `row`.
struct HtmlCell {
    std::string tag, content;
};
HtmlCell html_cell(const std::string& row, const std::string& cls) {
    size_t begin = row.find("<td class=\"" + cls + "\"");
    REQUIRE(begin != std::string::npos);
    size_t gt = row.find('>', begin);
    size_t end = row.find("</td>", gt);
    return {row.substr(begin, gt + 1 - begin), row.substr(gt + 1, end - gt - 1)};
}

std::string cell_text(const ServerStatus& server, const std::string& cls) {
    return html_cell(html_row(render_html(with(server)), 1), cls).content;
}

// ---- JSON ----

struct JsonDelete {
    void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using Json = std::unique_ptr<cJSON, JsonDelete>;

Json parse_json(const std::string& text) {
    Json j(cJSON_Parse(text.c_str()));
    REQUIRE(j != nullptr);
    return j;
}

const cJSON* member(const cJSON* o, const char* key) {
    const cJSON* m = cJSON_GetObjectItemCaseSensitive(o, key);
    INFO(key);
    REQUIRE(m != nullptr);
    return m;
}

double number(const cJSON* o, const char* key) {
    const cJSON* m = member(o, key);
    INFO(key);
    REQUIRE(cJSON_IsNumber(m));
    return m->valuedouble;
}

std::string string_member(const cJSON* o, const char* key) {
    const cJSON* m = member(o, key);
    INFO(key);
    REQUIRE(cJSON_IsString(m));
    return m->valuestring;
}

// Checks o[key] against an optional integer: a number equal to it, or null.
void check_optional(const cJSON* o, const char* key, const std::optional<int64_t>& want) {
    const cJSON* m = member(o, key);
    INFO(key);
    if (want) {
        REQUIRE(cJSON_IsNumber(m));
        CHECK(m->valuedouble == static_cast<double>(*want));
    } else {
        CHECK(cJSON_IsNull(m));
    }
}

// ---- HTTP ----

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

Request parse_text(std::string_view s) { return parse_request(bytes(s)); }

Request get(std::string path, bool html = false) {
    std::string head = "GET " + path + " HTTP/1.1\r\nHost: x\r\n";
    if (html) head += "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n";
    head += "\r\n";
    Request r = parse_text(head);
    REQUIRE(r.status == Status::Done);
    return r;
}

// Every proper prefix of an invalid head is Incomplete or Invalid, and once Invalid stays Invalid; the whole is
// Invalid with `error`.
void check_invalid_at_every_split(std::string_view head, std::string_view error) {
    bool seen_invalid = false;
    for (size_t n = 0; n <= head.size(); ++n) {
        Request r = parse_text(head.substr(0, n));
        INFO("prefix length " << n << " of " << head.size());
        REQUIRE(r.status != Status::Done);
        if (seen_invalid) REQUIRE(r.status == Status::Invalid);
        seen_invalid = r.status == Status::Invalid;
        CHECK(r.consumed == 0);
    }
    Request r = parse_text(head);
    REQUIRE(r.status == Status::Invalid);
    CHECK(r.error == error);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// HTML

TEST_CASE("html page of an empty snapshot is complete and self-contained", "[status]") {
    std::string html = render_html(base());
    CHECK_THAT(html, StartsWith("<!DOCTYPE html>\n<html lang=\"en\">"));
    CHECK_THAT(html, EndsWith("</html>\n"));
    CHECK(html_structure_error(html) == "");
    CHECK_THAT(html, Contains("<meta charset=\"utf-8\">"));
    CHECK_THAT(html, Contains("<meta http-equiv=\"refresh\" content=\"10\">"));
    CHECK_THAT(html, Contains("<title>ferry moproxy</title>"));
    CHECK_THAT(html, Contains(">0 of 0 servers up, uptime 1d 2h 3m 4s</p>"));
    CHECK_THAT(html, Contains("<table id=\"servers\">"));
    CHECK_THAT(html, Contains("<tbody>\n</tbody>"));
    CHECK_THAT(html, Contains("<p id=\"no-servers\">"));
    CHECK_THAT(html, Contains("<p id=\"direct\" data-alive=\"2\" data-total=\"5\">"));
    CHECK_THAT(html, Contains("<time datetime=\"2024-06-01T12:00:00.123Z\">"));
    CHECK(count(html, "<tr data-rank") == 0);
    // No script, no external resources.
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("src=") == std::string::npos);
    CHECK(html.find("href=") == std::string::npos);
    CHECK(html.find("//") == std::string::npos);
    // Short inline CSS.
    size_t style = html.find("<style>");
    REQUIRE(style != std::string::npos);
    CHECK(html.find("</style>") - style < 800);
}

TEST_CASE("html row of one server shows every column", "[status]") {
    std::string html = render_html(with(server_up()));
    CHECK(html_structure_error(html) == "");
    CHECK_THAT(html, Contains("<p id=\"summary\" data-up=\"1\" data-total=\"1\" data-uptime=\"93784\">"
                              "1 of 1 servers up, uptime 1d 2h 3m 4s</p>"));
    CHECK(html.find("no-servers") == std::string::npos);
    std::string row = html_row(html, 1);
    REQUIRE_THAT(row, StartsWith("<tr data-rank=\"1\" data-tag=\"server-1\" data-state=\"up\">"));
    CHECK(count(row, "<td ") == 17);

    struct Want {
        const char* cls;
        const char* text;
        const char* value;  // nullptr: no data-value
    };
    const Want want[] = {
        {"rank", "1", "1"},
        {"tag", "server-1", nullptr},
        {"protocol", "SOCKSv5", nullptr},
        {"address", "127.0.0.1:2001", nullptr},
        {"state", "up", nullptr},
        {"delay", "12 ms", "12"},
        {"score", "1234", "1234"},
        {"alive", "3", "3"},
        {"total", "1000", "1000"},
        {"errors", "7", "7"},
        {"errors16", "1", "1"},
        {"errors64", "4", "4"},
        {"tx", "1.50 KiB", "1536"},
        {"rx", "931 GiB", "1000000000000"},
        {"tx-rate", "12.5 kbit/s", "12500"},
        {"rx-rate", "1.00 Tbit/s", "1000000000000"},
    };
    for (const Want& w : want) {
        INFO(w.cls);
        HtmlCell c = html_cell(row, w.cls);
        CHECK(c.content == w.text);
        if (w.value != nullptr)
            CHECK(c.tag == std::string("<td class=\"") + w.cls + "\" data-value=\"" + w.value + "\">");
        else
            CHECK(c.tag == std::string("<td class=\"") + w.cls + "\">");
    }
    // Column headers in the same order as the cells.
    std::string head = html.substr(html.find("<thead>"), html.find("</thead>") - html.find("<thead>"));
    size_t last = 0;
    for (const Want& w : want) {
        size_t at = head.find(std::string("<th class=\"") + w.cls + "\"");
        INFO(w.cls);
        REQUIRE(at != std::string::npos);
        CHECK(at >= last);
        last = at;
    }
    CHECK_THAT(head, Contains("<th class=\"history\""));
}

TEST_CASE("html sparkline: scaled to the row's max, failed probes as red marks, title with last and max", "[status]") {
    std::string chart = cell_text(server_up(), "history");  // history 10, 12, failed, 40, 12
    CHECK(html_structure_error(chart) == "");
    CHECK_THAT(chart, StartsWith("<svg class=\"spark\" width=\"120\" height=\"24\" viewBox=\"0 0 120 24\">"
                                 "<title>last 12 ms, max 40 ms (5 probes, 1 failed)</title>"));
    // Newest at the right edge (x 119), 2 px per probe; y from 22 (0 ms) up to 2 (the max).
    CHECK_THAT(chart, Contains("<polyline class=\"delay\" points=\"111,17.0 113,16.0 117,2.0 119,16.0\""));
    CHECK(count(chart, "class=\"fail\"") == 1);
    CHECK_THAT(chart, Contains("<line class=\"fail\" x1=\"115\" y1=\"0\" x2=\"115\" y2=\"24\" stroke=\"#d22\""));
    CHECK_THAT(chart, Contains("<circle class=\"last\" cx=\"119\" cy=\"16.0\""));

    SECTION("last probe failed") {
        std::string c = cell_text(server_down(), "history");  // 30, failed, failed
        CHECK_THAT(c, Contains("<title>last probe failed, max 30 ms (3 probes, 2 failed)</title>"));
        CHECK(count(c, "class=\"fail\"") == 2);
        CHECK_THAT(c, Contains("points=\"115,2.0\""));
    }
    SECTION("every probe failed") {
        ServerStatus s = server_down();
        s.delay_history = {std::nullopt, std::nullopt};
        std::string c = cell_text(s, "history");
        CHECK_THAT(c, Contains("<title>all 2 probes failed</title>"));
        CHECK(count(c, "class=\"fail\"") == 2);
        CHECK(c.find("polyline") == std::string::npos);
    }
    SECTION("never probed") {
        std::string c = cell_text(server_never_probed(), "history");
        CHECK(c == "<svg class=\"spark\" width=\"120\" height=\"24\" viewBox=\"0 0 120 24\">"
                   "<title>no probes yet</title></svg>");
    }
    SECTION("one probe, all delays zero") {
        ServerStatus s = server_up();
        s.delay_history = {0};
        std::string c = cell_text(s, "history");
        CHECK_THAT(c, Contains("<title>last 0 ms, max 0 ms (1 probe)</title>"));
        CHECK_THAT(c, Contains("points=\"119,22.0\""));
    }
    SECTION("a longer history draws only the newest 60 probes") {
        ServerStatus s = server_up();
        s.delay_history.clear();
        for (int i = 0; i < 100; ++i) s.delay_history.push_back(i < 40 ? std::optional<int64_t>() : 100 - i);
        std::string c = cell_text(s, "history");
        CHECK(count(c, "class=\"fail\"") == 0);
        CHECK_THAT(c, Contains("points=\"1,2.0 3,"));  // probe 40 (60 ms), the max of the 60 drawn
        CHECK_THAT(c, Contains(" 119,21.7\""));        // probe 99 (1 ms)
        CHECK_THAT(c, Contains("<title>last 1 ms, max 60 ms (60 probes)</title>"));
    }
}

TEST_CASE("html of several servers: rank order, down and never-probed rows", "[status]") {
    std::string html = render_html(sample());
    CHECK(html_structure_error(html) == "");
    CHECK_THAT(html, Contains(">1 of 3 servers up, uptime 1d 2h 3m 4s</p>"));
    CHECK(count(html, "<tr data-rank") == 3);
    size_t r1 = html.find("data-tag=\"server-1\""), r2 = html.find("data-tag=\"server-2\""),
           r3 = html.find("data-tag=\"server-3\"");
    CHECK(r1 < r2);
    CHECK(r2 < r3);

    std::string down = html_row(html, 2);
    CHECK_THAT(down, StartsWith("<tr data-rank=\"2\" data-tag=\"server-2\" data-state=\"down\">"));
    CHECK(html_cell(down, "state").content == "down");
    CHECK(html_cell(down, "delay").tag == "<td class=\"delay\">");
    CHECK(html_cell(down, "delay").content == "-");
    CHECK(html_cell(down, "score").content == "-");
    CHECK(html_cell(down, "errors16").content == "16");
    CHECK(html_cell(down, "tx").content == "100 B");

    std::string never = html_row(html, 3);
    CHECK_THAT(never, StartsWith("<tr data-rank=\"3\" data-tag=\"server-3\" data-state=\"down\">"));
    CHECK(html_cell(never, "delay").content == "-");
    CHECK(html_cell(never, "tx").content == "0 B");
    CHECK(html_cell(never, "rx-rate").content == "0 bit/s");
}

TEST_CASE("html human units for bytes, bit rates and uptime", "[status]") {
    auto bytes_shown = [](uint64_t n) {
        ServerStatus s = server_up();
        s.tx_bytes = n;
        return cell_text(s, "tx");
    };
    CHECK(bytes_shown(0) == "0 B");
    CHECK(bytes_shown(1023) == "1023 B");
    CHECK(bytes_shown(1024) == "1.00 KiB");
    CHECK(bytes_shown(10 * 1024) == "10.0 KiB");
    CHECK(bytes_shown(10234) == "9.99 KiB");
    CHECK(bytes_shown(10235) == "10.0 KiB");  // 9.995 rounds up: still three digits
    CHECK(bytes_shown(150 * 1024) == "150 KiB");
    CHECK(bytes_shown(1048575) == "1.00 MiB");  // 1023.999 KiB
    CHECK(bytes_shown(5ull << 30) == "5.00 GiB");
    CHECK(bytes_shown(3ull << 40) == "3.00 TiB");
    CHECK(bytes_shown(std::numeric_limits<uint64_t>::max()) == "16.0 EiB");

    auto rate_shown = [](double bps) {
        ServerStatus s = server_up();
        s.rx_bps = bps;
        return cell_text(s, "rx-rate");
    };
    CHECK(rate_shown(0) == "0 bit/s");
    CHECK(rate_shown(999) == "999 bit/s");
    CHECK(rate_shown(999.6) == "1.00 kbit/s");
    CHECK(rate_shown(12500) == "12.5 kbit/s");
    CHECK(rate_shown(8e6) == "8.00 Mbit/s");
    CHECK(rate_shown(1e9) == "1.00 Gbit/s");
    CHECK(rate_shown(-5) == "0 bit/s");
    CHECK(rate_shown(std::nan("")) == "0 bit/s");
    CHECK(rate_shown(std::numeric_limits<double>::infinity()) == "0 bit/s");
    CHECK(rate_shown(1e21) == "1000 Ebit/s");
    CHECK_THAT(rate_shown(1e300), EndsWith(" Ebit/s"));
}

TEST_CASE("html uptime formats", "[status]") {
    auto uptime = [](uint64_t s) {
        Snapshot snap = base();
        snap.uptime_s = s;
        std::string html = render_html(snap);
        size_t begin = html.find("uptime ") + 7;
        return html.substr(begin, html.find("</p>", begin) - begin);
    };
    CHECK(uptime(0) == "0s");
    CHECK(uptime(59) == "59s");
    CHECK(uptime(60) == "1m 0s");
    CHECK(uptime(3600) == "1h 0m 0s");
    CHECK(uptime(86400 * 400 + 7) == "400d 0h 0m 7s");
}

TEST_CASE("html escapes every text from the snapshot", "[status]") {
    ServerStatus s = server_up();
    s.tag = "<script>alert(\"x&y\")</script>'";
    s.protocol = "HTTP&<";
    s.address = "\"><img src=x onerror=alert(1)>";
    Snapshot snap = with(s);
    snap.version = "1.0<b>";
    std::string html = render_html(snap);
    CHECK(html_structure_error(html) == "");
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("<img") == std::string::npos);
    CHECK(html.find("<b>") == std::string::npos);
    const std::string tag = "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;";
    std::string row = html_row(html, 1);
    CHECK_THAT(row, StartsWith("<tr data-rank=\"1\" data-tag=\"" + tag + "\" data-state=\"up\">"));
    CHECK(html_cell(row, "tag").content == tag);
    CHECK(html_cell(row, "protocol").content == "HTTP&amp;&lt;");
    CHECK(html_cell(row, "address").content == "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
    CHECK_THAT(html, Contains("<footer>ferry 1.0&lt;b&gt;, generated"));

    SECTION("control characters and invalid UTF-8 become U+FFFD, valid UTF-8 stays") {
        ServerStatus u = server_up();
        u.tag = std::string("a\x01" "b\nc\x7f" "d\xff" "e\xc2\x9b" "f", 12) + "\xc3\xa9\xf0\x9f\x98\x80";
        std::string shown = cell_text(u, "tag");
        std::string f(kFffd);
        CHECK(shown == "a" + f + "b" + f + "c" + f + "d" + f + "e" + f + "f\xc3\xa9\xf0\x9f\x98\x80");
    }
    SECTION("overlong forms, surrogates and truncated sequences are not UTF-8") {
        ServerStatus u = server_up();
        u.tag = "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82";
        std::string f(kFffd);
        CHECK(cell_text(u, "tag") == f + f + "|" + f + f + f + "|" + f + f + f + f + "|" + f + f);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Text

TEST_CASE("text page of an empty snapshot: header and summary", "[status]") {
    std::string text = render_text(base());
    CHECK(text == "rank  tag  protocol  address  state  delay  score  live  total  errors  err/16  err/64  up  down  "
                  "up/s  down/s\n"
                  "0 of 0 servers up, uptime 1d 2h 3m 4s, direct: 2 live, 5 total\n");
}

TEST_CASE("text page: one aligned row per server with the html columns", "[status]") {
    std::string text = render_text(sample());
    std::vector<std::string> l = lines(text);
    REQUIRE(l.size() == 5);
    CHECK(l[0] == "rank  tag       protocol  address         state  delay  score  live  total  errors  err/16  "
                  "err/64       up    down        up/s      down/s");
    CHECK(l[1] == "   1  server-1  SOCKSv5   127.0.0.1:2001  up      12ms   1234     3   1000       7       1       "
                  "4  1.50KiB  931GiB  12.5kbit/s  1.00Tbit/s");
    CHECK(l[2] == "   2  server-2  HTTP      [::1]:3128      down       -      -     0     20      20      16      "
                  "20     100B      0B      0bit/s      0bit/s");
    CHECK(l[3] == "   3  server-3  HTTP      10.0.0.1:8080   down       -      -     0      0       0       0       "
                  "0       0B      0B      0bit/s      0bit/s");
    CHECK(l[4] == "1 of 3 servers up, uptime 1d 2h 3m 4s, direct: 2 live, 5 total");
    for (size_t i = 0; i < 4; ++i) {
        CHECK(l[i].size() == l[0].size());
        CHECK(fields(l[i]).size() == 16);
    }
    CHECK(text.find("<svg") == std::string::npos);
}

TEST_CASE("text page keeps a row on one line whatever the tag holds", "[status]") {
    ServerStatus s = server_up();
    s.tag = "a\nb\tc\x1b[31md\xc3\xa9";
    std::string text = render_text(with(s));
    std::vector<std::string> l = lines(text);
    REQUIRE(l.size() == 3);
    std::string f(kFffd);
    CHECK(fields(l[1])[1] == "a" + f + "b" + f + "c" + f + "[31md\xc3\xa9");
    // Alignment counts code points: the header's "protocol" and the row's "SOCKSv5" start in the same column.
    size_t extra_bytes = 3 * (kFffd.size() - 1) + 1;  // three U+FFFD and the é take more bytes than columns
    CHECK(l[1].find("SOCKSv5") == l[0].find("protocol") + extra_bytes);
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

TEST_CASE("json of an empty snapshot", "[status]") {
    CHECK(render_json(base()) == "{\"version\":\"0.1.0\",\"uptime_s\":93784,\"generated_unix_ms\":1717243200123,"
                                 "\"servers\":[],\"direct\":{\"alive\":2,\"total\":5}}\n");
    CHECK(render_json(Snapshot{}) == "{\"version\":\"\",\"uptime_s\":0,\"generated_unix_ms\":0,\"servers\":[],"
                                     "\"direct\":{\"alive\":0,\"total\":0}}\n");
}

TEST_CASE("json of one server, exact text", "[status]") {
    CHECK(render_json(with(server_up())) ==
          "{\"version\":\"0.1.0\",\"uptime_s\":93784,\"generated_unix_ms\":1717243200123,\"servers\":[{\"rank\":1,"
          "\"tag\":\"server-1\",\"protocol\":\"SOCKSv5\",\"address\":\"127.0.0.1:2001\",\"up\":true,\"delay_ms\":12,"
          "\"score\":1234,\"conn_alive\":3,\"conn_total\":1000,\"conn_error\":7,\"errors_last16\":1,"
          "\"errors_last64\":4,\"tx_bytes\":1536,\"rx_bytes\":1000000000000,\"tx_bps\":12500,"
          "\"rx_bps\":1000000000000,\"delay_history\":[10,12,null,40,12]}],\"direct\":{\"alive\":2,\"total\":5}}\n");
}

TEST_CASE("json: a server the list named by host gets a host member beside its address", "[status]") {
    ServerStatus s = server_up();
    s.address = "192.0.2.7:1080";
    s.host = "proxy.test:1080";
    Json root = parse_json(render_json(with(s)));
    const cJSON* o = cJSON_GetArrayItem(member(root.get(), "servers"), 0);
    CHECK(cJSON_GetArraySize(o) == 18);
    CHECK(string_member(o, "address") == "192.0.2.7:1080");
    CHECK(string_member(o, "host") == "proxy.test:1080");
    // Without a name there is no host member (the exact text above).
    CHECK(render_json(with(server_up())).find("\"host\"") == std::string::npos);
}

TEST_CASE("json parses back with every field of several servers", "[status]") {
    Snapshot snap = sample();
    snap.servers[1].tx_bps = 1234.5;
    Json root = parse_json(render_json(snap));
    REQUIRE(cJSON_IsObject(root.get()));
    CHECK(cJSON_GetArraySize(root.get()) == 5);
    CHECK(string_member(root.get(), "version") == "0.1.0");
    CHECK(number(root.get(), "uptime_s") == 93784);
    CHECK(number(root.get(), "generated_unix_ms") == 1717243200123.0);
    const cJSON* direct = member(root.get(), "direct");
    CHECK(cJSON_GetArraySize(direct) == 2);
    CHECK(number(direct, "alive") == 2);
    CHECK(number(direct, "total") == 5);

    const cJSON* servers = member(root.get(), "servers");
    REQUIRE(cJSON_IsArray(servers));
    REQUIRE(cJSON_GetArraySize(servers) == 3);
    for (int i = 0; i < 3; ++i) {
        const ServerStatus& want = snap.servers[static_cast<size_t>(i)];
        const cJSON* o = cJSON_GetArrayItem(servers, i);
        INFO("server " << want.tag);
        CHECK(cJSON_GetArraySize(o) == 17);
        CHECK(number(o, "rank") == i + 1);
        CHECK(string_member(o, "tag") == want.tag);
        CHECK(string_member(o, "protocol") == want.protocol);
        CHECK(string_member(o, "address") == want.address);
        CHECK(cJSON_IsBool(member(o, "up")));
        CHECK(static_cast<bool>(cJSON_IsTrue(member(o, "up"))) == want.up);
        check_optional(o, "delay_ms", want.delay_ms);
        check_optional(o, "score", want.score);
        CHECK(number(o, "conn_alive") == static_cast<double>(want.conn_alive));
        CHECK(number(o, "conn_total") == static_cast<double>(want.conn_total));
        CHECK(number(o, "conn_error") == static_cast<double>(want.conn_error));
        CHECK(number(o, "errors_last16") == want.errors_last16);
        CHECK(number(o, "errors_last64") == want.errors_last64);
        CHECK(number(o, "tx_bytes") == static_cast<double>(want.tx_bytes));
        CHECK(number(o, "rx_bytes") == static_cast<double>(want.rx_bytes));
        CHECK(number(o, "tx_bps") == want.tx_bps);
        CHECK(number(o, "rx_bps") == want.rx_bps);
        const cJSON* history = member(o, "delay_history");
        REQUIRE(cJSON_IsArray(history));
        REQUIRE(cJSON_GetArraySize(history) == static_cast<int>(want.delay_history.size()));
        for (size_t k = 0; k < want.delay_history.size(); ++k) {
            const cJSON* probe = cJSON_GetArrayItem(history, static_cast<int>(k));
            if (want.delay_history[k]) {
                REQUIRE(cJSON_IsNumber(probe));
                CHECK(probe->valuedouble == static_cast<double>(*want.delay_history[k]));
            } else {
                CHECK(cJSON_IsNull(probe));
            }
        }
    }
}

TEST_CASE("json integers print exactly, without exponent or decimal point", "[status]") {
    ServerStatus s = server_never_probed();
    s.tx_bytes = 1000000000000;                          // 1e12
    s.rx_bytes = std::numeric_limits<uint64_t>::max();   // beyond 2^53: exact in the text
    s.conn_total = (uint64_t(1) << 53) + 1;
    s.delay_history = {std::numeric_limits<int64_t>::min(), 0};
    s.tx_bps = 1e12;
    s.rx_bps = 0.5;
    std::string json = render_json(with(s));
    CHECK_THAT(json, Contains("\"tx_bytes\":1000000000000,"));
    CHECK_THAT(json, Contains("\"rx_bytes\":18446744073709551615,"));
    CHECK_THAT(json, Contains("\"conn_total\":9007199254740993,"));
    CHECK_THAT(json, Contains("\"delay_history\":[-9223372036854775808,0]"));
    CHECK_THAT(json, Contains("\"tx_bps\":1000000000000,"));
    CHECK_THAT(json, Contains("\"rx_bps\":0.5,"));
    CHECK(parse_json(json) != nullptr);
}

TEST_CASE("json non-finite and negative rates are 0", "[status]") {
    ServerStatus s = server_never_probed();
    s.tx_bps = std::nan("");
    s.rx_bps = -1;
    std::string json = render_json(with(s));
    CHECK_THAT(json, Contains("\"tx_bps\":0,\"rx_bps\":0,"));
}

TEST_CASE("json escapes strings: quotes, backslashes, control characters, unicode", "[status]") {
    ServerStatus s = server_up();
    s.tag = std::string("q\"b\\n\nt\t\x01z\0y", 12);
    s.protocol = "\xc3\xa9\xf0\x9f\x98\x80\xe2\x80\xa8";  // é 😀 U+2028
    s.address = "bad\xff";
    Snapshot snap = with(s);
    snap.version = "</script>";
    std::string json = render_json(snap);
    CHECK_THAT(json, Contains("\"tag\":\"q\\\"b\\\\n\\nt\\t\\u0001z\xEF\xBF\xBDy\""));
    Json root = parse_json(json);
    const cJSON* o = cJSON_GetArrayItem(member(root.get(), "servers"), 0);
    CHECK(string_member(o, "tag") == "q\"b\\n\nt\t\x01z" + std::string(kFffd) + "y");
    CHECK(string_member(o, "protocol") == s.protocol);
    CHECK(string_member(o, "address") == "bad" + std::string(kFffd));
    CHECK(string_member(root.get(), "version") == "</script>");
}

// ---------------------------------------------------------------------------------------------------------------
// Metrics

namespace {

const char* const kFamilies[][2] = {
    {"ferry_moproxy_server_up", "gauge"},
    {"ferry_moproxy_server_delay_seconds", "gauge"},
    {"ferry_moproxy_server_score", "gauge"},
    {"ferry_moproxy_server_connections_alive", "gauge"},
    {"ferry_moproxy_server_connections", "counter"},
    {"ferry_moproxy_server_connection_errors", "counter"},
    {"ferry_moproxy_server_bytes_tx", "counter"},
    {"ferry_moproxy_server_bytes_rx", "counter"},
    {"ferry_moproxy_direct_connections_alive", "gauge"},
    {"ferry_moproxy_direct_connections", "counter"},
    {"ferry_moproxy_uptime_seconds", "gauge"},
};

// Every family once with HELP then TYPE, its samples right after its descriptors and named after it, and
// "# EOF" exactly once, last.
void check_exposition(const std::string& text) {
    REQUIRE_THAT(text, EndsWith("\n# EOF\n"));
    CHECK(count(text, "# EOF") == 1);
    for (auto& [name, type] : kFamilies) {
        INFO(name);
        CHECK(count(text, std::string("# HELP ") + name + ' ') == 1);
        CHECK(count(text, std::string("# TYPE ") + name + ' ' + type + '\n') == 1);
        CHECK(text.find(std::string("# HELP ") + name + ' ') < text.find(std::string("# TYPE ") + name + ' '));
    }
    std::string family, type;
    std::set<std::string> seen;
    for (const std::string& line : lines(text)) {
        INFO(line);
        if (line == "# EOF") break;
        if (line.starts_with("# TYPE ")) {
            std::vector<std::string> f = fields(line);
            REQUIRE(f.size() == 4);
            family = f[2], type = f[3];
            CHECK(seen.insert(family).second);
            continue;
        }
        if (line.starts_with("# HELP ") || line.starts_with("# UNIT ")) continue;
        REQUIRE(!line.starts_with("#"));
        std::string sample = line.substr(0, line.find_first_of("{ "));
        CHECK(sample == (type == "counter" ? family + "_total" : family));
    }
    CHECK(seen.size() == std::size(kFamilies));
}

}  // namespace

TEST_CASE("metrics of an empty snapshot: every family, no server samples", "[status]") {
    std::string text = render_metrics(base());
    check_exposition(text);
    CHECK(text.find("{") == std::string::npos);
    CHECK_THAT(text, Contains("\nferry_moproxy_direct_connections_alive 2\n"));
    CHECK_THAT(text, Contains("\nferry_moproxy_direct_connections_total 5\n"));
    CHECK_THAT(text, Contains("\nferry_moproxy_uptime_seconds 93784\n"));
}

TEST_CASE("metrics exact for a sample", "[status]") {
    Snapshot snap = base();
    snap.servers = {server_up(), server_never_probed()};
    const std::string a = "{tag=\"server-1\",protocol=\"SOCKSv5\",address=\"127.0.0.1:2001\"}";
    const std::string b = "{tag=\"server-3\",protocol=\"HTTP\",address=\"10.0.0.1:8080\"}";
    std::string text = render_metrics(snap);
    check_exposition(text);
    CHECK(text ==
          "# HELP ferry_moproxy_server_up Whether the server answered its last probe (1) or not (0).\n"
          "# TYPE ferry_moproxy_server_up gauge\n"
          "ferry_moproxy_server_up" + a + " 1\n"
          "ferry_moproxy_server_up" + b + " 0\n"
          "# HELP ferry_moproxy_server_delay_seconds Delay of the last probe (connect, proxy handshake, DNS answer); "
          "absent when it failed or none ran.\n"
          "# TYPE ferry_moproxy_server_delay_seconds gauge\n"
          "# UNIT ferry_moproxy_server_delay_seconds seconds\n"
          "ferry_moproxy_server_delay_seconds" + a + " 0.012\n"
          "# HELP ferry_moproxy_server_score Smoothed score the servers are ranked by, lower is better; absent when "
          "unknown.\n"
          "# TYPE ferry_moproxy_server_score gauge\n"
          "ferry_moproxy_server_score" + a + " 1234\n"
          "# HELP ferry_moproxy_server_connections_alive Connections open through the server now.\n"
          "# TYPE ferry_moproxy_server_connections_alive gauge\n"
          "ferry_moproxy_server_connections_alive" + a + " 3\n"
          "ferry_moproxy_server_connections_alive" + b + " 0\n"
          "# HELP ferry_moproxy_server_connections Connections made through the server.\n"
          "# TYPE ferry_moproxy_server_connections counter\n"
          "ferry_moproxy_server_connections_total" + a + " 1000\n"
          "ferry_moproxy_server_connections_total" + b + " 0\n"
          "# HELP ferry_moproxy_server_connection_errors Connections through the server that closed with an error.\n"
          "# TYPE ferry_moproxy_server_connection_errors counter\n"
          "ferry_moproxy_server_connection_errors_total" + a + " 7\n"
          "ferry_moproxy_server_connection_errors_total" + b + " 0\n"
          "# HELP ferry_moproxy_server_bytes_tx Bytes sent to the server.\n"
          "# TYPE ferry_moproxy_server_bytes_tx counter\n"
          "ferry_moproxy_server_bytes_tx_total" + a + " 1536\n"
          "ferry_moproxy_server_bytes_tx_total" + b + " 0\n"
          "# HELP ferry_moproxy_server_bytes_rx Bytes received from the server.\n"
          "# TYPE ferry_moproxy_server_bytes_rx counter\n"
          "ferry_moproxy_server_bytes_rx_total" + a + " 1000000000000\n"
          "ferry_moproxy_server_bytes_rx_total" + b + " 0\n"
          "# HELP ferry_moproxy_direct_connections_alive Connections open now that went direct because every server "
          "failed.\n"
          "# TYPE ferry_moproxy_direct_connections_alive gauge\n"
          "ferry_moproxy_direct_connections_alive 2\n"
          "# HELP ferry_moproxy_direct_connections Connections that went direct because every server failed.\n"
          "# TYPE ferry_moproxy_direct_connections counter\n"
          "ferry_moproxy_direct_connections_total 5\n"
          "# HELP ferry_moproxy_uptime_seconds Seconds since ferry started.\n"
          "# TYPE ferry_moproxy_uptime_seconds gauge\n"
          "# UNIT ferry_moproxy_uptime_seconds seconds\n"
          "ferry_moproxy_uptime_seconds 93784\n"
          "# EOF\n");
}

TEST_CASE("metrics of several servers: delay and score only where known, rank order", "[status]") {
    std::string text = render_metrics(sample());
    check_exposition(text);
    CHECK(count(text, "\nferry_moproxy_server_up{") == 3);
    CHECK(count(text, "\nferry_moproxy_server_delay_seconds{") == 1);
    CHECK(count(text, "\nferry_moproxy_server_score{") == 1);
    CHECK(count(text, "\nferry_moproxy_server_bytes_rx_total{") == 3);
    CHECK(text.find("tag=\"server-1\"") < text.find("tag=\"server-2\""));
    CHECK(text.find("tag=\"server-2\"") < text.find("tag=\"server-3\""));
    CHECK_THAT(text, Contains("ferry_moproxy_server_connection_errors_total{tag=\"server-2\",protocol=\"HTTP\","
                              "address=\"[::1]:3128\"} 20\n"));
}

TEST_CASE("metrics delay seconds are exact decimals", "[status]") {
    auto delay = [](int64_t ms) {
        ServerStatus s = server_up();
        s.delay_ms = ms;
        std::string text = render_metrics(with(s));
        size_t begin = text.find("ferry_moproxy_server_delay_seconds{");
        begin = text.find("} ", begin) + 2;
        return text.substr(begin, text.find('\n', begin) - begin);
    };
    CHECK(delay(0) == "0");
    CHECK(delay(1) == "0.001");
    CHECK(delay(12) == "0.012");
    CHECK(delay(120) == "0.12");
    CHECK(delay(1500) == "1.5");
    CHECK(delay(4000) == "4");
    CHECK(delay(-7) == "-0.007");
    CHECK(delay(std::numeric_limits<int64_t>::min()) == "-9223372036854775.808");
}

TEST_CASE("metrics escape label values: backslash, double quote, newline", "[status]") {
    ServerStatus s = server_up();
    s.tag = "a\"b\\c\nd";
    s.protocol = "HTTP\xff";
    s.address = "{x=\"1\"}";
    std::string text = render_metrics(with(s));
    check_exposition(text);
    CHECK_THAT(text, Contains("\nferry_moproxy_server_up{tag=\"a\\\"b\\\\c\\nd\",protocol=\"HTTP\xEF\xBF\xBD\","
                              "address=\"{x=\\\"1\\\"}\"} 1\n"));
    // Every sample stays on one line: 11 HELP, 11 TYPE, 2 UNIT, 8 server samples, 3 others, # EOF.
    CHECK(lines(text).size() == 36);
}

TEST_CASE("version text", "[status]") {
    CHECK(render_version(base()) == "ferry 0.1.0\n");
    Snapshot s;
    s.version = "1.2.3-rc1\n";
    CHECK(render_version(s) == "ferry 1.2.3-rc1\xEF\xBF\xBD\n");
}

// ---------------------------------------------------------------------------------------------------------------
// Request parsing

TEST_CASE("parse_request: curl's request", "[status]") {
    const std::string head = "GET /status HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\n"
                             "Accept: */*\r\n\r\n";
    Request r = parse_text(head);
    REQUIRE(r.status == Status::Done);
    CHECK(r.consumed == head.size());
    CHECK(r.method == "GET");
    CHECK(r.path == "/status");
    CHECK(r.query == "");
    CHECK_FALSE(r.wants_html);
    CHECK(r.error == "");
}

TEST_CASE("parse_request: Incomplete at every split, Done only with the blank line", "[status]") {
    const std::string head = "GET /metrics?x=1 HTTP/1.1\r\nHost: h\r\nAccept: text/html, */*;q=0.1\r\n"
                             "X-Empty:\r\nX-Spaces:   a b   \r\n\r\n";
    for (size_t n = 0; n < head.size(); ++n) {
        INFO("prefix length " << n);
        Request r = parse_text(std::string_view(head).substr(0, n));
        REQUIRE(r.status == Status::Incomplete);
        CHECK(r.consumed == 0);
        CHECK(r.method == "");
        CHECK(r.error == "");
    }
    Request r = parse_text(head);
    REQUIRE(r.status == Status::Done);
    CHECK(r.consumed == head.size());
    CHECK(r.method == "GET");
    CHECK(r.path == "/metrics");
    CHECK(r.query == "x=1");
    CHECK(r.wants_html);

    SECTION("bytes after the head are not consumed") {
        Request more = parse_text(head + "body bytes\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        REQUIRE(more.status == Status::Done);
        CHECK(more.consumed == head.size());
    }
    SECTION("stateless: the same answer twice") {
        Request again = parse_text(head);
        CHECK(again.status == r.status);
        CHECK(again.consumed == r.consumed);
        CHECK(again.path == r.path);
    }
}

TEST_CASE("parse_request: line endings, leading empty lines, HTTP/1.0", "[status]") {
    Request lf = parse_text("GET / HTTP/1.1\nHost: h\n\n");
    REQUIRE(lf.status == Status::Done);
    CHECK(lf.consumed == 24);

    const std::string leading = "\r\n\nGET /version HTTP/1.0\r\n\r\n";
    Request l = parse_text(leading);
    REQUIRE(l.status == Status::Done);
    CHECK(l.consumed == leading.size());
    CHECK(l.path == "/version");
    CHECK(parse_text("\r\n\r").status == Status::Incomplete);

    Request minimal = parse_text("HEAD / HTTP/1.1\r\n\r\n");
    REQUIRE(minimal.status == Status::Done);
    CHECK(minimal.method == "HEAD");
    CHECK(parse_text("GET / HTTP/1.9\r\n\r\n").status == Status::Done);
}

TEST_CASE("parse_request: request targets", "[status]") {
    struct Case {
        const char* target;
        const char* path;
        const char* query;
    };
    const Case cases[] = {
        {"/", "/", ""},
        {"/status?", "/status", ""},
        {"/status?pretty=1&a=b", "/status", "pretty=1&a=b"},
        {"/status#frag", "/status", ""},
        {"/a?b#c", "/a", "b"},
        {"/%73tatus", "/%73tatus", ""},  // not decoded
        {"//x", "//x", ""},
        {"http://127.0.0.1:8080/metrics?x", "/metrics", "x"},
        {"HTTPS://host", "/", ""},
        {"http://host?q", "/", "q"},
    };
    for (const Case& c : cases) {
        INFO(c.target);
        Request r = parse_text(std::string("GET ") + c.target + " HTTP/1.1\r\n\r\n");
        REQUIRE(r.status == Status::Done);
        CHECK(r.path == c.path);
        CHECK(r.query == c.query);
    }
}

TEST_CASE("parse_request: Accept decides wants_html", "[status]") {
    auto html = [](const std::string& headers) {
        Request r = parse_text("GET / HTTP/1.1\r\n" + headers + "\r\n");
        REQUIRE(r.status == Status::Done);
        return r.wants_html;
    };
    CHECK_FALSE(html(""));
    CHECK_FALSE(html("Accept: */*\r\n"));
    CHECK_FALSE(html("Accept: application/json\r\n"));
    CHECK_FALSE(html("X-Accept: text/html\r\n"));
    CHECK_FALSE(html("User-Agent: text/html\r\n"));
    CHECK(html("Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\r\n"));
    CHECK(html("ACCEPT:TEXT/HTML\r\n"));
    CHECK(html("accept: application/json\r\naccept: text/html\r\n"));
}

TEST_CASE("parse_request: bad request lines are Invalid as soon as provable", "[status]") {
    check_invalid_at_every_split("GET /\r\n\r\n", "malformed request line");
    check_invalid_at_every_split("GET  / HTTP/1.1\r\n\r\n", "malformed request line");
    check_invalid_at_every_split(" GET / HTTP/1.1\r\n\r\n", "malformed request line");
    check_invalid_at_every_split("G@T / HTTP/1.1\r\n\r\n", "malformed request line");
    check_invalid_at_every_split("GET / http/1.1\r\n\r\n", "malformed request line");
    check_invalid_at_every_split("GET / HTTP/1.1 x\r\n\r\n", "malformed request line");
    check_invalid_at_every_split("GET / HTTP/11\r\n\r\n", "malformed request line");
    check_invalid_at_every_split("GET\r\n\r\n", "malformed request line");
    check_invalid_at_every_split("GET / HTTP/2.0\r\n\r\n", "unsupported HTTP version (only HTTP/1.x)");
    check_invalid_at_every_split("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "unsupported HTTP version (only HTTP/1.x)");
    const char* target_error = "request target is neither origin-form nor absolute-form";
    check_invalid_at_every_split("GET status HTTP/1.1\r\n\r\n", target_error);
    check_invalid_at_every_split("OPTIONS * HTTP/1.1\r\n\r\n", target_error);
    check_invalid_at_every_split("GET ftp://h/ HTTP/1.1\r\n\r\n", target_error);
    check_invalid_at_every_split("GET http:///x HTTP/1.1\r\n\r\n", target_error);
    check_invalid_at_every_split("GET /\xc3\xa9 HTTP/1.1\r\n\r\n", target_error);
    check_invalid_at_every_split("GET /a\x01 HTTP/1.1\r\n\r\n", "control character in request head");
    check_invalid_at_every_split("GET /a\rb HTTP/1.1\r\n\r\n", "control character in request head");
    check_invalid_at_every_split("GET\t/ HTTP/1.1\r\n\r\n", "malformed request line");

    // A TLS ClientHello is refused on its first byte, not after 8 KiB.
    CHECK(parse_text("\x16").status == Status::Invalid);
    CHECK(parse_text(std::string_view("\x16\x03\x01\x02\x00\x01\x00", 7)).status == Status::Invalid);
}

TEST_CASE("parse_request: bad header lines", "[status]") {
    check_invalid_at_every_split("GET / HTTP/1.1\r\nHost x\r\n\r\n", "malformed header line");
    check_invalid_at_every_split("GET / HTTP/1.1\r\nHost : x\r\n\r\n", "malformed header line");
    check_invalid_at_every_split("GET / HTTP/1.1\r\n: x\r\n\r\n", "malformed header line");
    check_invalid_at_every_split("GET / HTTP/1.1\r\nA(b: x\r\n\r\n", "malformed header line");
    check_invalid_at_every_split("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", "obsolete header line folding");
    check_invalid_at_every_split("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", "obsolete header line folding");
    check_invalid_at_every_split("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", "control character in request head");
    check_invalid_at_every_split("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", "control character in request head");
    check_invalid_at_every_split(std::string_view("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 23),
                                 "control character in request head");
    check_invalid_at_every_split("GET / HTTP/1.1\r\n\r\r\n", "control character in request head");
    // Tabs and obs-text are fine in values.
    CHECK(parse_text("GET / HTTP/1.1\r\nA:\tb\xff c\t\r\n\r\n").status == Status::Done);
}

TEST_CASE("parse_request: a verdict never changes as bytes arrive", "[status]") {
    // Random heads over an alphabet dense in the bytes the parser decides on; fixed seed.
    const std::string alphabet = "GET / HTTP/1.1\r\n\r\nHost: a\r\n:\t \x01\x7f\xff?#Aa";
    uint32_t seed = 12345;
    auto next = [&] { return seed = seed * 1103515245 + 12345, (seed >> 16) & 0x7fff; };
    for (int round = 0; round < 2000; ++round) {
        std::string head = round % 2 == 0 ? "GET / HTTP/1.1\r\n" : "";
        size_t length = next() % 48;
        while (head.size() < length + 16) head += alphabet[next() % alphabet.size()];
        Request previous = parse_text(std::string_view(head).substr(0, 0));
        for (size_t n = 1; n <= head.size(); ++n) {
            Request r = parse_text(std::string_view(head).substr(0, n));
            INFO("head \"" << head.substr(0, n) << "\"");
            if (previous.status == Status::Invalid) {
                REQUIRE(r.status == Status::Invalid);  // the reason may name another fault found later
            } else if (previous.status == Status::Done) {
                REQUIRE(r.status == Status::Done);
                CHECK(r.consumed == previous.consumed);
            }
            CHECK((r.status == Status::Done) == (r.consumed != 0));
            CHECK((r.status == Status::Invalid) == !r.error.empty());
            previous = r;
        }
    }
}

TEST_CASE("parse_request: heads larger than 8 KiB are Invalid", "[status]") {
    REQUIRE(kMaxRequestHead == 8192);
    const std::string start = "GET / HTTP/1.1\r\nX: ";
    auto head_of = [&](size_t total) {
        return start + std::string(total - start.size() - 4, 'a') + "\r\n\r\n";
    };
    const std::string exact = head_of(kMaxRequestHead);
    REQUIRE(exact.size() == kMaxRequestHead);
    Request ok = parse_text(exact);
    REQUIRE(ok.status == Status::Done);
    CHECK(ok.consumed == kMaxRequestHead);

    Request big = parse_text(head_of(kMaxRequestHead + 1));
    REQUIRE(big.status == Status::Invalid);
    CHECK(big.error == "request head larger than 8192 bytes");

    const std::string endless = start + std::string(20000, 'a');
    CHECK(parse_text(std::string_view(endless).substr(0, kMaxRequestHead - 1)).status == Status::Incomplete);
    CHECK(parse_text(std::string_view(endless).substr(0, kMaxRequestHead)).status == Status::Invalid);
    CHECK(parse_text(endless).status == Status::Invalid);
    CHECK(parse_text(std::string(kMaxRequestHead, '\n')).status == Status::Invalid);
}

// ---------------------------------------------------------------------------------------------------------------
// Routing and responses

TEST_CASE("route: pages by path and Accept", "[status]") {
    const Snapshot snap = sample();
    Response html = route(get("/", true), snap);
    CHECK(html.code == 200);
    CHECK(html.content_type == "text/html; charset=utf-8");
    CHECK(html.body == render_html(snap));

    Response text = route(get("/"), snap);
    CHECK(text.code == 200);
    CHECK(text.content_type == "text/plain; charset=utf-8");
    CHECK(text.body == render_text(snap));

    Response json = route(get("/status", true), snap);
    CHECK(json.code == 200);
    CHECK(json.content_type == "application/json");
    CHECK(json.body == render_json(snap));

    Response metrics = route(get("/metrics?x=1"), snap);
    CHECK(metrics.code == 200);
    CHECK(metrics.content_type == "application/openmetrics-text; version=1.0.0; charset=utf-8");
    CHECK(metrics.body == render_metrics(snap));

    Response plain_page = route(get("/plain", true), snap);  // a browser gets the text table too
    CHECK(plain_page.code == 200);
    CHECK(plain_page.content_type == "text/plain; charset=utf-8");
    CHECK(plain_page.body == render_text(snap));

    Response version = route(get("/version"), snap);
    CHECK(version.code == 200);
    CHECK(version.content_type == "text/plain; charset=utf-8");
    CHECK(version.body == "ferry 0.1.0\n");

    for (const char* path : {"/", "/plain", "/status", "/metrics", "/version", "http://h/status"})
        CHECK(needs_snapshot(get(path)));
}

TEST_CASE("route: 404 and 405 need no snapshot", "[status]") {
    for (const char* path : {"/favicon.ico", "/status/", "/STATUS", "/index.html", "//"}) {
        INFO(path);
        Request r = get(path);
        CHECK_FALSE(needs_snapshot(r));
        Response resp = route(r, Snapshot{});
        CHECK(resp.code == 404);
        CHECK(resp.content_type == "text/plain; charset=utf-8");
        CHECK_THAT(resp.body, StartsWith("404 not found"));
    }
    for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "get", "CONNECT"}) {
        INFO(method);
        Request r = parse_text(std::string(method) + " /status HTTP/1.1\r\n\r\n");
        REQUIRE(r.status == Status::Done);
        CHECK_FALSE(needs_snapshot(r));
        Response resp = route(r, Snapshot{});
        CHECK(resp.code == 405);
        CHECK_THAT(resp.body, Contains("Allow: GET, HEAD"));
        CHECK_THAT(serialize(resp, false), Contains("\r\nAllow: GET, HEAD\r\n"));
    }
}

TEST_CASE("route: requests that are not Done get 400", "[status]") {
    Request bad = parse_text("GET / HTTP/2.0\r\n\r\n");
    CHECK_FALSE(needs_snapshot(bad));
    Response resp = route(bad, Snapshot{});
    CHECK(resp.code == 400);
    CHECK(resp.body == "400 bad request: unsupported HTTP version (only HTTP/1.x)\n");
    CHECK(route(Request{}, Snapshot{}).body == "400 bad request: incomplete request\n");
    CHECK_THAT(serialize(resp, false), StartsWith("HTTP/1.1 400 Bad Request\r\n"));
}

TEST_CASE("serialize: exact bytes, HEAD keeps Content-Length and drops the body", "[status]") {
    Response r{200, "text/plain; charset=utf-8", "ferry 0.1.0\n"};
    CHECK(serialize(r, false) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n"
                                 "Cache-Control: no-store\r\nConnection: close\r\n\r\nferry 0.1.0\n");
    CHECK(serialize(r, true) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n"
                                "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
    Response nf{404, "text/plain; charset=utf-8", ""};
    CHECK(serialize(nf, false) == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                  "Content-Length: 0\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
    Response na{405, "text/plain; charset=utf-8", "x"};
    CHECK(serialize(na, true) == "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                 "Allow: GET, HEAD\r\nContent-Length: 1\r\nCache-Control: no-store\r\n"
                                 "Connection: close\r\n\r\n");
    CHECK(std::string(reason_phrase(400)) == "Bad Request");
    CHECK(std::string(reason_phrase(408)) == "Request Timeout");
    CHECK(std::string(reason_phrase(503)) == "Service Unavailable");
    CHECK(std::string(reason_phrase(299)) == "Unknown");
}

TEST_CASE("HEAD: bytes in, headers out, same length as GET", "[status]") {
    const Snapshot snap = sample();
    Request head = parse_text("HEAD /status HTTP/1.1\r\nHost: h\r\n\r\n");
    REQUIRE(head.status == Status::Done);
    REQUIRE(needs_snapshot(head));
    Response resp = route(head, snap);
    CHECK(resp.code == 200);
    std::string wire = serialize(resp, head.method == "HEAD");
    std::string body = render_json(snap);
    CHECK_THAT(wire, StartsWith("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n"));
    CHECK_THAT(wire, EndsWith("\r\n\r\n"));
    CHECK(wire.find('{') == std::string::npos);
    CHECK(serialize(route(get("/status"), snap), false) == wire + body);
}
