// Command-line flags that behave like Go's `flag` package (as of Go 1.19), so that a drop-in replacement for a
// Go program accepts, rejects and documents exactly the same command lines. Startup-only code: it allocates
// freely and never touches the data path.
//
// What is reproduced from Go:
//   - syntax: "-f v", "-f=v", "--f", "--f=v"; bool flags take only "-b" or "-b=value";
//   - a non-bool flag always consumes the next argument, even one that looks like a flag ("-mark -1");
//   - parsing stops at the first non-flag argument ("-" alone is one) or after "--"; the last occurrence wins;
//   - "-h" / "-help" (any dash count, any "=value") ask for help unless a flag of that name is defined;
//   - the exact error messages and the PrintDefaults layout of the usage text.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ferry::goflag {

// Go's time.Duration: signed 64-bit nanoseconds.
using Duration = std::chrono::nanoseconds;

// Whole milliseconds for the event loops' deadlines, rounded up, so that a positive duration under 1 ms does
// not become 0 ("none"); 0 for zero and negative durations.
inline uint64_t ceil_ms(Duration d) {
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
    return ms > 0 ? static_cast<uint64_t>(ms) : 0;
}

enum class ParseStatus {
    Ok,     // every flag parsed; positional arguments (if any) are in ParseResult::positional
    Help,   // -h / -help without such a flag defined: print usage() to stderr, exit 0
    Error,  // print error + "\n" + usage() to stderr, exit 2
};

struct ParseResult {
    ParseStatus status = ParseStatus::Ok;
    // For Error: Go's message without a trailing newline, e.g. "flag needs an argument: -l".
    std::string error;
    // Arguments left after the flags (Go's FlagSet.Args()); empty unless status is Ok.
    std::vector<std::string> positional;
};

// Why a number did not parse, as Go's flag package words it.
enum class NumberError { None, Syntax, Range };

struct IntParse {
    int64_t value = 0;
    NumberError error = NumberError::None;
};

// strconv.ParseInt(text, 0, 64): optional sign, then "0x"/"0X" hex, "0o"/"0O" or a bare leading "0" octal,
// "0b"/"0B" binary, else decimal; '_' separators only between digits (or after a base prefix). A value that
// overflows int64 is a Range error even when later characters are invalid, as in Go.
IntParse parse_int(std::string_view text);

// strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False; anything else is nullopt.
std::optional<bool> parse_bool(std::string_view text);

// time.ParseDuration: "[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+" or "0" (with optional sign);
// nullopt on bad syntax, a missing or unknown unit, or overflow of int64 nanoseconds.
std::optional<Duration> parse_duration(std::string_view text);

// time.Duration.String(): "0s", "1.5ms", "300µs", "5s", "1m0s", "1h30m0s", "-2s".
std::string format_duration(Duration d);

// strconv.Quote / fmt's %q: double-quoted, with \a \b \f \n \r \t \v \\ \" escapes, \xNN for other ASCII
// controls and for bytes that are not valid UTF-8, \uNNNN / \UNNNNNNNN for runes Go does not consider
// printable (approximated: C1 controls, non-ASCII spaces, format characters, separators, private use and
// non-characters).
std::string quote(std::string_view text);

// A set of flags and the program name shown in the usage heading. Flags write into caller-owned variables,
// which must outlive the FlagSet; defining a flag stores its default in the variable at once, as Go does.
// Defining a name twice, or a name that is empty, starts with '-' or contains '=', is a programming error
// (Go panics): it is caught by assert and otherwise ignored.
class FlagSet {
public:
    // program_name is printed verbatim in "Usage of <program_name>:" (Go prints os.Args[0] as given).
    explicit FlagSet(std::string program_name);

    void string_var(std::string* target, std::string name, std::string default_value, std::string usage);
    void int_var(int64_t* target, std::string name, int64_t default_value, std::string usage);
    void bool_var(bool* target, std::string name, bool default_value, std::string usage);
    void duration_var(Duration* target, std::string name, Duration default_value, std::string usage);

    // Parses args (argv without argv[0]) and assigns the flags seen, left to right. On Error or Help the
    // variables may already hold values assigned by earlier arguments.
    ParseResult parse(std::span<const std::string> args);

    // True when the flag was set on the command line by the last parse() (Go's FlagSet.Visit).
    bool is_set(std::string_view name) const;

    // "Usage of <program_name>:\n" followed by print_defaults().
    std::string usage() const;
    // Go's PrintDefaults: flags in byte order of name, each "  -name type" then "\n    \t" (or "\t" when the
    // first line is at most 4 bytes, i.e. a one-letter bool flag), the usage with every "\n" turned into
    // "\n    \t", then " (default ...)" when the default is not the type's zero value, then "\n". The type
    // shown is the first back-quoted word of the usage (whose quotes are dropped), else string, int or
    // duration; bool flags show none.
    std::string print_defaults() const;

    // The whole stderr text Go writes for a parse result: "" for Ok, usage() for Help,
    // error + "\n" + usage() for Error.
    std::string stderr_text(const ParseResult& result) const;

private:
    using Target = std::variant<std::string*, int64_t*, bool*, Duration*>;
    struct Flag {
        std::string usage;
        std::string default_text;  // the default as Go's Value.String() prints it
        bool default_is_zero = true;
        Target target;
    };

    void define(std::string name, std::string usage, std::string default_text, bool default_is_zero,
                Target target);
    // Parses one argument at args[*index] and advances *index past what it consumed. Returns nullopt when a
    // flag was handled and parsing goes on, else the final status (Ok for the end of the flags).
    std::optional<ParseResult> parse_one(std::span<const std::string> args, size_t* index);

    std::string program_name_;
    std::map<std::string, Flag, std::less<>> flags_;
    std::vector<std::string> set_;
};

}  // namespace ferry::goflag
