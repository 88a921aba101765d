#include "backends/status_page.h"

#include <cjson/cJSON.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <iterator>
#include <memory>
#include <new>
#include <string_view>

namespace ferry::status {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

constexpr const char* kHtmlType = "text/html; charset=utf-8";
constexpr const char* kTextType = "text/plain; charset=utf-8";
constexpr const char* kJsonType = "application/json";
constexpr const char* kMetricsType = "application/openmetrics-text; version=1.0.0; charset=utf-8";

// The page reloads itself this often (seconds); the probe interval is 30 s by default, so a reload shows
// connection counts moving without hammering the service.
constexpr int kRefreshSeconds = 10;

// Sparkline geometry: a fixed 2 px per probe, the newest at the right edge, so rows with different history
// lengths share one time axis. kChartWidth fits kHistoryLength probes.
constexpr int kChartStep = 2;
constexpr int kChartWidth = 120;
constexpr int kChartHeight = 24;
constexpr int kChartPad = 2;  // keeps the 1.5 px line inside the box at 0 and at max
static_assert(kChartWidth >= 1 + kChartStep * static_cast<int>(kHistoryLength - 1));

// ---- text hygiene ----

// Length of the well-formed UTF-8 sequence that starts at s[i] with a non-ASCII byte, 0 when there is none
// (stray continuation, overlong form, surrogate, above U+10FFFF, truncated).
size_t utf8_sequence_length(std::string_view s, size_t i) {
    auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = at(i);
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c == 0xE0) {
        n = 3, lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
        n = 3;
    } else if (c == 0xED) {
        n = 3, hi = 0x9F;
    } else if (c == 0xF0) {
        n = 4, lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
        n = 4;
    } else if (c == 0xF4) {
        n = 4, hi = 0x8F;
    } else {
        return 0;
    }
    if (s.size() - i < n || at(i + 1) < lo || at(i + 1) > hi) return 0;
    for (size_t k = 2; k < n; ++k)
        if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
    return n;
}

enum class Escape {
    Html,   // & < > " ' as character references; C0, DEL and C1 controls as U+FFFD
    Text,   // C0, DEL and C1 controls as U+FFFD (a tag must not move the cursor or speak to the terminal)
    Label,  // OpenMetrics label value: backslash, double quote and newline backslash-escaped
    Json,   // as is: cJSON escapes what JSON needs
};

// Appends `s` made safe for `e`. In every mode, bytes that are not well-formed UTF-8 and NUL (which cJSON
// and C strings cannot carry) become U+FFFD.
void append_escaped(std::string& out, std::string_view s, Escape e) {
    bool drop_controls = e == Escape::Html || e == Escape::Text;
    for (size_t i = 0; i < s.size();) {
        char c = s[i];
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x80) {
            size_t n = utf8_sequence_length(s, i);
            bool c1 = n == 2 && u == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;
            if (n == 0 || (c1 && drop_controls)) {
                out += kReplacement;
                i += n == 0 ? 1 : n;
            } else {
                out.append(s, i, n);
                i += n;
            }
            continue;
        }
        ++i;
        if (u == 0 || (drop_controls && (u < 0x20 || u == 0x7F))) {
            out += kReplacement;
            continue;
        }
        switch (e) {
        case Escape::Html:
            switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
            }
            break;
        case Escape::Label:
            switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            default: out += c;
            }
            break;
        case Escape::Text:
        case Escape::Json: out += c; break;
        }
    }
}

std::string escaped(std::string_view s, Escape e) {
    std::string out;
    out.reserve(s.size());
    append_escaped(out, s, e);
    return out;
}

// Terminal columns of well-formed UTF-8, counting every code point as one (no East Asian wide forms).
size_t display_width(std::string_view s) {
    return static_cast<size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// ---- numbers ----

template <class T>
std::string decimal(T v) {
    std::array<char, 24> b;
    auto r = std::to_chars(b.data(), b.data() + b.size(), v);
    return std::string(b.data(), r.ptr);
}

// Three significant digits for 1 <= v < 999.5: "1.50", "15.0", "150". Locale-independent.
std::string three_digits(double v) {
    int precision = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;  // thresholds after rounding: 9.996 is "10.0"
    std::array<char, 400> b;  // fixed notation of any finite double fits
    auto r = std::to_chars(b.data(), b.data() + b.size(), v, std::chars_format::fixed, precision);
    return std::string(b.data(), r.ptr);
}

double clean_rate(double bps) { return std::isfinite(bps) && bps > 0 ? bps : 0; }

struct Quantity {
    std::string number;
    std::string_view unit;

    std::string joined(bool spaced) const { return number + (spaced ? " " : "") + std::string(unit); }
};

Quantity human_bytes(uint64_t n) {
    static constexpr std::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) return {decimal(n), kUnits[0]};
    double v = static_cast<double>(n);
    size_t u = 0;
    while (v >= 1023.5 && u + 1 < std::size(kUnits)) v /= 1024, ++u;  // 1023.9 KiB shows as 1.00 MiB
    return {three_digits(v), kUnits[u]};
}

Quantity human_rate(double bps) {
    static constexpr std::string_view kUnits[] = {"bit/s",  "kbit/s", "Mbit/s", "Gbit/s",
                                                  "Tbit/s", "Pbit/s", "Ebit/s"};
    double v = clean_rate(bps);
    if (v < 999.5) return {decimal(static_cast<int>(std::lround(v))), kUnits[0]};
    size_t u = 0;
    while (v >= 999.5 && u + 1 < std::size(kUnits)) v /= 1000, ++u;
    return {three_digits(v), kUnits[u]};
}

// "42s", "1m 5s", "3h 0m 7s", "2d 1h 0m 0s".
std::string human_duration(uint64_t s) {
    uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
    std::string out;
    if (d != 0) out += decimal(d) + "d ";
    if (d != 0 || h != 0) out += decimal(h) + "h ";
    if (d != 0 || h != 0 || m != 0) out += decimal(m) + "m ";
    return out + decimal(s % 60) + "s";
}

// An exact decimal number of seconds from milliseconds: 12 -> "0.012", 1500 -> "1.5", 2000 -> "2".
std::string seconds_from_ms(int64_t ms) {
    uint64_t magnitude = ms < 0 ? uint64_t(0) - static_cast<uint64_t>(ms) : static_cast<uint64_t>(ms);
    std::string out = ms < 0 ? "-" : "";
    out += decimal(magnitude / 1000);
    if (uint64_t frac = magnitude % 1000; frac != 0) {
        std::string digits = decimal(frac + 1000).substr(1);  // three digits, zero-padded
        while (digits.back() == '0') digits.pop_back();
        out += '.' + digits;
    }
    return out;
}

