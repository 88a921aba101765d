// INI files read strictly with inih: the text becomes plain data (sections in file order, each with its keys in
// file order) or the first error, and what inih would silently misread is refused instead of guessed at. What a
// section or a key means is the caller's business (backends/server_list.h, modes/run/run_config.h).
// Pure: no I/O, no logging, no globals.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::ini {

struct Key {
    std::string name;   // as inih gives it: trimmed, case kept
    std::string value;  // trimmed, an inline comment removed; may be empty
    int line = 0;
};

struct Section {
    std::string name;       // what is between the brackets, trimmed (may be empty: "[]")
    int line = 0;           // of the header
    std::vector<Key> keys;  // in file order; never two with the same name

    // The key of that exact name, or nullptr when the section does not have it.
    const Key* find(std::string_view key_name) const;
};

struct ParseResult {
    // Every section read, empty ones included (inih never reports those). On failure: the sections and keys
    // on lines before error_line, so that a caller checking values in file order can report an error of its
    // own first when it comes earlier, as if it had been checking while reading.
    std::vector<Section> sections;
    std::string error;   // empty on success; else "<file_name>:<line>: <message>"
    int error_line = 0;  // the line of `error`
    bool ok() const { return error.empty(); }
};

// Parses an INI text with inih's ini_parse_stream (Debian's v55 build: 200-byte line buffer, multi-line
// values, inline comments) and refuses, first one wins:
//   - a NUL byte in a line (inih would take it for the end of the line);
//   - a line longer than inih's buffer (199 bytes; inih would parse the rest as a line of its own);
//   - an indented non-comment line after a key (inih would append it to that key's value);
//   - a '[' line without its ']' (a ';' after a blank starts a comment, even there), or anything but a
//     comment after the ']';
//   - a line that is not "key = value" or "key: value", a comment or a section header;
//   - a key before the first section header, an empty key name, a key twice in one section.
// Syntax otherwise is inih's: full-line comments start with ';' or '#' (after optional blanks); a ';' preceded
// by a blank starts an inline comment; '#' after a value is part of it; quotes are not special; names and
// values are trimmed; a UTF-8 BOM at the start is skipped; CRLF works. The file name only labels errors.
// `section_example` completes the message for a key outside a section:
//   `key "x" outside a section (put it under a <section_example> header)`.
ParseResult parse(std::string_view text, std::string_view file_name, std::string_view section_example = "[section]");

// "<file_name>:<line>: <message>".
std::string located(std::string_view file_name, int line, std::string_view message);

// s in double quotes for a message: '"' and '\' get a backslash, ASCII controls become \xHH, other bytes
// (UTF-8 included) are kept.
std::string quoted(std::string_view s);

// An INI boolean, any case: true/yes/on/1 or false/no/off/0. nullopt for anything else ("" included).
std::optional<bool> parse_bool(std::string_view text);
// The words of parse_bool() for messages: "true/false, yes/no, on/off, 1/0".
inline constexpr std::string_view kBoolWords = "true/false, yes/no, on/off, 1/0";

// A comma-separated value split into its items, each trimmed: "a, b,c" -> {"a", "b", "c"}. An empty (or
// blank) value has no item; otherwise empty items are kept ("a,,b" -> {"a", "", "b"}) for the caller to refuse.
std::vector<std::string_view> split_list(std::string_view value);

}  // namespace ferry::ini
