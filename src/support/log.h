// Structured log lines in the shape of go-mmproxy 2.1's zap production logger: one JSON object per line on
// stderr, {"level":..,"ts":..,"caller":..,"msg":..,<fields>}. Each line is built in memory and written with a
// single write(2), so lines from different loop threads never interleave.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <ctime>

namespace ferry::log {

enum class Level : int { Debug = -1, Info = 0, Warn = 1, Error = 2, Fatal = 3 };

// Lines below this level are dropped. go-mmproxy: -v 0 -> Info, -v >= 1 -> Debug.
void set_min_level(Level level);
bool enabled(Level level);
// Where lines go (default 2, stderr).
void set_fd(int fd);

// Json: go-mmproxy's zap lines (the default). GoStd: Go's standard `log` package, as the srcproxy reference
// prints: "2026/12/01 20:23:09 [info] msg key=value ..." in local time. Slog: Go's log/slog TextHandler, as
// uproxy's liproxy prints: `time=2026-12-01T20:23:09.123Z level=INFO msg="bound" address=127.0.0.1:9091`.
// SlogJson: Go's log/slog JSONHandler, as kzemek/go-mmproxy 2.3 prints:
// `{"time":"2026-12-01T20:23:09.123456789Z","level":"INFO","msg":"listening","listenAddr":"0.0.0.0:8443"}`
// (no caller; Fatal shows as ERROR; the keys listenAdr, remoteAddr and localAddr are written listenAddr,
// frontendRemoteAddr and frontendLocalAddr, 2.3's spelling).
enum class Format { Json, GoStd, Slog, SlogJson };
void set_format(Format format);
Format format();

// One line in the GoStd shape whatever the format: the timestamp, then `text` as it is (no level filtering:
// the caller decides). One write(2).
void plain(std::string_view text);

class Line {
public:
    Line(Level level, std::string_view msg, std::string_view caller);
    Line(const Line&) = delete;
    Line& operator=(const Line&) = delete;
    ~Line();  // emits the line

    Line& str(std::string_view key, std::string_view value);
    Line& num(std::string_view key, int64_t value);
    Line& boolean(std::string_view key, bool value);
    // Text written right after the line, in the same write(2) (a hexdump under its heading line).
    Line& trailer(std::string_view text);

private:
    void key(std::string_view k);
    std::string buf_;
    std::string trailer_;
    Format format_;
};

// JSON string escaping, exposed for tests.
void append_json_string(std::string& out, std::string_view s);
// slog's JSON string escaping (encoding/json's rules without HTML escaping): ", \\, \n, \r, \t escaped by
// name, other controls as \u00xx, DEL as is, invalid UTF-8 as \ufffd, U+2028 and U+2029 as \u2028, \u2029.
void append_slog_json_string(std::string& out, std::string_view s);
// time.RFC3339Nano of `ts` at UTC offset `gmtoff` seconds, as slog's JSONHandler writes it: trailing zeros of
// the fraction dropped (none at all for a whole second), "Z" for offset 0 else "+hh:mm".
void append_rfc3339_nano(std::string& out, const timespec& ts, long gmtoff);

}  // namespace ferry::log

#define FERRY_LOG_STR2(x) #x
#define FERRY_LOG_STR(x) FERRY_LOG_STR2(x)
// Usage: FERRY_LOG(Info, "listening").str("listenAdr", a).num("listenerNum", 0);
// The arguments are not evaluated when the level is disabled.
#define FERRY_LOG(level, msg)                                         \
    if (!::ferry::log::enabled(::ferry::log::Level::level)) {         \
    } else                                                            \
        ::ferry::log::Line(::ferry::log::Level::level, (msg),         \
                           "ferry/" FERRY_LOG_FILE ":" FERRY_LOG_STR(__LINE__))

#ifndef FERRY_LOG_FILE
#define FERRY_LOG_FILE __FILE_NAME__
#endif
