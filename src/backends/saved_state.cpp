#include "backends/saved_state.h"

#include <cmath>
#include <memory>
#include <new>

#include <cjson/cJSON.h>

namespace ferry::backends {
namespace {

struct JsonDelete {
    void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using Json = std::unique_ptr<cJSON, JsonDelete>;

constexpr size_t kMaxServers = 65536;
// Integers that cJSON's doubles hold exactly.
constexpr double kMaxExact = 9007199254740992.0;

cJSON* checked(cJSON* item) {
    if (!item) throw std::bad_alloc();
    return item;
}

void add(cJSON* object, const char* key, cJSON* item) {
    if (!item || !cJSON_AddItemToObject(object, key, item)) {
        cJSON_Delete(item);
        throw std::bad_alloc();
    }
}

cJSON* optional_number(const std::optional<int64_t>& value) {
    return checked(value ? cJSON_CreateNumber(static_cast<double>(*value)) : cJSON_CreateNull());
}

bool read_optional(const cJSON* object, const char* key, std::optional<int64_t>* out) {
    const cJSON* item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!item || cJSON_IsNull(item)) {
        out->reset();
        return true;
    }
    if (!cJSON_IsNumber(item) || std::fabs(item->valuedouble) > kMaxExact) return false;
    *out = static_cast<int64_t>(item->valuedouble);
    return true;
}

bool read_counter(const cJSON* object, const char* key, uint64_t* out) {
    const cJSON* item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > kMaxExact) return false;
    *out = static_cast<uint64_t>(item->valuedouble);
    return true;
}

std::string read_string(const cJSON* object, const char* key) {
    const cJSON* item = cJSON_GetObjectItemCaseSensitive(object, key);
    return cJSON_IsString(item) && item->valuestring ? item->valuestring : "";
}

}  // namespace

std::string encode_saved_servers(const std::vector<SavedServer>& servers) {
    Json root(checked(cJSON_CreateObject()));
    cJSON* list = checked(cJSON_CreateArray());
    add(root.get(), "servers", list);
    for (const auto& s : servers) {
        cJSON* item = checked(cJSON_CreateObject());
        if (!cJSON_AddItemToArray(list, item)) {
            cJSON_Delete(item);
            throw std::bad_alloc();
        }
        add(item, "tag", cJSON_CreateString(s.tag.c_str()));
        add(item, "protocol", cJSON_CreateString(s.protocol.c_str()));
        add(item, "address", cJSON_CreateString(s.address.c_str()));
        add(item, "score", optional_number(s.score.score));
        add(item, "up", cJSON_CreateBool(s.score.up));
        std::optional<int64_t> last;
        if (s.score.last_delay_ms) last = *s.score.last_delay_ms;
        add(item, "last_delay_ms", optional_number(last));
        add(item, "score_before_down", optional_number(s.score.score_before_down));
        cJSON* closes = checked(cJSON_CreateArray());
        add(item, "closes", closes);
        // The 64 bits as text: a double would lose the oldest ones.
        if (!cJSON_AddItemToArray(closes, checked(cJSON_CreateString(std::to_string(s.score.closes.bits()).c_str()))) ||
            !cJSON_AddItemToArray(closes, checked(cJSON_CreateNumber(s.score.closes.size()))))
            throw std::bad_alloc();
        cJSON* history = checked(cJSON_CreateArray());
        add(item, "history", history);
        for (const auto& h : s.history)
            if (!cJSON_AddItemToArray(history, optional_number(h))) throw std::bad_alloc();
        add(item, "delay", optional_number(s.last_delay));
        add(item, "conn_total", cJSON_CreateNumber(static_cast<double>(s.conn_total)));
        add(item, "conn_error", cJSON_CreateNumber(static_cast<double>(s.conn_error)));
        add(item, "tx_bytes", cJSON_CreateNumber(static_cast<double>(s.tx_bytes)));
        add(item, "rx_bytes", cJSON_CreateNumber(static_cast<double>(s.rx_bytes)));
    }
    char* text = cJSON_PrintUnformatted(root.get());
    if (!text) throw std::bad_alloc();
    std::string out(text);
    cJSON_free(text);
    return out;
}