std::string padded(unsigned v, size_t width) {
    std::string s = decimal(v);
    return std::string(width > s.size() ? width - s.size() : 0, '0') + s;
}

// "2024-06-01T12:00:00.123Z", clamped to years 1970..9999.
std::string iso_time(int64_t unix_ms) {
    using namespace std::chrono;
    constexpr int64_t kMaxMs = 253402300799999;  // 9999-12-31T23:59:59.999Z
    sys_time<milliseconds> t{milliseconds{std::clamp<int64_t>(unix_ms, 0, kMaxMs)}};
    auto day = floor<days>(t);
    year_month_day ymd{day};
    hh_mm_ss hms{t - day};
    return padded(static_cast<unsigned>(static_cast<int>(ymd.year())), 4) + '-' +
           padded(static_cast<unsigned>(ymd.month()), 2) + '-' + padded(static_cast<unsigned>(ymd.day()), 2) +
           'T' + padded(static_cast<unsigned>(hms.hours().count()), 2) + ':' +
           padded(static_cast<unsigned>(hms.minutes().count()), 2) + ':' +
           padded(static_cast<unsigned>(hms.seconds().count()), 2) + '.' +
           padded(static_cast<unsigned>(hms.subseconds().count()), 3) + 'Z';
}

// One decimal place, for SVG coordinates.
std::string coordinate(double v) {
    std::array<char, 32> b;
    auto r = std::to_chars(b.data(), b.data() + b.size(), v, std::chars_format::fixed, 1);
    return std::string(b.data(), r.ptr);
}

size_t servers_up(const Snapshot& s) {
    return static_cast<size_t>(std::count_if(s.servers.begin(), s.servers.end(), [](auto& x) { return x.up; }));
}

// ---- the table both the HTML and the text page show ----

struct Column {
    const char* header;
    const char* css_class;  // also the class of the HTML cells
    bool left_aligned;
    const char* title;  // tooltip on the HTML header, or nullptr
};

constexpr Column kColumns[] = {
    {"rank", "rank", false, "order in which new connections try the servers"},
    {"tag", "tag", true, nullptr},
    {"protocol", "protocol", true, nullptr},
    {"address", "address", true, nullptr},
    {"state", "state", true, nullptr},
    {"delay", "delay", false, "delay of the last probe"},
    {"score", "score", false, "smoothed score, lower is better"},
    {"live", "alive", false, "connections open now"},
    {"total", "total", false, "connections since start"},
    {"errors", "errors", false, "connections closed with an error since start"},
    {"err/16", "errors16", false, "error closes among the last 16 closes"},
    {"err/64", "errors64", false, "error closes among the last 64 closes"},
    {"up", "tx", false, "bytes sent to the server"},
    {"down", "rx", false, "bytes received from the server"},
    {"up/s", "tx-rate", false, "recent throughput to the server"},
    {"down/s", "rx-rate", false, "recent throughput from the server"},
};
constexpr size_t kColumnCount = std::size(kColumns);

struct Cell {
    std::string shown;  // unescaped
    std::string value;  // the raw number behind `shown`, "" when there is none
};

using Row = std::array<Cell, kColumnCount>;

// The cells of one server in kColumns order. `spaced` puts a space between numbers and units (HTML); the
// text page keeps every value free of spaces.
Row row_cells(const ServerStatus& s, size_t rank, bool spaced) {
    auto count = [](uint64_t v) { return Cell{decimal(v), decimal(v)}; };
    auto optional_ms = [&](const std::optional<int64_t>& v, bool with_unit) {
        if (!v) return Cell{"-", ""};
        return Cell{decimal(*v) + (with_unit ? (spaced ? " ms" : "ms") : ""), decimal(*v)};
    };
    auto rate = [&](double bps) {
        double v = clean_rate(bps);
        std::array<char, 400> b;
        auto r = std::to_chars(b.data(), b.data() + b.size(), v, std::chars_format::fixed);  // no exponent
        return Cell{human_rate(v).joined(spaced), std::string(b.data(), r.ptr)};
    };
    return Row{
        count(rank),
        Cell{s.tag, ""},
        Cell{s.protocol, ""},
        Cell{s.address, ""},
        Cell{s.up ? "up" : "down", ""},
        optional_ms(s.delay_ms, true),
        optional_ms(s.score, false),
        count(s.conn_alive),
        count(s.conn_total),
        count(s.conn_error),
        count(s.errors_last16),
        count(s.errors_last64),
        Cell{human_bytes(s.tx_bytes).joined(spaced), decimal(s.tx_bytes)},
        Cell{human_bytes(s.rx_bytes).joined(spaced), decimal(s.rx_bytes)},
        rate(s.tx_bps),
        rate(s.rx_bps),
    };
}

// ---- HTML ----

constexpr std::string_view kCss =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}"
    "table{border-collapse:collapse}"
    "th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
    "th{background:#f4f4f4}"
    ".tag,.protocol,.address,.state{text-align:left}"
    "tr[data-state=down]{color:#888}"
    "tr[data-state=up] td.state{color:#080}"
    "tr[data-state=down] td.state{color:#c00}"
    "td.history{padding:0 8px;vertical-align:middle}"
    "footer,#direct{color:#666}";

