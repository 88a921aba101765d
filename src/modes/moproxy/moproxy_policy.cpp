#include "modes/moproxy/moproxy_policy.h"

#include <algorithm>

namespace ferry::moproxy {

std::shared_ptr<const policy::Policy> load_policy(const Options& options, std::string* error) {
    error->clear();
    if (options.policy_path.empty()) return nullptr;
    policy::PolicyResult loaded = policy::load_policy(options.policy_path);
    if (!loaded.ok()) *error = loaded.error;
    return loaded.policy;
}

std::string policy_get_text(const policy::Policy* rules, const Options& options,
                            const std::vector<backends::ServerConfig>& servers) {
    policy::Request request;
    request.listen_port = options.get_listen_port;
    if (options.get_dst_ip) request.dst_ip = *options.get_dst_ip;
    if (options.get_dst_domain) request.dst_domain = *options.get_dst_domain;
    const policy::Action action = rules ? rules->match(request) : policy::Action{};
    std::string out = "Policy: " + action.to_string() + "\n";
    if (action.verdict != policy::Verdict::Require) return out;
    std::vector<std::string> tags;
    for (const auto& s : servers)
        if (policy::satisfies(action, s.capabilities)) tags.push_back(s.tag);
    std::sort(tags.begin(), tags.end());
    out += "Allowed: ";
    for (size_t i = 0; i < tags.size(); ++i) out += (i ? ", " : "") + tags[i];
    return out + "\n";
}

}  // namespace ferry::moproxy
