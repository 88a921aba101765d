#include "engine/takeover.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

#include <cjson/cJSON.h>

#include "core/socket_util.h"
#include "support/version.h"

namespace ferry::takeover {
namespace {

constexpr size_t kMaxSockets = 65536;
// The largest manifest a successor accepts (a few hundred bytes per socket, plus moproxy's statistics).
constexpr size_t kMaxManifest = 64u << 20;

struct JsonDelete {
    void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using Json = std::unique_ptr<cJSON, JsonDelete>;

std::string print(cJSON* root) {
    char* text = cJSON_PrintUnformatted(root);
    if (!text) throw std::bad_alloc();
    std::string out(text);
    cJSON_free(text);
    return out;
}

void add_string(cJSON* object, const char* key, std::string_view value) {
    if (!cJSON_AddStringToObject(object, key, std::string(value).c_str())) throw std::bad_alloc();
}

void add_number(cJSON* object, const char* key, double value) {
    if (!cJSON_AddNumberToObject(object, key, value)) throw std::bad_alloc();
}

Json parse_object(std::string_view text, std::string* error) {
    Json root(cJSON_ParseWithLength(text.data(), text.size()));
    if (!root || !cJSON_IsObject(root.get())) {
        *error = "not a JSON object";
        return nullptr;
    }
    const cJSON* version = cJSON_GetObjectItemCaseSensitive(root.get(), "takeover");
    if (!cJSON_IsNumber(version) || version->valuedouble != kProtocolVersion) {
        *error = "not takeover protocol version " + std::to_string(kProtocolVersion);
        return nullptr;
    }
    return root;
}

std::string string_field(const cJSON* object, const char* key) {
    const cJSON* item = cJSON_GetObjectItemCaseSensitive(object, key);
    return cJSON_IsString(item) && item->valuestring ? std::string(item->valuestring) : std::string();
}

int64_t pid_field(const cJSON* object) {
    const cJSON* item = cJSON_GetObjectItemCaseSensitive(object, "pid");
    if (!cJSON_IsNumber(item) || item->valuedouble < 1 || item->valuedouble > 4194304) return 0;
    return static_cast<int64_t>(item->valuedouble);
}

// Waits until `fd` is readable (or writable) for at most the exchange timeout: 0, or ETIMEDOUT / the errno.
int wait_for(int fd, short events) {
    pollfd p{fd, events, 0};
    for (;;) {
        const int n = ::poll(&p, 1, kExchangeTimeoutMs);
        if (n == 1) return 0;
        if (n == 0) return ETIMEDOUT;
        if (errno != EINTR) return errno;
    }
}

// Sends one message, with `fds` attached when not empty. 0 or the errno.
int send_message(int fd, std::string_view bytes, const int* fds = nullptr, size_t nfds = 0) {
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> control;
    if (nfds > 0) {
        control.resize(CMSG_SPACE(sizeof(int) * nfds));
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    for (;;) {
        if (int e = wait_for(fd, POLLOUT)) return e;
        if (::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) != -1) return 0;
        if (errno != EINTR && errno != EAGAIN) return errno;
    }
}

// Receives one message into *bytes and any fds it carries into *fds (owned). 0, ECONNRESET for end of file,
// EMSGSIZE for a truncated message, or the errno.
int receive_message(int fd, std::string* bytes, std::vector<Fd>* fds) {
    bytes->assign(kManifestChunk + 16, '\0');
    iovec iov{bytes->data(), bytes->size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kFdsPerMessage)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    for (;;) {
        if (int e = wait_for(fd, POLLIN)) return e;
        n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n != -1) break;
        if (errno != EINTR && errno != EAGAIN) return errno;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int received;
            std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            fds->emplace_back(received);
        }
    }
    if (n == 0) return ECONNRESET;
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return EMSGSIZE;
    bytes->resize(static_cast<size_t>(n));
    return 0;
}

std::string exchange_error(const char* during, int err) {
    if (err == ECONNRESET) return std::string(during) + ": the other ferry closed the connection";
    if (err == ETIMEDOUT) return std::string(during) + ": no answer within " +
                                 std::to_string(kExchangeTimeoutMs / 1000) + " s";
    return std::string(during) + ": " + errno_text(err);
}

}  // namespace