// An inline SVG sparkline of the newest kHistoryLength probes, scaled to their own max delay, failed probes
// as red ticks, and a <title> with the last and max delay.
void append_chart(std::string& out, const std::vector<std::optional<int64_t>>& history) {
    size_t n = std::min(history.size(), kHistoryLength);
    auto first = history.end() - static_cast<std::ptrdiff_t>(n);
    int64_t max = 0;
    size_t ok = 0;
    for (auto it = first; it != history.end(); ++it)
        if (*it) max = std::max(max, **it), ++ok;

    std::string title;
    if (n == 0) {
        title = "no probes yet";
    } else if (ok == 0) {
        title = "all " + decimal(n) + " probes failed";
    } else {
        title = history.back() ? "last " + decimal(*history.back()) + " ms" : "last probe failed";
        title += ", max " + decimal(max) + " ms (" + decimal(n) + (n == 1 ? " probe" : " probes");
        if (ok != n) title += ", " + decimal(n - ok) + " failed";
        title += ')';
    }

    out += "<svg class=\"spark\" width=\"" + decimal(kChartWidth) + "\" height=\"" + decimal(kChartHeight) +
           "\" viewBox=\"0 0 " + decimal(kChartWidth) + ' ' + decimal(kChartHeight) + "\"><title>" + title +
           "</title>";
    auto x_of = [&](size_t i) { return kChartWidth - 1 - static_cast<int>(n - 1 - i) * kChartStep; };
    auto y_of = [&](int64_t ms) {
        double ratio = max > 0 ? static_cast<double>(std::max<int64_t>(ms, 0)) / static_cast<double>(max) : 0;
        return kChartHeight - kChartPad - ratio * (kChartHeight - 2 * kChartPad);
    };
    std::string points, last_point;
    for (size_t i = 0; i < n; ++i) {
        auto& probe = first[static_cast<std::ptrdiff_t>(i)];
        std::string x = decimal(x_of(i));
        if (probe) {
            std::string y = coordinate(y_of(*probe));
            points += (points.empty() ? "" : " ") + x + ',' + y;
            last_point = "<circle class=\"last\" cx=\"" + x + "\" cy=\"" + y + "\" r=\"1.5\" fill=\"#36c\"/>";
        } else {
            out += "<line class=\"fail\" x1=\"" + x + "\" y1=\"0\" x2=\"" + x + "\" y2=\"" + decimal(kChartHeight) +
                   "\" stroke=\"#d22\" stroke-width=\"1.5\"/>";
        }
    }
    if (!points.empty())
        out += "<polyline class=\"delay\" points=\"" + points +
               "\" fill=\"none\" stroke=\"#36c\" stroke-width=\"1.5\" stroke-linejoin=\"round\"/>" + last_point;
    out += "</svg>";
}

void append_html_row(std::string& out, const ServerStatus& s, size_t rank) {
    out += "<tr data-rank=\"" + decimal(rank) + "\" data-tag=\"";
    append_escaped(out, s.tag, Escape::Html);
    out += std::string("\" data-state=\"") + (s.up ? "up" : "down") + "\">";
    Row cells = row_cells(s, rank, true);
    for (size_t c = 0; c < kColumnCount; ++c) {
        out += std::string("<td class=\"") + kColumns[c].css_class + '"';
        if (!cells[c].value.empty()) out += " data-value=\"" + cells[c].value + '"';
        out += '>';
        append_escaped(out, cells[c].shown, Escape::Html);
        out += "</td>";
    }
    out += "<td class=\"history\">";
    append_chart(out, s.delay_history);
    out += "</td></tr>\n";
}

// ---- metrics ----

void append_family(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                   std::string_view unit = {}) {
    out += "# HELP " + std::string(name) + ' ' + std::string(help) + '\n';
    out += "# TYPE " + std::string(name) + ' ' + std::string(type) + '\n';
    if (!unit.empty()) out += "# UNIT " + std::string(name) + ' ' + std::string(unit) + '\n';
}

// ---- listeners ----

using metrics::ListenerSnapshot;
using metrics::Protocol;

// The page's extra rules for the listeners' tables (only on pages that show them).
constexpr std::string_view kListenerCss =
    ".listener,.failed{text-align:left}"
    "td.failed{white-space:normal;max-width:26em}"
    "span.reason{display:inline-block;margin:1px 4px 1px 0;padding:0 4px;border-radius:3px;background:#fde8e8}"
    "h2{font-size:16px;margin:1.2em 0 .4em}"
    "footer{margin-top:1em}";

bool any_of_protocol(const Snapshot& s, Protocol p) {
    return std::any_of(s.listeners.begin(), s.listeners.end(), [p](auto& l) { return l.protocol == p; });
}

// "address (name)", or the address alone when the listener has no name.
std::string listener_title(const ListenerSnapshot& l) {
    return l.name.empty() ? l.address : l.address + " (" + l.name + ")";
}

// "reason n, reason n" for the non-zero counts of `labels`; "" when all are zero.
template <size_t N>
std::string nonzero_reasons(const std::array<uint64_t, N>& counts, const std::array<std::string_view, N>& labels) {
    std::string out;
    for (size_t i = 0; i < N; ++i) {
        if (counts[i] == 0) continue;
        if (!out.empty()) out += ", ";
        out += std::string(labels[i]) + ' ' + decimal(counts[i]);
    }
    return out;
}

// The mean of a histogram in milliseconds with one decimal ("0.4"), "-" without samples.
std::string mean_ms(const metrics::Histogram& h) {
    const uint64_t n = h.count();
    if (n == 0) return "-";
    return coordinate(static_cast<double>(h.sum_ms) / static_cast<double>(n));
}

void append_td(std::string& out, const char* cls, const std::string& shown, const std::string& value = {},
               const std::string& extra = {}) {
    out += std::string("<td class=\"") + cls + '"';
    if (!value.empty()) out += " data-value=\"" + value + '"';
    out += extra + '>';
    append_escaped(out, shown, Escape::Html);
    out += "</td>";
}

void append_count_td(std::string& out, const char* cls, uint64_t v) { append_td(out, cls, decimal(v), decimal(v)); }

void append_reasons_td(std::string& out, uint64_t total, const uint64_t* counts,
                       const std::string_view* labels, size_t n) {
    out += "<td class=\"failed\" data-value=\"" + decimal(total) + "\">" + decimal(total);
    for (size_t i = 0; i < n; ++i) {
        if (counts[i] == 0) continue;
        out += " <span class=\"reason\" data-reason=\"" + std::string(labels[i]) + "\" data-value=\"" +
               decimal(counts[i]) + "\">" + std::string(labels[i]) + ' ' + decimal(counts[i]) + "</span>";
    }
    out += "</td>";
}

void append_row_start(std::string& out, const ListenerSnapshot& l) {
    out += "<tr data-listener=\"";
    append_escaped(out, l.name, Escape::Html);
    out += "\" data-address=\"";
    append_escaped(out, l.address, Escape::Html);
    out += "\">";
    append_td(out, "listener", l.name.empty() ? "-" : l.name);
    append_td(out, "address", l.address);
}

void append_udp_table(std::string& out, const Snapshot& s);

