#include "support/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

namespace ferry::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::Info)};
std::atomic<int> g_fd{2};
std::atomic<int> g_format{static_cast<int>(Format::Json)};

// One line (or a line and its trailer) at a time: a long write to a pipe is not atomic, and other threads'
// lines must not land inside it.
std::mutex g_write_mu;

void write_all(const std::string& buf) {
    std::lock_guard<std::mutex> lock(g_write_mu);
    int fd = g_fd.load(std::memory_order_relaxed);
    const char* p = buf.data();
    size_t left = buf.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n == -1) {
            if (errno == EINTR) continue;
            return;
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
}

// Go's log.LstdFlags: "2006/01/02 15:04:05 " in local time.
void append_go_time(std::string& out) {
    time_t now = ::time(nullptr);
    tm local{};
    localtime_r(&now, &local);
    char buf[32];
    size_t n = std::strftime(buf, sizeof buf, "%Y/%m/%d %H:%M:%S ", &local);
    out.append(buf, n);
}

// slog's time: RFC 3339 with milliseconds in local time, "2026-12-01T20:23:09.123Z" or "...+01:00".
void append_slog_time(std::string& out) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm local{};
    localtime_r(&ts.tv_sec, &local);
    char buf[48];
    size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &local);
    n += static_cast<size_t>(std::snprintf(buf + n, sizeof buf - n, ".%03ld", ts.tv_nsec / 1000000));
    out.append(buf, n);
    const long off = local.tm_gmtoff;
    if (off == 0) {
        out.push_back('Z');
    } else {
        char z[48];
        const long a = off < 0 ? -off : off;
        std::snprintf(z, sizeof z, "%c%02ld:%02ld", off < 0 ? '-' : '+', a / 3600 % 100, a / 60 % 60);
        out += z;
    }
}

const char* slog_level(Level level) {
    switch (level) {
        case Level::Debug: return "DEBUG";
        case Level::Info: return "INFO";
        case Level::Warn: return "WARN";
        case Level::Error:
        case Level::Fatal: return "ERROR";
    }
    return "INFO";
}

// A value in a GoStd or Slog line: bare when it is one printable word (for slog also without '='), JSON-quoted
// otherwise.
void append_text_value(std::string& out, std::string_view v) {
    bool bare = !v.empty();
    for (char ch : v) {
        auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == '"' || c == '\\' || c == 0x7f || c == '=') bare = false;
    }
    if (bare)
        out += v;
    else
        append_json_string(out, v);
}

const char* level_name(Level level) {
    switch (level) {
        case Level::Debug: return "debug";
        case Level::Info: return "info";
        case Level::Warn: return "warn";
        case Level::Error: return "error";
        case Level::Fatal: return "fatal";
    }
    return "info";
}

// One ASCII byte inside a JSON string: ", \\, \n, \r, \t by name, the other controls (and DEL with
// `escape_del`, as zap does) as \u00xx, the rest as it is.
void append_json_ascii(std::string& out, unsigned char c, bool escape_del) {
    static const char kHex[] = "0123456789abcdef";
    switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20 || (c == 0x7f && escape_del)) {
                out += "\\u00";
                out.push_back(kHex[c >> 4]);
                out.push_back(kHex[c & 15]);
            } else {
                out.push_back(static_cast<char>(c));
            }
    }
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The length of the valid UTF-8 sequence starting at s[i] (2..4), or 0 when it is not one (Go's
// utf8.DecodeRuneInString: no overlongs, no surrogates, nothing past U+10FFFF).
size_t utf8_length(std::string_view s, size_t i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
    if (b0 >= 0xC2 && b0 <= 0xDF) return is_continuation(at(1)) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        const unsigned char b1 = at(1);
        if (!is_continuation(b1) || !is_continuation(at(2))) return 0;
        if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
        if (b0 == 0xED && b1 >= 0xA0) return 0;  // surrogate
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        const unsigned char b1 = at(1);
        if (!is_continuation(b1) || !is_continuation(at(2)) || !is_continuation(at(3))) return 0;
        if (b0 == 0xF0 && b1 < 0x90) return 0;
        if (b0 == 0xF4 && b1 >= 0x90) return 0;
        return 4;
    }
    return 0;
}

}  // namespace

void append_slog_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            append_json_ascii(out, c, false);  // encoding/json leaves DEL as it is
            ++i;
            continue;
        }
        const size_t n = utf8_length(s, i);
        if (n == 0) {
            out += "\\ufffd";
            ++i;
            continue;
        }
        if (n == 3 && c == 0xE2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
            (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
            out += static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
        } else {
            out.append(s.substr(i, n));
        }
        i += n;
    }
    out.push_back('"');
}

