// read_text_file: whole files, and a size limit so a wrong path (/dev/zero) fails with a message, not bad_alloc.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "support/file_util.h"

using ferry::read_error_text;
using ferry::read_text_file;

namespace {

std::string temp_file(const std::string& contents) {
    char name[] = "/tmp/ferry-file-util-XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd != -1);
    REQUIRE(write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()));
    close(fd);
    return name;
}

}  // namespace

TEST_CASE("read_text_file reads a whole file and appends it", "[file_util]") {
    const std::string path = temp_file(std::string(10000, 'x') + "end");
    std::string text = "before:";
    CHECK(read_text_file(path, text) == 0);
    CHECK(text == "before:" + std::string(10000, 'x') + "end");
    unlink(path.c_str());
}

TEST_CASE("read_text_file names the failing step", "[file_util]") {
    std::string text;
    const char* op = nullptr;
    CHECK(read_text_file("/nonexistent/ferry-file", text, &op) == ENOENT);
    CHECK(std::string(op) == "open");
    CHECK(read_text_file("/", text, &op) == EISDIR);
    CHECK(std::string(op) == "read");
}

TEST_CASE("read_text_file refuses more than its limit", "[file_util]") {
    const std::string path = temp_file(std::string(5000, 'y'));
    std::string text;
    const char* op = nullptr;
    CHECK(read_text_file(path, text, &op, 5000) == 0);  // exactly the limit is fine
    text.clear();
    CHECK(read_text_file(path, text, &op, 4999) == EFBIG);
    CHECK(std::string(op) == "read");
    CHECK(text.size() <= 4999);
    unlink(path.c_str());

    // An endless file stops at the default limit: no bad_alloc, no hang.
    text.clear();
    CHECK(read_text_file("/dev/zero", text) == EFBIG);
    CHECK(text.size() <= ferry::kMaxTextFileBytes);
    CHECK(read_error_text(EFBIG) == "larger than 16 MiB, the limit for this file");
    CHECK(read_error_text(ENOENT) == "No such file or directory");
}