std::string encode_manifest(const Manifest& m) {
    Json root(cJSON_CreateObject());
    if (!root) throw std::bad_alloc();
    add_number(root.get(), "takeover", kProtocolVersion);
    add_number(root.get(), "pid", static_cast<double>(m.pid));
    add_string(root.get(), "version", m.version);
    cJSON* sockets = cJSON_AddArrayToObject(root.get(), "sockets");
    if (!sockets) throw std::bad_alloc();
    for (const auto& e : m.sockets) {
        cJSON* item = cJSON_CreateObject();
        if (!item || !cJSON_AddItemToArray(sockets, item)) {
            cJSON_Delete(item);
            throw std::bad_alloc();
        }
        add_string(item, "kind", socket_kind_name(e.kind));
        add_string(item, "address", e.address.to_string());
        add_string(item, "name", e.name);
        add_string(item, "path", e.path);
    }
    add_string(root.get(), "state", m.state);
    return print(root.get());
}

std::optional<Manifest> parse_manifest(std::string_view text, std::string* error) {
    Json root = parse_object(text, error);
    if (!root) return std::nullopt;
    Manifest m;
    m.pid = pid_field(root.get());
    m.version = string_field(root.get(), "version");
    m.state = string_field(root.get(), "state");
    const cJSON* sockets = cJSON_GetObjectItemCaseSensitive(root.get(), "sockets");
    if (!cJSON_IsArray(sockets)) {
        *error = "no \"sockets\" array";
        return std::nullopt;
    }
    if (static_cast<size_t>(cJSON_GetArraySize(sockets)) > kMaxSockets) {
        *error = "more than " + std::to_string(kMaxSockets) + " sockets";
        return std::nullopt;
    }
    const cJSON* item = nullptr;
    cJSON_ArrayForEach(item, sockets) {
        ManifestEntry e;
        const auto kind = parse_socket_kind(string_field(item, "kind"));
        if (!cJSON_IsObject(item) || !kind) {
            *error = "socket " + std::to_string(m.sockets.size()) + ": unknown kind";
            return std::nullopt;
        }
        e.kind = *kind;
        e.name = string_field(item, "name");
        e.path = string_field(item, "path");
        const std::string address = string_field(item, "address");
        const bool by_path = e.kind == SocketKind::Takeover || e.kind == SocketKind::Unix;
        if (!by_path) {
            std::string why;
            auto parsed = parse_host_port(address, &why);
            if (!parsed) {
                *error = "socket " + std::to_string(m.sockets.size()) + ": address \"" + address + "\": " + why;
                return std::nullopt;
            }
            e.address = *parsed;
        } else if (e.path.empty()) {
            *error = "socket " + std::to_string(m.sockets.size()) + ": a " + std::string(socket_kind_name(e.kind)) +
                     " socket without a path";
            return std::nullopt;
        }
        m.sockets.push_back(std::move(e));
    }
    return m;
}

std::string encode_hello(int64_t pid, std::string_view version) {
    Json root(cJSON_CreateObject());
    if (!root) throw std::bad_alloc();
    add_number(root.get(), "takeover", kProtocolVersion);
    add_number(root.get(), "pid", static_cast<double>(pid));
    add_string(root.get(), "version", version);
    return print(root.get());
}

std::optional<int64_t> parse_hello(std::string_view text, std::string* error) {
    Json root = parse_object(text, error);
    if (!root) return std::nullopt;
    const int64_t pid = pid_field(root.get());
    if (pid == 0) {
        *error = "no process id";
        return std::nullopt;
    }
    return pid;
}