// The TCP listeners' table (also when there is no listener at all), then the UDP listeners' (when there are some).
void append_listener_tables(std::string& out, const Snapshot& s) {
    if (!any_of_protocol(s, Protocol::Tcp) && !s.listeners.empty()) return append_udp_table(out, s);
    out += "<h2>listeners</h2>\n<table id=\"listeners\">\n<thead><tr><th class=\"listener\">listener</th>"
           "<th class=\"address\">address</th><th title=\"connections accepted, refused ones included\">accepted"
           "</th><th title=\"connections open now\">active</th><th title=\"connections whose relay started\">"
           "established</th><th title=\"relayed connections that ended\">closed</th><th class=\"failed\">failed"
           "</th><th title=\"bytes relayed from clients to upstreams\">up</th><th title=\"bytes relayed from "
           "upstreams to clients\">down</th><th title=\"mean, accepted to handshake done\">handshake</th>"
           "<th title=\"mean, connect (and proxy handshake) to established\">connect</th><th title=\"accept "
           "paused: out of fds or memory / at the connection limit\">pauses</th></tr></thead>\n<tbody>\n";
    for (const ListenerSnapshot& l : s.listeners) {
        if (l.protocol != Protocol::Tcp) continue;
        append_row_start(out, l);
        append_count_td(out, "accepted", l.accepted);
        append_count_td(out, "active", l.active);
        append_count_td(out, "established", l.established);
        append_count_td(out, "closed", l.closed);
        append_reasons_td(out, l.failed_total(), l.failed.data(), metrics::kFailureLabels.data(), l.failed.size());
        append_td(out, "bytes-up", human_bytes(l.bytes_up).joined(true), decimal(l.bytes_up));
        append_td(out, "bytes-down", human_bytes(l.bytes_down).joined(true), decimal(l.bytes_down));
        append_td(out, "handshake", mean_ms(l.handshake) + " ms", {},
                  " data-count=\"" + decimal(l.handshake.count()) + '"');
        append_td(out, "connect", mean_ms(l.connect) + " ms", {}, " data-count=\"" + decimal(l.connect.count()) + '"');
        append_td(out, "pauses", decimal(l.pauses_resources) + " / " + decimal(l.pauses_limit),
                  decimal(l.pauses_resources + l.pauses_limit));
        out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n";
    if (any_of_protocol(s, Protocol::Udp)) append_udp_table(out, s);
}

void append_udp_table(std::string& out, const Snapshot& s) {
    out += "<h2>UDP</h2>\n<table id=\"udp-listeners\">\n<thead><tr><th class=\"listener\">listener</th>"
           "<th class=\"address\">address</th><th>flows</th><th>active</th><th>datagrams up</th>"
           "<th>datagrams down</th><th class=\"failed\">dropped</th></tr></thead>\n<tbody>\n";
    for (const ListenerSnapshot& l : s.listeners) {
        if (l.protocol != Protocol::Udp) continue;
        append_row_start(out, l);
        append_count_td(out, "flows-opened", l.flows_opened);
        append_count_td(out, "flows-active", l.flows_active);
        append_count_td(out, "datagrams-up", l.datagrams_up);
        append_count_td(out, "datagrams-down", l.datagrams_down);
        append_reasons_td(out, l.dropped_total(), l.dropped.data(), metrics::kUdpDropLabels.data(),
                          l.dropped.size());
        out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n";
}

// ---- JSON ----

struct JsonDelete {
    void operator()(cJSON* j) const { cJSON_Delete(j); }
};
struct JsonFree {
    void operator()(char* p) const { cJSON_free(p); }
};

// Gives `item` to `container` (an object when key != nullptr, else an array). A null item means cJSON ran
// out of memory.
void add(cJSON* container, const char* key, cJSON* item) {
    if (item == nullptr) throw std::bad_alloc();
    bool added = key != nullptr ? cJSON_AddItemToObjectCS(container, key, item) : cJSON_AddItemToArray(container, item);
    if (!added) {
        cJSON_Delete(item);
        throw std::bad_alloc();
    }
}

// cJSON keeps numbers as doubles and prints integers >= 2^31 through %g; a raw item keeps every digit.
template <class T>
cJSON* json_integer(T v) {
    return cJSON_CreateRaw(decimal(v).c_str());
}

cJSON* json_string(std::string_view s) { return cJSON_CreateString(escaped(s, Escape::Json).c_str()); }

cJSON* json_optional(const std::optional<int64_t>& v) { return v ? json_integer(*v) : cJSON_CreateNull(); }

// ---- HTTP ----

constexpr const char* kControlInHead = "control character in request head";
constexpr const char* kBadRequestLine = "malformed request line";
constexpr const char* kBadTarget = "request target is neither origin-form nor absolute-form";
constexpr const char* kBadVersion = "unsupported HTTP version (only HTTP/1.x)";
constexpr const char* kBadHeader = "malformed header line";
constexpr const char* kObsFold = "obsolete header line folding";

bool is_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_control(char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7F;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return lower(x) == lower(y);
           });
}

bool icontains(std::string_view haystack, std::string_view needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(), [](char x, char y) {
               return lower(x) == lower(y);
           }) != haystack.end();
}

Request invalid(std::string why) {
    Request r;
    r.status = Status::Invalid;
    r.error = std::move(why);
    return r;
}

// Parses a complete request line (line ending removed) into r.method/path/query; returns why it is invalid,
// or nullptr.
const char* parse_request_line(std::string_view line, Request& r) {
    size_t sp1 = line.find(' ');
    if (sp1 == 0 || sp1 == std::string_view::npos) return kBadRequestLine;
    std::string_view method = line.substr(0, sp1);
    if (!std::all_of(method.begin(), method.end(), is_tchar)) return kBadRequestLine;
    size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return kBadRequestLine;  // HTTP/0.9, or two spaces
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);

    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (version.size() != 8 || !version.starts_with("HTTP/") || !digit(version[5]) || version[6] != '.' ||
        !digit(version[7]))
        return kBadRequestLine;
    if (version[5] != '1') return kBadVersion;

    for (char c : target)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F) return kBadTarget;
    std::string_view path = target;
    if (target.front() != '/') {
        size_t scheme_end = target.find("://");
        std::string_view scheme = target.substr(0, scheme_end);
        if (scheme_end == std::string_view::npos || !(iequals(scheme, "http") || iequals(scheme, "https")))
            return kBadTarget;
        size_t authority = scheme_end + 3;
        size_t end = target.find_first_of("/?#", authority);
        if (end == authority || authority == target.size()) return kBadTarget;  // empty authority
        path = end == std::string_view::npos ? std::string_view() : target.substr(end);
    }
    path = path.substr(0, path.find('#'));
    size_t q = path.find('?');
    r.method = method;
    r.query = q == std::string_view::npos ? std::string_view() : path.substr(q + 1);
    r.path = path.substr(0, q);
    if (r.path.empty()) r.path = "/";
    return nullptr;
}