std::optional<std::vector<SavedServer>> parse_saved_servers(std::string_view text, size_t max_history,
                                                            std::string* error) {
    Json root(cJSON_ParseWithLength(text.data(), text.size()));
    const cJSON* list = root ? cJSON_GetObjectItemCaseSensitive(root.get(), "servers") : nullptr;
    if (!cJSON_IsArray(list)) {
        *error = "not a saved server table";
        return std::nullopt;
    }
    if (static_cast<size_t>(cJSON_GetArraySize(list)) > kMaxServers) {
        *error = "more than " + std::to_string(kMaxServers) + " servers";
        return std::nullopt;
    }
    std::vector<SavedServer> out;
    const cJSON* item = nullptr;
    cJSON_ArrayForEach(item, list) {
        const std::string where = "server " + std::to_string(out.size()) + ": ";
        SavedServer s;
        s.tag = read_string(item, "tag");
        s.protocol = read_string(item, "protocol");
        s.address = read_string(item, "address");
        std::optional<int64_t> last_delay_ms;
        const cJSON* up = cJSON_GetObjectItemCaseSensitive(item, "up");
        if (!cJSON_IsObject(item) || s.address.empty() || !cJSON_IsBool(up) ||
            !read_optional(item, "score", &s.score.score) || !read_optional(item, "last_delay_ms", &last_delay_ms) ||
            !read_optional(item, "score_before_down", &s.score.score_before_down) ||
            !read_optional(item, "delay", &s.last_delay) || !read_counter(item, "conn_total", &s.conn_total) ||
            !read_counter(item, "conn_error", &s.conn_error) || !read_counter(item, "tx_bytes", &s.tx_bytes) ||
            !read_counter(item, "rx_bytes", &s.rx_bytes)) {
            *error = where + "a field is missing or out of range";
            return std::nullopt;
        }
        s.score.up = cJSON_IsTrue(up);
        if (last_delay_ms) {
            if (*last_delay_ms < 0 || *last_delay_ms > UINT32_MAX) {
                *error = where + "last_delay_ms out of range";
                return std::nullopt;
            }
            s.score.last_delay_ms = static_cast<unsigned>(*last_delay_ms);
        }
        const cJSON* closes = cJSON_GetObjectItemCaseSensitive(item, "closes");
        const cJSON* bits = cJSON_GetArrayItem(closes, 0);
        const cJSON* count = cJSON_GetArrayItem(closes, 1);
        if (!cJSON_IsArray(closes) || !cJSON_IsString(bits) || !cJSON_IsNumber(count) || count->valuedouble < 0 ||
            count->valuedouble > CloseHistory::kCapacity) {
            *error = where + "closes is not [\"bits\", count]";
            return std::nullopt;
        }
        char* end = nullptr;
        errno = 0;
        const unsigned long long value = std::strtoull(bits->valuestring, &end, 10);
        if (errno != 0 || end == bits->valuestring || *end != '\0' || bits->valuestring[0] == '-') {
            *error = where + "closes bits are not a 64-bit number";
            return std::nullopt;
        }
        s.score.closes = CloseHistory(value, static_cast<unsigned>(count->valuedouble));
        const cJSON* history = cJSON_GetObjectItemCaseSensitive(item, "history");
        if (!cJSON_IsArray(history)) {
            *error = where + "history is not an array";
            return std::nullopt;
        }
        const cJSON* h = nullptr;
        cJSON_ArrayForEach(h, history) {
            if (cJSON_IsNull(h)) {
                s.history.emplace_back();
            } else if (cJSON_IsNumber(h) && std::fabs(h->valuedouble) <= kMaxExact) {
                s.history.emplace_back(static_cast<int64_t>(h->valuedouble));
            } else {
                *error = where + "history holds something other than numbers and nulls";
                return std::nullopt;
            }
        }
        if (s.history.size() > max_history)
            s.history.erase(s.history.begin(), s.history.end() - static_cast<std::ptrdiff_t>(max_history));
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace ferry::backends