void append_rfc3339_nano(std::string& out, const timespec& ts, long gmtoff) {
    const time_t shifted = ts.tv_sec + gmtoff;
    tm t{};
    gmtime_r(&shifted, &t);
    char buf[64];
    size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
    out.append(buf, n);
    if (ts.tv_nsec != 0) {
        char frac[16];
        std::snprintf(frac, sizeof frac, ".%09ld", ts.tv_nsec);
        size_t len = std::strlen(frac);
        while (frac[len - 1] == '0') --len;
        out.append(frac, len);
    }
    if (gmtoff == 0) {
        out.push_back('Z');
    } else {
        const long a = gmtoff < 0 ? -gmtoff : gmtoff;
        std::snprintf(buf, sizeof buf, "%c%02ld:%02ld", gmtoff < 0 ? '-' : '+', a / 3600 % 100, a / 60 % 60);
        out += buf;
    }
}

namespace {

// The key as this format writes it: go-mmproxy 2.3 renamed 2.1's listenAdr, remoteAddr and localAddr.
std::string_view key_name(Format f, std::string_view k) {
    if (f != Format::SlogJson) return k;
    if (k == "listenAdr") return "listenAddr";
    if (k == "remoteAddr") return "frontendRemoteAddr";
    if (k == "localAddr") return "frontendLocalAddr";
    return k;
}

}  // namespace

void set_min_level(Level level) { g_min_level.store(static_cast<int>(level), std::memory_order_relaxed); }
bool enabled(Level level) { return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed); }
void set_fd(int fd) { g_fd.store(fd, std::memory_order_relaxed); }
void set_format(Format f) { g_format.store(static_cast<int>(f), std::memory_order_relaxed); }
Format format() { return static_cast<Format>(g_format.load(std::memory_order_relaxed)); }

void plain(std::string_view text) {
    std::string buf;
    buf.reserve(text.size() + 24);
    append_go_time(buf);
    buf += text;
    buf.push_back('\n');
    write_all(buf);
}

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x80)
            append_json_ascii(out, c, true);
        else
            out.push_back(ch);
    }
    out.push_back('"');
}

Line::Line(Level level, std::string_view msg, std::string_view caller) : format_(format()) {
    buf_.reserve(256);
    if (format_ == Format::GoStd) {
        append_go_time(buf_);
        buf_ += '[';
        buf_ += level_name(level);
        buf_ += "] ";
        buf_ += msg;
        return;
    }
    if (format_ == Format::SlogJson) {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        tm local{};
        localtime_r(&ts.tv_sec, &local);
        buf_ += "{\"time\":\"";
        append_rfc3339_nano(buf_, ts, local.tm_gmtoff);
        buf_ += "\",\"level\":\"";
        buf_ += slog_level(level);
        buf_ += "\",\"msg\":";
        append_slog_json_string(buf_, msg);
        return;
    }
    if (format_ == Format::Slog) {
        buf_ += "time=";
        append_slog_time(buf_);
        buf_ += " level=";
        buf_ += slog_level(level);
        buf_ += " msg=";
        append_text_value(buf_, msg);
        return;
    }
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    char num[64];
    std::snprintf(num, sizeof num, "%lld.%06ld", static_cast<long long>(ts.tv_sec), ts.tv_nsec / 1000);
    buf_ += "{\"level\":\"";
    buf_ += level_name(level);
    buf_ += "\",\"ts\":";
    buf_ += num;
    buf_ += ",\"caller\":";
    append_json_string(buf_, caller);
    buf_ += ",\"msg\":";
    append_json_string(buf_, msg);
}

void Line::key(std::string_view k) {
    if (format_ == Format::SlogJson) {
        buf_.push_back(',');
        append_slog_json_string(buf_, key_name(format_, k));
        buf_.push_back(':');
        return;
    }
    if (format_ != Format::Json) {
        buf_.push_back(' ');
        buf_ += k;
        buf_.push_back('=');
        return;
    }
    buf_.push_back(',');
    append_json_string(buf_, k);
    buf_.push_back(':');
}

Line& Line::str(std::string_view k, std::string_view value) {
    key(k);
    if (format_ == Format::Json)
        append_json_string(buf_, value);
    else if (format_ == Format::SlogJson)
        append_slog_json_string(buf_, value);
    else
        append_text_value(buf_, value);
    return *this;
}

Line& Line::num(std::string_view k, int64_t value) {
    key(k);
    buf_ += std::to_string(value);
    return *this;
}

Line& Line::boolean(std::string_view k, bool value) {
    key(k);
    buf_ += value ? "true" : "false";
    return *this;
}

Line& Line::trailer(std::string_view text) {
    trailer_ += text;
    return *this;
}

Line::~Line() {
    buf_ += format_ == Format::Json || format_ == Format::SlogJson ? "}\n" : "\n";
    buf_ += trailer_;
    write_all(buf_);
}

}  // namespace ferry::log