// Takes a complete, non-empty header line (line ending removed) into r; returns why it is invalid, or nullptr.
const char* parse_header_line(std::string_view line, Request& r) {
    if (line.front() == ' ' || line.front() == '\t') return kObsFold;
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return kBadHeader;
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_tchar)) return kBadHeader;  // also space before the colon
    // Only Accept matters, and only whether it names text/html, so the value needs no OWS trimming.
    if (iequals(name, "accept") && icontains(line.substr(colon + 1), "text/html")) r.wants_html = true;
    return nullptr;
}

// Why the unterminated last line `part` can never become a valid line whatever follows, or nullptr. Only
// claims what the complete-line checks would also find, so a verdict never changes as bytes arrive.
const char* partial_line_error(std::string_view part, bool request_line) {
    for (size_t i = 0; i < part.size(); ++i)
        if (is_control(part[i]) && !(part[i] == '\r' && i + 1 == part.size())) return kControlInHead;
    size_t i = 0;
    while (i < part.size() && is_tchar(part[i])) ++i;
    if (i == part.size() || part[i] == '\r') return nullptr;
    if (request_line) return i > 0 && part[i] == ' ' ? nullptr : kBadRequestLine;
    if (i == 0 && (part[0] == ' ' || part[0] == '\t')) return kObsFold;
    return i > 0 && part[i] == ':' ? nullptr : kBadHeader;
}

Response plain(int code, std::string body) { return Response{code, kTextType, std::move(body)}; }

bool is_get_or_head(const Request& r) { return r.method == "GET" || r.method == "HEAD"; }