RequestResult request(std::string_view path, Received* out, std::string* error) {
    sockaddr_un address;
    socklen_t len;
    if (!unix_address(path, &address, &len)) {
        *error = "takeover socket path \"" + std::string(path) + "\" is empty or too long";
        return RequestResult::Failed;
    }
    Fd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!fd) {
        *error = "socket: " + errno_text(errno);
        return RequestResult::Failed;
    }
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), len) == -1) {
        if (errno == ENOENT || errno == ECONNREFUSED) return RequestResult::NoIncumbent;
        *error = "connect " + std::string(path) + ": " + errno_text(errno);
        return RequestResult::Failed;
    }
    if (int e = send_message(fd.get(), "H" + encode_hello(::getpid(), FERRY_VERSION))) {
        *error = exchange_error("sending the hello", e);
        return RequestResult::Failed;
    }
    std::string manifest_text;
    std::vector<Fd> fds;
    for (;;) {
        std::string message;
        if (int e = receive_message(fd.get(), &message, &fds)) {
            *error = exchange_error("receiving the sockets", e);
            return RequestResult::Failed;
        }
        if (message.empty()) continue;
        if (message[0] == 'E') break;
        if (message[0] == 'M') {
            manifest_text.append(message, 1);
            if (manifest_text.size() > kMaxManifest) {
                *error = "the manifest is larger than " + std::to_string(kMaxManifest) + " bytes";
                return RequestResult::Failed;
            }
        } else if (message[0] != 'F') {
            *error = "unexpected message '" + std::string(1, message[0]) + "'";
            return RequestResult::Failed;
        }
    }
    auto manifest = parse_manifest(manifest_text, error);
    if (!manifest) {
        *error = "the manifest: " + *error;
        return RequestResult::Failed;
    }
    if (manifest->sockets.size() != fds.size()) {
        *error = "the manifest lists " + std::to_string(manifest->sockets.size()) + " sockets, " +
                 std::to_string(fds.size()) + " came";
        return RequestResult::Failed;
    }
    out->sockets.clear();
    for (size_t i = 0; i < fds.size(); ++i) {
        const ManifestEntry& e = manifest->sockets[i];
        InheritedSocket s;
        s.fd = std::move(fds[i]);
        s.kind = e.kind;
        s.address = e.address;
        s.name = e.name;
        s.path = e.path;
        out->sockets.push_back(std::move(s));
    }
    out->manifest = std::move(*manifest);
    out->connection = std::move(fd);
    return RequestResult::Received;
}

bool commit(Fd& connection, std::string* error) {
    std::string message;
    std::vector<Fd> fds;
    int e = send_message(connection.get(), "C");
    if (e == 0) e = receive_message(connection.get(), &message, &fds);
    connection.reset();
    if (e != 0) {
        *error = exchange_error("committing", e);
        return false;
    }
    if (message != "A") {
        *error = "committing: unexpected answer";
        return false;
    }
    return true;
}

Fd listen(std::string_view path, std::string* error) {
    sockaddr_un address;
    socklen_t len;
    if (!unix_address(path, &address, &len)) {
        *error = "takeover socket path \"" + std::string(path) + "\" is empty or too long";
        return Fd();
    }
    // Only root and our user may connect (0600): whoever can, can take our listening sockets.
    Fd fd = listen_unix(path, SOCK_SEQPACKET, true, 8, error);
    if (!fd && errno == EADDRINUSE) *error += " (another ferry listens there)";
    return fd;
}

std::optional<int64_t> offer(int connection, const Manifest& manifest, const std::vector<int>& fds,
                             std::string* error) {
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &peer, &len) == -1) {
        *error = "SO_PEERCRED: " + errno_text(errno);
        return std::nullopt;
    }
    if (peer.uid != 0 && peer.uid != ::geteuid()) {
        *error = "refused a successor running as uid " + std::to_string(peer.uid) + " (pid " +
                 std::to_string(peer.pid) + "): only root or our own user may take our sockets";
        return std::nullopt;
    }
    std::string hello;
    std::vector<Fd> stray;
    if (int e = receive_message(connection, &hello, &stray)) {
        // Closed before saying anything: another ferry checking whether anybody listens here (listen()).
        if (e != ECONNRESET) *error = exchange_error("reading the hello", e);
        return std::nullopt;
    }
    if (hello.empty() || hello[0] != 'H') {
        *error = "not a takeover hello";
        return std::nullopt;
    }
    auto pid = parse_hello(std::string_view(hello).substr(1), error);
    if (!pid) return std::nullopt;
    const std::string text = encode_manifest(manifest);
    for (size_t at = 0; at < text.size(); at += kManifestChunk) {
        if (int e = send_message(connection, "M" + text.substr(at, kManifestChunk))) {
            *error = exchange_error("sending the manifest", e);
            return std::nullopt;
        }
    }
    for (size_t at = 0; at < fds.size(); at += kFdsPerMessage) {
        const size_t n = std::min(kFdsPerMessage, fds.size() - at);
        if (int e = send_message(connection, "F", fds.data() + at, n)) {
            *error = exchange_error("sending the sockets", e);
            return std::nullopt;
        }
    }
    if (int e = send_message(connection, "E")) {
        *error = exchange_error("ending the offer", e);
        return std::nullopt;
    }
    return pid;
}

Answer read_answer(int connection) {
    char byte = 0;
    const ssize_t n = ::recv(connection, &byte, 1, MSG_DONTWAIT);
    if (n == -1 && (errno == EAGAIN || errno == EINTR)) return Answer::Pending;
    return n == 1 && byte == 'C' ? Answer::Commit : Answer::Abandoned;
}

void acknowledge(int connection) { send_message(connection, "A"); }

}  // namespace ferry::takeover