bool is_page(std::string_view path) {
    return path == "/" || path == "/plain" || path == "/status" || path == "/metrics" || path == "/version";
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Renderers

std::string render_html(const Snapshot& s) {
    size_t up = servers_up(s);
    std::string out;
    out.reserve(2048 + s.servers.size() * 2048);
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    out += "<meta http-equiv=\"refresh\" content=\"" + decimal(kRefreshSeconds) + "\">\n";
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    const std::string title = "ferry " + escaped(s.mode, Escape::Html);
    out += "<title>" + title + "</title>\n<style>";
    out += kCss;
    if (s.listeners_shown) out += kListenerCss;
    out += "</style>\n</head>\n<body>\n<h1>" + title + "</h1>\n";
    if (!s.proxies) {
        out += "<p id=\"summary\" data-listeners=\"" + decimal(s.listeners.size()) + "\" data-uptime=\"" +
               decimal(s.uptime_s) + "\">uptime " + human_duration(s.uptime_s) + "</p>\n";
        if (s.listeners_shown) append_listener_tables(out, s);
        std::string when = iso_time(s.generated_unix_ms);
        out += "<footer>ferry ";
        append_escaped(out, s.version, Escape::Html);
        out += ", generated <time datetime=\"" + when + "\">" + when + "</time></footer>\n</body>\n</html>\n";
        return out;
    }
    out += "<p id=\"summary\" data-up=\"" + decimal(up) + "\" data-total=\"" + decimal(s.servers.size()) +
           "\" data-uptime=\"" + decimal(s.uptime_s) + "\">" + decimal(up) + " of " + decimal(s.servers.size()) +
           " servers up, uptime " + human_duration(s.uptime_s) + "</p>\n";
    out += "<table id=\"servers\">\n<thead><tr>";
    for (const Column& c : kColumns) {
        out += std::string("<th class=\"") + c.css_class + '"';
        if (c.title != nullptr) out += std::string(" title=\"") + c.title + '"';
        out += std::string(">") + c.header + "</th>";
    }
    out += "<th class=\"history\" title=\"probe delays, oldest left; red: failed probe\">history</th></tr></thead>\n";
    out += "<tbody>\n";
    for (size_t i = 0; i < s.servers.size(); ++i) append_html_row(out, s.servers[i], i + 1);
    out += "</tbody>\n</table>\n";
    if (s.servers.empty()) out += "<p id=\"no-servers\">no servers configured</p>\n";
    out += "<p id=\"direct\" data-alive=\"" + decimal(s.direct_alive) + "\" data-total=\"" + decimal(s.direct_total) +
           "\">direct connections: " + decimal(s.direct_alive) + " live, " + decimal(s.direct_total) +
           " total</p>\n";
    if (s.listeners_shown) append_listener_tables(out, s);
    std::string when = iso_time(s.generated_unix_ms);
    out += "<footer>ferry ";
    append_escaped(out, s.version, Escape::Html);
    out += ", generated <time datetime=\"" + when + "\">" + when + "</time></footer>\n</body>\n</html>\n";
    return out;
}

namespace {

// One line per listener (render_text's tail).
void append_listener_lines(std::string& out, const Snapshot& s) {
    for (const ListenerSnapshot& l : s.listeners) {
        std::string line;
        if (l.protocol == Protocol::Tcp) {
            line = "tcp " + listener_title(l) + ": accepted " + decimal(l.accepted) + ", active " + decimal(l.active) +
                   ", established " + decimal(l.established) + ", closed " + decimal(l.closed) + ", failed " +
                   decimal(l.failed_total());
            if (std::string r = nonzero_reasons(l.failed, metrics::kFailureLabels); !r.empty()) line += " (" + r + ')';
            line += ", up " + human_bytes(l.bytes_up).joined(false) + ", down " +
                    human_bytes(l.bytes_down).joined(false);
        } else {
            line = "udp " + listener_title(l) + ": flows " + decimal(l.flows_opened) + ", active " +
                   decimal(l.flows_active) + ", datagrams up " + decimal(l.datagrams_up) + ", down " +
                   decimal(l.datagrams_down) + ", dropped " + decimal(l.dropped_total());
            if (std::string r = nonzero_reasons(l.dropped, metrics::kUdpDropLabels); !r.empty())
                line += " (" + r + ')';
        }
        out += escaped(line, Escape::Text) + '\n';
    }
}

}  // namespace

std::string render_text(const Snapshot& s) {
    if (!s.proxies) {
        std::string out = "ferry " + escaped(s.mode, Escape::Text) + ", uptime " + human_duration(s.uptime_s) + '\n';
        if (s.listeners_shown) append_listener_lines(out, s);
        return out;
    }
    std::vector<Row> rows;
    rows.reserve(s.servers.size() + 1);
    Row header;
    for (size_t c = 0; c < kColumnCount; ++c) header[c].shown = kColumns[c].header;
    rows.push_back(std::move(header));
    for (size_t i = 0; i < s.servers.size(); ++i) {
        rows.push_back(row_cells(s.servers[i], i + 1, false));
        for (Cell& cell : rows.back()) cell.shown = escaped(cell.shown, Escape::Text);
    }

    std::array<size_t, kColumnCount> width{};
    for (const Row& row : rows)
        for (size_t c = 0; c < kColumnCount; ++c) width[c] = std::max(width[c], display_width(row[c].shown));

    std::string out;
    for (const Row& row : rows) {
        std::string line;
        for (size_t c = 0; c < kColumnCount; ++c) {
            if (c != 0) line += "  ";
            std::string pad(width[c] - display_width(row[c].shown), ' ');
            line += kColumns[c].left_aligned ? row[c].shown + pad : pad + row[c].shown;
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + '\n';
    }
    out += decimal(servers_up(s)) + " of " + decimal(s.servers.size()) + " servers up, uptime " +
           human_duration(s.uptime_s) + ", direct: " + decimal(s.direct_alive) + " live, " +
           decimal(s.direct_total) + " total\n";
    if (s.listeners_shown) append_listener_lines(out, s);
    return out;
}

namespace {

void append_json_servers(cJSON* root, const Snapshot& s) {
    cJSON* servers = cJSON_CreateArray();
    add(root, "servers", servers);
    for (size_t i = 0; i < s.servers.size(); ++i) {
        const ServerStatus& x = s.servers[i];
        cJSON* o = cJSON_CreateObject();
        add(servers, nullptr, o);
        add(o, "rank", json_integer(i + 1));
        add(o, "tag", json_string(x.tag));
        add(o, "protocol", json_string(x.protocol));
        add(o, "address", json_string(x.address));
        if (!x.host.empty()) add(o, "host", json_string(x.host));  // only for a server the list named
        add(o, "up", cJSON_CreateBool(x.up));
        add(o, "delay_ms", json_optional(x.delay_ms));
        add(o, "score", json_optional(x.score));
        add(o, "conn_alive", json_integer(x.conn_alive));
        add(o, "conn_total", json_integer(x.conn_total));
        add(o, "conn_error", json_integer(x.conn_error));
        add(o, "errors_last16", json_integer(x.errors_last16));
        add(o, "errors_last64", json_integer(x.errors_last64));
        add(o, "tx_bytes", json_integer(x.tx_bytes));
        add(o, "rx_bytes", json_integer(x.rx_bytes));
        add(o, "tx_bps", cJSON_CreateNumber(clean_rate(x.tx_bps)));
        add(o, "rx_bps", cJSON_CreateNumber(clean_rate(x.rx_bps)));
        cJSON* history = cJSON_CreateArray();
        add(o, "delay_history", history);
        for (const auto& probe : x.delay_history) add(history, nullptr, json_optional(probe));
    }
    cJSON* direct = cJSON_CreateObject();
    add(root, "direct", direct);
    add(direct, "alive", json_integer(s.direct_alive));
    add(direct, "total", json_integer(s.direct_total));
}

void append_json_listeners(cJSON* root, const Snapshot& s) {
    cJSON* listeners = cJSON_CreateArray();
    add(root, "listeners", listeners);
    auto reasons = [](const auto& counts, const auto& labels) {
        cJSON* o = cJSON_CreateObject();
        if (!o) throw std::bad_alloc();
        // The labels are string literals: NUL-terminated and static, as cJSON's constant keys must be.
        for (size_t i = 0; i < counts.size(); ++i) add(o, labels[i].data(), json_integer(counts[i]));
        return o;
    };
    auto histogram = [](const metrics::Histogram& h) {
        cJSON* o = cJSON_CreateObject();
        if (!o) throw std::bad_alloc();
        cJSON* buckets = cJSON_CreateArray();
        add(o, "buckets", buckets);
        uint64_t cumulative = 0;
        for (size_t i = 0; i < metrics::kLatencyBuckets; ++i) {
            cumulative += h.buckets[i];
            cJSON* b = cJSON_CreateObject();
            add(buckets, nullptr, b);
            add(b, "le", i < metrics::kLatencyBoundsMs.size() ? json_integer(metrics::kLatencyBoundsMs[i])
                                                              : cJSON_CreateString("+Inf"));
            add(b, "count", json_integer(cumulative));
        }
        add(o, "sum", json_integer(h.sum_ms));
        add(o, "count", json_integer(cumulative));
        return o;
    };
    for (const ListenerSnapshot& l : s.listeners) {
        cJSON* o = cJSON_CreateObject();
        add(listeners, nullptr, o);
        add(o, "name", json_string(l.name));
        add(o, "address", json_string(l.address));
        if (l.protocol == Protocol::Tcp) {
            add(o, "protocol", cJSON_CreateString("tcp"));
            add(o, "accepted", json_integer(l.accepted));
            add(o, "active", json_integer(l.active));
            add(o, "established", json_integer(l.established));
            add(o, "closed", json_integer(l.closed));
            add(o, "failed", reasons(l.failed, metrics::kFailureLabels));
            add(o, "bytes_up", json_integer(l.bytes_up));
            add(o, "bytes_down", json_integer(l.bytes_down));
            add(o, "handshake_ms", histogram(l.handshake));
            add(o, "connect_ms", histogram(l.connect));
            cJSON* pauses = cJSON_CreateObject();
            add(o, "pauses", pauses);
            add(pauses, "resources", json_integer(l.pauses_resources));
            add(pauses, "limit", json_integer(l.pauses_limit));
        } else {
            add(o, "protocol", cJSON_CreateString("udp"));
            add(o, "flows_opened", json_integer(l.flows_opened));
            add(o, "flows_closed", json_integer(l.flows_closed));
            add(o, "flows_active", json_integer(l.flows_active));
            add(o, "datagrams_up", json_integer(l.datagrams_up));
            add(o, "datagrams_down", json_integer(l.datagrams_down));
            add(o, "dropped", reasons(l.dropped, metrics::kUdpDropLabels));
        }
    }
}

}  // namespace

std::string render_json(const Snapshot& s) {
    std::unique_ptr<cJSON, JsonDelete> root(cJSON_CreateObject());
    if (!root) throw std::bad_alloc();
    add(root.get(), "version", json_string(s.version));
    add(root.get(), "uptime_s", json_integer(s.uptime_s));
    add(root.get(), "generated_unix_ms", json_integer(s.generated_unix_ms));
    if (s.proxies) append_json_servers(root.get(), s);
    if (s.listeners_shown) append_json_listeners(root.get(), s);

    std::unique_ptr<char, JsonFree> text(cJSON_PrintUnformatted(root.get()));
    if (!text) throw std::bad_alloc();
    return std::string(text.get()) + '\n';
}

namespace {

// The listeners' OpenMetrics families (render_metrics's tail, before "# EOF").
void append_listener_metrics(std::string& out, const Snapshot& s) {
    std::vector<std::string> labels;  // "listener=\"..\",address=\"..\"" without braces
    labels.reserve(s.listeners.size());
    for (const ListenerSnapshot& l : s.listeners) {
        std::string x;
        if (!l.name.empty()) {
            x += "listener=\"";
            append_escaped(x, l.name, Escape::Label);
            x += "\",";
        }
        x += "address=\"";
        append_escaped(x, l.address, Escape::Label);
        x += '"';
        labels.push_back(std::move(x));
    }
    // One family: header lines, then per listener of `protocol` the samples `value` writes.
    auto family = [&](Protocol protocol, std::string_view name, std::string_view type, std::string_view help,
                      std::string_view unit, auto samples) {
        append_family(out, name, type, help, unit);
        for (size_t i = 0; i < s.listeners.size(); ++i)
            if (s.listeners[i].protocol == protocol) samples(s.listeners[i], labels[i]);
    };
    auto counter = [&](Protocol protocol, std::string_view name, std::string_view help, auto value) {
        family(protocol, name, "counter", help, {}, [&](const ListenerSnapshot& l, const std::string& lab) {
            out += std::string(name) + "_total{" + lab + "} " + decimal(value(l)) + '\n';
        });
    };
    auto by_reason = [&](Protocol protocol, std::string_view name, std::string_view help, auto counts,
                         const auto& reason_labels) {
        family(protocol, name, "counter", help, {}, [&](const ListenerSnapshot& l, const std::string& lab) {
            const auto& c = counts(l);
            for (size_t r = 0; r < c.size(); ++r)
                out += std::string(name) + "_total{" + lab + ",reason=\"" + std::string(reason_labels[r]) + "\"} " +
                       decimal(c[r]) + '\n';
        });
    };
    auto histogram = [&](std::string_view name, std::string_view help, auto pick) {
        family(Protocol::Tcp, name, "histogram", help, "seconds", [&](const ListenerSnapshot& l,
                                                                      const std::string& lab) {
            const metrics::Histogram& h = pick(l);
            uint64_t cumulative = 0;
            for (size_t b = 0; b < metrics::kLatencyBuckets; ++b) {
                cumulative += h.buckets[b];
                const std::string le = b < metrics::kLatencyBoundsMs.size()
                                           ? seconds_from_ms(static_cast<int64_t>(metrics::kLatencyBoundsMs[b]))
                                           : "+Inf";
                out += std::string(name) + "_bucket{" + lab + ",le=\"" + le + "\"} " + decimal(cumulative) + '\n';
            }
            out += std::string(name) + "_sum{" + lab + "} " + seconds_from_ms(static_cast<int64_t>(h.sum_ms)) + '\n';
            out += std::string(name) + "_count{" + lab + "} " + decimal(cumulative) + '\n';
        });
    };
    using L = const ListenerSnapshot&;
    counter(Protocol::Tcp, "ferry_connections_accepted", "Connections accepted, refused ones included.",
            [](L l) { return l.accepted; });
    family(Protocol::Tcp, "ferry_connections_active", "gauge", "Connections open now.", {},
           [&](L l, const std::string& lab) {
               out += "ferry_connections_active{" + lab + "} " + decimal(l.active) + '\n';
           });
    counter(Protocol::Tcp, "ferry_connections_established", "Connections whose relay started.",
            [](L l) { return l.established; });
    counter(Protocol::Tcp, "ferry_connections_closed", "Relayed connections that ended (cleanly or not).",
            [](L l) { return l.closed; });
    by_reason(Protocol::Tcp, "ferry_connections_failed", "Connections that failed, by reason.",
              [](L l) -> const auto& { return l.failed; }, metrics::kFailureLabels);
    counter(Protocol::Tcp, "ferry_bytes_up",
            "Bytes relayed from clients to upstreams (counted as they move, at most once a second).",
            [](L l) { return l.bytes_up; });
    counter(Protocol::Tcp, "ferry_bytes_down",
            "Bytes relayed from upstreams to clients (counted as they move, at most once a second).",
            [](L l) { return l.bytes_down; });
    histogram("ferry_handshake_duration_seconds", "From accept to the end of the inbound handshake.",
              [](L l) -> const metrics::Histogram& { return l.handshake; });
    histogram("ferry_connect_duration_seconds", "From the winning attempt's start to the established upstream.",
              [](L l) -> const metrics::Histogram& { return l.connect; });
    family(Protocol::Tcp, "ferry_listener_pauses", "counter",
           "Times accepting paused: out of fds or memory (resources), at the connection limit (limit).", {},
           [&](L l, const std::string& lab) {
               out += "ferry_listener_pauses_total{" + lab + ",reason=\"resources\"} " + decimal(l.pauses_resources) +
                      '\n';
               out += "ferry_listener_pauses_total{" + lab + ",reason=\"limit\"} " + decimal(l.pauses_limit) + '\n';
           });
    if (!any_of_protocol(s, Protocol::Udp)) return;
    counter(Protocol::Udp, "ferry_udp_flows_opened", "UDP flows opened.", [](L l) { return l.flows_opened; });
    family(Protocol::Udp, "ferry_udp_flows_active", "gauge", "UDP flows open now.", {},
           [&](L l, const std::string& lab) {
               out += "ferry_udp_flows_active{" + lab + "} " + decimal(l.flows_active) + '\n';
           });
    counter(Protocol::Udp, "ferry_udp_datagrams_up", "Datagrams relayed to the targets.",
            [](L l) { return l.datagrams_up; });
    counter(Protocol::Udp, "ferry_udp_datagrams_down", "Reply datagrams relayed back.",
            [](L l) { return l.datagrams_down; });
    by_reason(Protocol::Udp, "ferry_udp_datagrams_dropped", "Datagrams dropped, by reason.",
              [](L l) -> const auto& { return l.dropped; }, metrics::kUdpDropLabels);
}

}  // namespace

std::string render_metrics(const Snapshot& s) {
    if (!s.proxies) {
        std::string out;
        append_family(out, "ferry_uptime_seconds", "gauge", "Seconds since ferry started.", "seconds");
        out += "ferry_uptime_seconds " + decimal(s.uptime_s) + '\n';
        if (s.listeners_shown) append_listener_metrics(out, s);
        out += "# EOF\n";
        return out;
    }
    std::vector<std::string> labels;
    labels.reserve(s.servers.size());
    for (const ServerStatus& x : s.servers) {
        std::string l = "{tag=\"";
        append_escaped(l, x.tag, Escape::Label);
        l += "\",protocol=\"";
        append_escaped(l, x.protocol, Escape::Label);
        l += "\",address=\"";
        append_escaped(l, x.address, Escape::Label);
        l += "\"}";
        labels.push_back(std::move(l));
    }
    std::string out;
    // One family per server field: header lines, then a sample per server for which `value` has one.
    auto per_server = [&](std::string_view name, std::string_view type, std::string_view help, std::string_view unit,
                          auto value) {
        append_family(out, name, type, help, unit);
        std::string sample(name);
        if (type == "counter") sample += "_total";
        for (size_t i = 0; i < s.servers.size(); ++i)
            if (std::optional<std::string> v = value(s.servers[i])) out += sample + labels[i] + ' ' + *v + '\n';
    };
    using V = std::optional<std::string>;
    per_server("ferry_moproxy_server_up", "gauge", "Whether the server answered its last probe (1) or not (0).", {},
               [](const ServerStatus& x) { return V(x.up ? "1" : "0"); });
    per_server("ferry_moproxy_server_delay_seconds", "gauge",
               "Delay of the last probe (connect, proxy handshake, DNS answer); absent when it failed or none ran.",
               "seconds", [](const ServerStatus& x) { return x.delay_ms ? V(seconds_from_ms(*x.delay_ms)) : V(); });
    per_server("ferry_moproxy_server_score", "gauge",
               "Smoothed score the servers are ranked by, lower is better; absent when unknown.", {},
               [](const ServerStatus& x) { return x.score ? V(decimal(*x.score)) : V(); });
    per_server("ferry_moproxy_server_connections_alive", "gauge", "Connections open through the server now.", {},
               [](const ServerStatus& x) { return V(decimal(x.conn_alive)); });
    per_server("ferry_moproxy_server_connections", "counter", "Connections made through the server.", {},
               [](const ServerStatus& x) { return V(decimal(x.conn_total)); });
    per_server("ferry_moproxy_server_connection_errors", "counter",
               "Connections through the server that closed with an error.", {},
               [](const ServerStatus& x) { return V(decimal(x.conn_error)); });
    per_server("ferry_moproxy_server_bytes_tx", "counter", "Bytes sent to the server.", {},
               [](const ServerStatus& x) { return V(decimal(x.tx_bytes)); });
    per_server("ferry_moproxy_server_bytes_rx", "counter", "Bytes received from the server.", {},
               [](const ServerStatus& x) { return V(decimal(x.rx_bytes)); });

    append_family(out, "ferry_moproxy_direct_connections_alive", "gauge",
                  "Connections open now that went direct because every server failed.");
    out += "ferry_moproxy_direct_connections_alive " + decimal(s.direct_alive) + '\n';
    append_family(out, "ferry_moproxy_direct_connections", "counter",
                  "Connections that went direct because every server failed.");
    out += "ferry_moproxy_direct_connections_total " + decimal(s.direct_total) + '\n';
    append_family(out, "ferry_moproxy_uptime_seconds", "gauge", "Seconds since ferry started.", "seconds");
    out += "ferry_moproxy_uptime_seconds " + decimal(s.uptime_s) + '\n';
    if (s.listeners_shown) append_listener_metrics(out, s);
    out += "# EOF\n";
    return out;
}

std::string render_version(const Snapshot& s) { return "ferry " + escaped(s.version, Escape::Text) + '\n'; }

// ---------------------------------------------------------------------------------------------------------------
// HTTP

Request parse_request(std::span<const std::byte> data) {
    std::string_view in(reinterpret_cast<const char*>(data.data()), std::min(data.size(), kMaxRequestHead));
    size_t pos = 0;
    for (;;) {  // RFC 9112 2.2: ignore empty lines before the request line
        if (in.substr(pos).starts_with("\r\n")) pos += 2;
        else if (in.substr(pos).starts_with('\n')) pos += 1;
        else break;
    }
    Request r;
    for (bool request_line = true;; request_line = false) {
        size_t lf = in.find('\n', pos);
        if (lf == std::string_view::npos) {
            if (const char* why = partial_line_error(in.substr(pos), request_line)) return invalid(why);
            if (data.size() >= kMaxRequestHead)
                return invalid("request head larger than " + decimal(kMaxRequestHead) + " bytes");
            return Request{};
        }
        std::string_view line = in.substr(pos, lf - pos);
        if (line.ends_with('\r')) line.remove_suffix(1);
        pos = lf + 1;
        if (std::any_of(line.begin(), line.end(), is_control)) return invalid(kControlInHead);
        if (request_line) {
            if (const char* why = parse_request_line(line, r)) return invalid(why);
        } else if (line.empty()) {
            r.status = Status::Done;
            r.consumed = pos;
            return r;
        } else if (const char* why = parse_header_line(line, r)) {
            return invalid(why);
        }
    }
}

bool needs_snapshot(const Request& r) { return r.status == Status::Done && is_get_or_head(r) && is_page(r.path); }

Response route(const Request& r, const Snapshot& s) {
    if (r.status != Status::Done)
        return plain(400, "400 bad request: " + (r.error.empty() ? std::string("incomplete request") : r.error) + '\n');
    if (!is_get_or_head(r)) return plain(405, "405 method not allowed (Allow: GET, HEAD)\n");
    if (r.path == "/") return r.wants_html ? Response{200, kHtmlType, render_html(s)} : plain(200, render_text(s));
    if (r.path == "/plain") return plain(200, render_text(s));  // moproxy's: the text table, browsers too
    if (r.path == "/status") return Response{200, kJsonType, render_json(s)};
    if (r.path == "/metrics") return Response{200, kMetricsType, render_metrics(s)};
    if (r.path == "/version") return plain(200, render_version(s));
    return plain(404, "404 not found: try /, /plain, /status, /metrics or /version\n");
}

const char* reason_phrase(int code) {
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

std::string serialize(const Response& r, bool head_only) {
    std::string out = "HTTP/1.1 " + decimal(r.code) + ' ' + reason_phrase(r.code) + "\r\n";
    out += "Content-Type: " + r.content_type + "\r\n";
    if (r.code == 405) out += "Allow: GET, HEAD\r\n";
    out += "Content-Length: " + decimal(r.body.size()) + "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
    if (!head_only) out += r.body;
    return out;
}

}  // namespace ferry::status
